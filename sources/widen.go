package sources

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
)

// ErrBadValue reports a value its column's landing type cannot hold:
// reading the file again will not change it.
var ErrBadValue = errors.New("sources: a value does not fit its column's type")

// Widened is the type a column of type t lands as: Iceberg has no 8- or
// 16-bit integers, no unsigned integers and no half floats, so those widen
// to the nearest type that holds every value (uint64 to int64, where a
// value past its range is an error, not a wrapped number). Other types are
// their own.
func Widened(t arrow.DataType) arrow.DataType {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.UINT8, arrow.UINT16:
		return arrow.PrimitiveTypes.Int32
	case arrow.UINT32, arrow.UINT64:
		return arrow.PrimitiveTypes.Int64
	case arrow.FLOAT16:
		return arrow.PrimitiveTypes.Float32
	}
	return t
}

// landingSchema is the schema a file's records are read as: each
// column's declared type (Options.Types) when it has one, else its
// widened type. It is nil when that is the file's own schema.
func landingSchema(file *arrow.Schema, o Options) (*arrow.Schema, error) {
	fields := file.Fields()
	changed := false
	for i, f := range fields {
		want := Widened(f.Type)
		if t, ok := o.Types[f.Name]; ok {
			want = t
		}
		if !arrow.TypeEqual(want, f.Type) {
			if !compute.CanCast(f.Type, want) {
				return nil, fmt.Errorf("column %s: its type %s cannot be read as %s", f.Name, f.Type, want)
			}
			fields[i].Type, changed = want, true
		}
	}
	for name := range o.Types {
		if len(file.FieldIndices(name)) == 0 {
			return nil, fmt.Errorf("the schema declares column %q, which the file does not have", name)
		}
	}
	if !changed {
		return nil, nil
	}
	md := file.Metadata()
	return arrow.NewSchema(fields, &md), nil
}

// castRecord casts a record's columns to the landing schema. A value the
// target type cannot hold (a uint64 past int64, text that is not a
// number) is an error naming the column.
func castRecord(ctx context.Context, rec arrow.RecordBatch, to *arrow.Schema) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, c := range rec.Columns() {
		want := to.Field(i).Type
		if arrow.TypeEqual(c.DataType(), want) {
			c.Retain()
			cols[i] = c
			continue
		}
		out, err := compute.CastArray(ctx, c, compute.SafeCastOptions(want))
		if err != nil {
			return nil, fmt.Errorf("%w: column %s: reading %s as %s: %w", ErrBadValue, rec.ColumnName(i), c.DataType(), want, err)
		}
		cols[i] = out
	}
	return array.NewRecordBatch(to, cols, rec.NumRows()), nil
}
