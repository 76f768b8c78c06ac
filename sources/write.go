package sources

import (
	"encoding/csv"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Column is a named column to write: numbers, with NaN written as a
// missing value (an empty CSV cell, a Parquet null), or strings.
type Column struct {
	Name   string
	Values []float64
	// Strings, when set, is written instead of Values.
	Strings []string
}

// WriteFile writes columns of equal length to a CSV file with a header
// row or a Snappy Parquet file, by the path's extension.
func WriteFile(path string, cols []Column) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if format == "parquet" {
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

func columnRows(cols []Column) int {
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
	for r := range columnRows(cols) {
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
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), arrays, int64(columnRows(cols)))
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

// WriteParquet writes record batches of one schema to a zstd Parquet
// file.
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
	if err := w.Close(); err != nil { // it closes the file too
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
