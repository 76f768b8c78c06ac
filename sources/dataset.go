package sources

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-ml/sluice/ml"
)

// datasetRead is how a file is read for a model: whole numbers as
// float64, dates as text (a model reads numbers, booleans and categories)
// and a column with no value in the sampled rows as numbers, in chunks
// small enough that little beyond the dataset is held at once.
var datasetRead = Options{
	ChunkRows: 8192,
	Infer:     []arrow.DataType{arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean},
	AllNull:   arrow.PrimitiveTypes.Float64,
}

// ReadDataset reads a CSV or Parquet file into a model's dataset, a chunk
// at a time: each chunk is converted into the dataset's float32 columns
// as it is parsed, and then let go. A non-nil progress hears the rows read
// so far after each chunk, with the file's estimated rows (0: unknown).
func ReadDataset(ctx context.Context, path string, o ml.ArrowOptions, progress func(read, estimated int64)) (*ml.Dataset, error) {
	r, err := OpenFile(ctx, path, datasetRead)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := ml.NewBuilder(r.Schema(), o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var estimated, read int64
	if e, ok := r.(interface{ EstimatedRows() int64 }); ok {
		// Room for a few percent more than estimated: growing a column
		// copies it, while capacity never written to costs no memory.
		estimated = e.EstimatedRows()
		b.Grow(int(estimated + estimated/32))
	}
	// The chunks' buffers are garbage as soon as they are converted, while
	// the dataset lives on: collect sooner than usual, so that the
	// garbage stays small beside the dataset.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	for rec, err := range Records(ctx, r) {
		if err == nil {
			err = b.Append(rec)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if progress != nil {
			read += rec.NumRows()
			progress(read, estimated)
		}
	}
	d, err := b.Dataset()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}
