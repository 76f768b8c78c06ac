package features

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Spill splits rows by a hash of their entity key into partitions kept in
// Arrow IPC files, so a join larger than memory can run one partition at a
// time: every row of an entity lands in the same partition, whichever
// input it comes from, as long as the inputs share the Spill's seed.
type Spill struct {
	dir    string
	key    string
	parts  int
	seed   maphash.Seed
	files  []*os.File
	bufs   []*bufio.Writer
	ws     []*ipc.FileWriter
	rows   []int64
	schema *arrow.Schema
}

// Schema is the rows' schema; nil until a batch was added.
func (s *Spill) Schema() *arrow.Schema { return s.schema }

// NewSpill partitions rows by the key column into parts files under dir.
// Spills that will be joined partition by partition share one seed.
func NewSpill(dir, key string, parts int, seed maphash.Seed) *Spill {
	return &Spill{dir: dir, key: key, parts: parts, seed: seed,
		files: make([]*os.File, parts), bufs: make([]*bufio.Writer, parts), ws: make([]*ipc.FileWriter, parts), rows: make([]int64, parts)}
}

// partitionOf is the partition of each row's key; null keys go to
// partition 0.
func (s *Spill) partitionOf(col arrow.Array) ([]int, error) {
	out := make([]int, col.Len())
	var h maphash.Hash
	h.SetSeed(s.seed)
	for i := range out {
		if col.IsNull(i) {
			continue
		}
		h.Reset()
		switch c := col.(type) {
		case *array.String:
			h.WriteString(c.Value(i))
		case *array.Int64:
			var b [8]byte
			v := uint64(c.Value(i))
			for j := range b {
				b[j] = byte(v >> (8 * j))
			}
			h.Write(b[:])
		default:
			return nil, fmt.Errorf("features: entity keys must be strings or int64, not %s", col.DataType())
		}
		out[i] = int(h.Sum64() % uint64(s.parts))
	}
	return out, nil
}

// Add writes a batch's rows to their partitions.
func (s *Spill) Add(ctx context.Context, rec arrow.RecordBatch) error {
	idx := rec.Schema().FieldIndices(s.key)
	if len(idx) == 0 {
		return fmt.Errorf("features: spilling: no key column %q", s.key)
	}
	parts, err := s.partitionOf(rec.Column(idx[0]))
	if err != nil {
		return err
	}
	if s.schema == nil {
		s.schema = rec.Schema()
	}
	rows := make([][]int64, s.parts)
	for i, p := range parts {
		rows[p] = append(rows[p], int64(i))
	}
	for p, take := range rows {
		if len(take) == 0 {
			continue
		}
		if err := s.write(ctx, p, rec, take); err != nil {
			return err
		}
	}
	return nil
}

func (s *Spill) write(ctx context.Context, p int, rec arrow.RecordBatch, take []int64) error {
	if s.ws[p] == nil {
		f, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("part-%05d.arrow", p)))
		if err != nil {
			return err
		}
		buf := bufio.NewWriterSize(f, 1<<20)
		w, err := ipc.NewFileWriter(buf, ipc.WithSchema(rec.Schema()))
		if err != nil {
			f.Close()
			return err
		}
		s.files[p], s.bufs[p], s.ws[p] = f, buf, w
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues(take, nil)
	ia := b.NewInt64Array()
	b.Release()
	defer ia.Release()
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(rec), compute.NewDatumWithoutOwning(ia))
	if err != nil {
		return fmt.Errorf("features: spilling partition %d: %w", p, err)
	}
	defer out.Release()
	sub := out.(*compute.RecordDatum).Value
	s.rows[p] += sub.NumRows()
	return s.ws[p].Write(sub)
}

// Close finishes the partition files.
func (s *Spill) Close() error {
	var errs []error
	for p, w := range s.ws {
		if w == nil {
			continue
		}
		errs = append(errs, w.Close(), s.bufs[p].Flush(), s.files[p].Close())
		s.ws[p] = nil
	}
	return errors.Join(errs...)
}

// Rows counts the rows of partition p.
func (s *Spill) Rows(p int) int64 { return s.rows[p] }

// Read returns partition p's batches (none for an empty partition); the
// caller releases them.
func (s *Spill) Read(p int) ([]arrow.RecordBatch, error) {
	if s.rows[p] == 0 {
		return nil, nil
	}
	f, err := os.Open(filepath.Join(s.dir, fmt.Sprintf("part-%05d.arrow", p)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := ipc.NewFileReader(f)
	if err != nil {
		return nil, fmt.Errorf("features: reading partition %d: %w", p, err)
	}
	defer r.Close()
	var out []arrow.RecordBatch
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil && !errors.Is(err, io.EOF) {
			for _, b := range out {
				b.Release()
			}
			return nil, fmt.Errorf("features: reading partition %d: %w", p, err)
		}
		rec.Retain()
		out = append(out, rec)
	}
	return out, nil
}
