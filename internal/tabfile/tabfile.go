// Package tabfile reads and writes local CSV and Parquet files as Arrow
// record batches, for the commands that work on files (`sluice ml`).
//
// CSV columns are typed by their content: a column whose every non-empty
// value parses as a number is float64, one of only true/false values is
// boolean, any other is a string. Empty cells, "NA", "null" and "NaN" are
// missing.
package tabfile

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Format is a file format, chosen by extension.
type Format int

// Formats.
const (
	CSV Format = iota
	Parquet
)

// FormatOf picks the format from a path's extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return CSV, nil
	case ".parquet", ".pq":
		return Parquet, nil
	}
	return 0, fmt.Errorf("%s: unknown file type; use .csv or .parquet", path)
}

// Read reads a CSV or Parquet file.
func Read(ctx context.Context, path string) ([]arrow.RecordBatch, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	if f == Parquet {
		return ReadParquet(ctx, path)
	}
	return ReadCSV(path)
}

func isMissing(s string) bool {
	switch s {
	case "", "NA", "null", "NULL", "NaN", "nan":
		return true
	}
	return false
}

// ReadCSV reads a CSV file with a header row.
func ReadCSV(path string) ([]arrow.RecordBatch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	names := append([]string(nil), header...)
	cols := make([][]string, len(names))
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for i, v := range rec {
			cols[i] = append(cols[i], strings.TrimSpace(v))
		}
	}
	fields := make([]arrow.Field, len(names))
	arrays := make([]arrow.Array, len(names))
	for i, name := range names {
		fields[i], arrays[i] = buildColumn(name, cols[i])
		defer arrays[i].Release()
	}
	n := 0
	if len(cols) > 0 {
		n = len(cols[0])
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrays, int64(n))
	return []arrow.RecordBatch{rec}, nil
}

func buildColumn(name string, vals []string) (arrow.Field, arrow.Array) {
	numeric, boolean := true, true
	for _, v := range vals {
		if isMissing(v) {
			continue
		}
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			numeric = false
		}
		if lv := strings.ToLower(v); lv != "true" && lv != "false" {
			boolean = false
		}
	}
	mem := memory.DefaultAllocator
	switch {
	case numeric:
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		for _, v := range vals {
			x, err := strconv.ParseFloat(v, 64)
			if isMissing(v) || err != nil || math.IsNaN(x) {
				b.AppendNull()
				continue
			}
			b.Append(x)
		}
		return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}, b.NewArray()
	case boolean:
		b := array.NewBooleanBuilder(mem)
		defer b.Release()
		for _, v := range vals {
			if isMissing(v) {
				b.AppendNull()
				continue
			}
			b.Append(strings.EqualFold(v, "true"))
		}
		return arrow.Field{Name: name, Type: arrow.FixedWidthTypes.Boolean, Nullable: true}, b.NewArray()
	default:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		for _, v := range vals {
			if isMissing(v) {
				b.AppendNull()
				continue
			}
			b.Append(v)
		}
		return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}, b.NewArray()
	}
}

// ReadParquet reads a Parquet file.
func ReadParquet(ctx context.Context, path string) ([]arrow.RecordBatch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 * 1024}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer rr.Release()
	var out []arrow.RecordBatch
	for rr.Next() {
		rec := rr.RecordBatch()
		rec.Retain()
		out = append(out, rec)
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	return out, nil
}

// Column is a named column of float64 values to write; NaN is written as
// a missing value.
type Column struct {
	Name   string
	Values []float64
	// Strings, when set, is written instead of Values.
	Strings []string
}

// Write writes columns to a CSV or Parquet file, by extension.
func Write(path string, cols []Column) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if format == Parquet {
		// The Parquet writer closes what it writes to when it closes;
		// the file is closed here, once.
		err = writeParquet(struct{ io.Writer }{f}, cols)
	} else {
		err = writeCSV(f, cols)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func rows(cols []Column) int {
	if len(cols) == 0 {
		return 0
	}
	if cols[0].Strings != nil {
		return len(cols[0].Strings)
	}
	return len(cols[0].Values)
}

func writeCSV(w io.Writer, cols []Column) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(cols))
	for i, c := range cols {
		rec[i] = c.Name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for r := range rows(cols) {
		for i, c := range cols {
			switch {
			case c.Strings != nil:
				rec[i] = c.Strings[r]
			case math.IsNaN(c.Values[r]):
				rec[i] = ""
			default:
				rec[i] = strconv.FormatFloat(c.Values[r], 'g', -1, 64)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeParquet(w io.Writer, cols []Column) error {
	mem := memory.DefaultAllocator
	fields := make([]arrow.Field, len(cols))
	arrays := make([]arrow.Array, len(cols))
	for i, c := range cols {
		if c.Strings != nil {
			b := array.NewStringBuilder(mem)
			b.AppendValues(c.Strings, nil)
			arrays[i] = b.NewArray()
			b.Release()
			fields[i] = arrow.Field{Name: c.Name, Type: arrow.BinaryTypes.String, Nullable: true}
			continue
		}
		b := array.NewFloat64Builder(mem)
		for _, v := range c.Values {
			if math.IsNaN(v) {
				b.AppendNull()
			} else {
				b.Append(v)
			}
		}
		arrays[i] = b.NewArray()
		b.Release()
		fields[i] = arrow.Field{Name: c.Name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrays, int64(rows(cols)))
	defer rec.Release()
	for _, a := range arrays {
		a.Release()
	}
	fw, err := pqarrow.NewFileWriter(rec.Schema(), w, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy)), pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return err
	}
	return fw.Close()
}

// WriteParquet writes record batches of one schema to a zstd Parquet file.
func WriteParquet(path string, schema *arrow.Schema, recs iter.Seq2[arrow.RecordBatch, error]) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	for rec, err := range recs {
		if err == nil {
			err = w.WriteBuffered(rec)
		}
		if err != nil {
			w.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return w.Close() // closes the file too
}
