package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ParquetReader reads a Parquet file in record batches of ChunkRows rows.
// Rows with a null key are rejected.
type ParquetReader struct {
	f     *os.File
	pf    *file.Reader
	rr    pqarrow.RecordReader
	key   int
	row   int64
	index int
}

var _ Reader = (*ParquetReader)(nil)

// OpenParquet opens a Parquet file.
func OpenParquet(ctx context.Context, path string, o Options) (*ParquetReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	pf, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(o.chunkRows())}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		pf.Close()
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &ParquetReader{f: f, pf: pf, rr: rr, key: -1}
	if o.Key != "" {
		idx := rr.Schema().FieldIndices(o.Key)
		if len(idx) == 0 {
			p.Close()
			return nil, fmt.Errorf("%s: the key column %q is not in the file", path, o.Key)
		}
		p.key = idx[0]
	}
	if o.Timestamp != "" && len(rr.Schema().FieldIndices(o.Timestamp)) == 0 {
		p.Close()
		return nil, fmt.Errorf("%s: the timestamp column %q is not in the file", path, o.Timestamp)
	}
	return p, nil
}

// Schema implements Reader.
func (p *ParquetReader) Schema() *arrow.Schema { return p.rr.Schema() }

// Close implements Reader.
func (p *ParquetReader) Close() error {
	p.rr.Release()
	p.pf.Close()
	return p.f.Close()
}

// Next implements Reader.
func (p *ParquetReader) Next(ctx context.Context) (Chunk, error) {
	if !p.rr.Next() {
		if err := p.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return Chunk{}, err
		}
		return Chunk{}, io.EOF
	}
	rec := p.rr.RecordBatch()
	ch := Chunk{Index: p.index}
	p.index++
	first := p.row
	p.row += rec.NumRows()
	if p.key < 0 || rec.Column(p.key).NullN() == 0 {
		rec.Retain()
		ch.Records = rec
		return ch, nil
	}
	keys := rec.Column(p.key)
	mb := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer mb.Release()
	for i := range keys.Len() {
		valid := keys.IsValid(i)
		mb.Append(valid)
		if !valid {
			ch.Rejects = append(ch.Rejects, Reject{Line: first + int64(i) + 1, Reason: "null key " + rec.ColumnName(p.key)})
		}
	}
	mask := mb.NewBooleanArray()
	defer mask.Release()
	kept, err := compute.FilterRecordBatch(ctx, rec, mask, compute.DefaultFilterOptions())
	if err != nil {
		return Chunk{}, fmt.Errorf("dropping null keys: %w", err)
	}
	if kept.NumRows() > 0 {
		ch.Records = kept
	} else {
		kept.Release()
	}
	return ch, nil
}
