package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ParquetReader reads a Parquet file, or every .parquet file under a
// folder in path order, in record batches of ChunkRows rows. The files of a
// folder must share one schema. Rows with a null key are rejected.
type ParquetReader struct {
	ctx    context.Context
	o      Options
	paths  []string
	next   int
	cur    *parquetFile
	schema *arrow.Schema
	// file is the files' own schema; schema differs from it where a
	// column widens or the source declares its type (landingSchema).
	file  *arrow.Schema
	index int
}

var _ Reader = (*ParquetReader)(nil)

// OpenParquet opens a Parquet file or a folder of them.
func OpenParquet(ctx context.Context, path string, o Options) (*ParquetReader, error) {
	paths, err := parquetFiles(path)
	if err != nil {
		return nil, err
	}
	p := &ParquetReader{ctx: ctx, o: o, paths: paths}
	if p.cur, err = openParquetFile(ctx, paths[0], o); err != nil {
		return nil, err
	}
	p.next, p.file, p.schema = 1, p.cur.rr.Schema(), p.cur.rr.Schema()
	landing, err := landingSchema(p.file, o)
	if err != nil {
		p.cur.Close()
		return nil, fmt.Errorf("%s: %w", paths[0], err)
	}
	if landing != nil {
		p.schema = landing
	}
	return p, nil
}

// parquetFiles lists path itself, or the .parquet files under the folder
// it names (skipping hidden and _-prefixed entries such as _SUCCESS).
func parquetFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	var paths []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name := d.Name(); p != path && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".parquet") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", path, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: the folder holds no .parquet files", path)
	}
	sort.Strings(paths)
	return paths, nil
}

// EstimatedRows is the rows in the files' footers: with no key column,
// the rows the reader yields. A file whose footer does not read counts
// as empty.
func (p *ParquetReader) EstimatedRows() int64 {
	var n int64
	for _, path := range p.paths {
		f, err := file.OpenParquetFile(path, false)
		if err != nil {
			continue
		}
		n += f.NumRows()
		f.Close()
	}
	return n
}

// Schema implements Reader.
func (p *ParquetReader) Schema() *arrow.Schema { return p.schema }

// Close implements Reader.
func (p *ParquetReader) Close() error {
	if p.cur == nil {
		return nil
	}
	err := p.cur.Close()
	p.cur = nil
	return err
}

// Next implements Reader.
func (p *ParquetReader) Next(ctx context.Context) (Chunk, error) {
	for p.cur != nil {
		ch, err := p.cur.Next(ctx)
		if err == nil && ch.Records != nil && p.schema != p.file {
			cast, cerr := castRecord(ctx, ch.Records, p.schema)
			ch.Records.Release()
			ch.Records, err = cast, cerr
		}
		if err == nil {
			ch.Index = p.index
			p.index++
			return ch, nil
		}
		if !errors.Is(err, io.EOF) {
			return Chunk{}, fmt.Errorf("%s: %w", p.cur.path, err)
		}
		p.cur.Close()
		p.cur = nil
		if p.next == len(p.paths) {
			break
		}
		f, err := openParquetFile(ctx, p.paths[p.next], p.o)
		if err != nil {
			return Chunk{}, err
		}
		p.next++
		p.cur = f
		if !f.rr.Schema().Equal(p.file) {
			return Chunk{}, fmt.Errorf("%s: its schema differs from the first file's (%s): %s", f.path, p.paths[0], f.rr.Schema())
		}
	}
	return Chunk{}, io.EOF
}

// parquetFile reads one Parquet file.
type parquetFile struct {
	path string
	f    *os.File
	pf   *file.Reader
	rr   pqarrow.RecordReader
	key  int
	row  int64
}

func openParquetFile(ctx context.Context, path string, o Options) (*parquetFile, error) {
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
	p := &parquetFile{path: path, f: f, pf: pf, rr: rr, key: -1}
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

func (p *parquetFile) Close() error {
	p.rr.Release()
	p.pf.Close()
	return p.f.Close()
}

func (p *parquetFile) Next(ctx context.Context) (Chunk, error) {
	if !p.rr.Next() {
		if err := p.rr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return Chunk{}, err
		}
		return Chunk{}, io.EOF
	}
	rec := p.rr.RecordBatch()
	var ch Chunk
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
			ch.Rejects = append(ch.Rejects, Reject{Line: first + int64(i) + 1, Reason: "null key " + rec.ColumnName(p.key), Raw: filepath.Base(p.path)})
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
