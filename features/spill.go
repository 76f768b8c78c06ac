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
	"slices"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Spill splits rows by a hash of their entity key into partitions, so a
// join larger than memory can run one partition at a time: every row of an
// entity lands in the same partition, whichever input it comes from, as
// long as the inputs share the Spill's seed. Partitions stay in memory
// while the spills sharing a Memory budget fit in it; past it, a Spill
// moves its partitions to Arrow IPC files and writes there from then on.
type Spill struct {
	dir    string
	key    string
	parts  int
	seed   maphash.Seed
	memory *Memory
	// mem holds the partitions' batches while the Spill is in memory,
	// using memBytes of the budget.
	mem      [][]arrow.RecordBatch
	memBytes []int64
	onDisk   bool
	files    []*os.File
	bufs     []*bufio.Writer
	ws       []*ipc.FileWriter
	rows     []int64
	schema   *arrow.Schema
}

// Memory is a budget of bytes that spills share. A nil *Memory keeps
// nothing in memory.
type Memory struct {
	limit int64
	used  atomic.Int64
}

// NewMemory is a budget of limit bytes.
func NewMemory(limit int64) *Memory { return &Memory{limit: limit} }

// take reserves n bytes, or reports that they do not fit.
func (m *Memory) take(n int64) bool {
	if m == nil {
		return false
	}
	if m.used.Add(n) > m.limit {
		m.used.Add(-n)
		return false
	}
	return true
}

func (m *Memory) give(n int64) {
	if m != nil {
		m.used.Add(-n)
	}
}

// Schema is the rows' schema; nil until a batch was added.
func (s *Spill) Schema() *arrow.Schema { return s.schema }

// NewSpill partitions rows by the key column into parts partitions, kept
// in memory while memory has room (nil: never) and in files under dir
// past it. Spills that will be joined partition by partition share one
// seed. Release frees what it keeps in memory.
func NewSpill(dir, key string, parts int, seed maphash.Seed, memory *Memory) *Spill {
	return &Spill{dir: dir, key: key, parts: parts, seed: seed, memory: memory, mem: make([][]arrow.RecordBatch, parts), memBytes: make([]int64, parts),
		files: make([]*os.File, parts), bufs: make([]*bufio.Writer, parts), ws: make([]*ipc.FileWriter, parts), rows: make([]int64, parts)}
}

// OnDisk says the partitions went to files.
func (s *Spill) OnDisk() bool { return s.onDisk }

// partitionOf is the partition of each row's key; null keys go to
// partition 0.
func (s *Spill) partitionOf(col arrow.Array) ([]int, error) {
	out := make([]int, col.Len())
	parts := uint64(s.parts)
	switch c := col.(type) {
	case *array.String:
		for i := range out {
			if c.IsValid(i) {
				out[i] = int(maphash.String(s.seed, c.Value(i)) % parts)
			}
		}
	case *array.Int64:
		vals := c.Int64Values()
		for i, v := range vals {
			if c.IsValid(i) {
				out[i] = int(maphash.Comparable(s.seed, v) % parts)
			}
		}
	default:
		return nil, fmt.Errorf("features: entity keys must be strings or int64, not %s", col.DataType())
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
	if !s.onDisk {
		if size := recordBytes(sub); s.memory.take(size) {
			sub.Retain()
			s.mem[p] = append(s.mem[p], sub)
			s.memBytes[p] += size
			return nil
		}
		if err := s.toDisk(); err != nil {
			return err
		}
	}
	return s.writeFile(p, sub)
}

// toDisk moves the partitions kept in memory to files.
func (s *Spill) toDisk() error {
	s.onDisk = true
	for p, recs := range s.mem {
		for _, r := range recs {
			if err := s.writeFile(p, r); err != nil {
				return err
			}
		}
	}
	s.Release()
	return nil
}

// writeFile appends a batch to partition p's file.
func (s *Spill) writeFile(p int, rec arrow.RecordBatch) error {
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
	return s.ws[p].Write(rec)
}

// Release frees the partitions kept in memory and returns their bytes to
// the budget.
func (s *Spill) Release() {
	for p := range s.mem {
		s.Drop(p)
	}
}

// Drop frees partition p if it is kept in memory; a Read after it finds
// nothing, and batches an earlier Read returned stay valid until their
// holder releases them. Different partitions may be dropped concurrently,
// but not alongside Add, Release or a Read of the same partition.
func (s *Spill) Drop(p int) {
	releaseAll(s.mem[p])
	s.mem[p] = nil
	s.memory.give(s.memBytes[p])
	s.memBytes[p] = 0
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
	if !s.onDisk {
		out := slices.Clone(s.mem[p])
		for _, r := range out {
			r.Retain()
		}
		return out, nil
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

// recordBytes is the size of a batch's buffers.
func recordBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}
