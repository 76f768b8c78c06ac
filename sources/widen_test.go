package sources_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/float16"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/sources"
)

// TestParquetNarrowTypesWiden: a Parquet file's int8, int16, unsigned and
// half-float columns, which Iceberg has no type for, read as the nearest
// type that holds every value; a declared schema casts too.
func TestParquetNarrowTypesWiden(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "i8", Type: arrow.PrimitiveTypes.Int8},
		{Name: "i16", Type: arrow.PrimitiveTypes.Int16},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "u16", Type: arrow.PrimitiveTypes.Uint16},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "f16", Type: arrow.FixedWidthTypes.Float16},
		{Name: "declared", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"a", "b"}, nil)
	b.Field(1).(*array.Int8Builder).AppendValues([]int8{-128, 127}, nil)
	b.Field(2).(*array.Int16Builder).AppendValues([]int16{-32768, 32767}, nil)
	b.Field(3).(*array.Uint8Builder).AppendValues([]uint8{0, 255}, nil)
	b.Field(4).(*array.Uint16Builder).AppendValues([]uint16{0, 65535}, nil)
	b.Field(5).(*array.Uint32Builder).AppendValues([]uint32{0, math.MaxUint32}, nil)
	b.Field(6).(*array.Uint64Builder).AppendValues([]uint64{0, math.MaxInt64}, nil)
	b.Field(7).(*array.Float16Builder).AppendValues([]float16.Num{float16.New(1.5), float16.New(-2)}, nil)
	b.Field(8).(*array.Int32Builder).AppendValues([]int32{1, 2}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "narrow.parquet")
	if err := sources.WriteParquet(path, schema, one(rec)); err != nil {
		t.Fatal(err)
	}
	recs, err := sources.ReadFile(context.Background(), path, sources.Options{Key: "id", Types: map[string]arrow.DataType{"declared": arrow.PrimitiveTypes.Float64}})
	if err != nil {
		t.Fatal(err)
	}
	got := recs[0].Schema()
	want := map[string]arrow.DataType{"i8": arrow.PrimitiveTypes.Int32, "i16": arrow.PrimitiveTypes.Int32, "u8": arrow.PrimitiveTypes.Int32,
		"u16": arrow.PrimitiveTypes.Int32, "u32": arrow.PrimitiveTypes.Int64, "u64": arrow.PrimitiveTypes.Int64,
		"f16": arrow.PrimitiveTypes.Float32, "declared": arrow.PrimitiveTypes.Float64}
	for name, typ := range want {
		if f, _ := got.FieldsByName(name); !arrow.TypeEqual(f[0].Type, typ) {
			t.Errorf("%s reads as %s, want %s", name, f[0].Type, typ)
		}
	}
	r := recs[0]
	if v := r.Column(1).(*array.Int32).Value(0); v != -128 {
		t.Errorf("int8 -128 read as %d", v)
	}
	if v := r.Column(5).(*array.Int64).Value(1); v != math.MaxUint32 {
		t.Errorf("uint32 max read as %d", v)
	}
	if v := r.Column(7).(*array.Float32).Value(0); v != 1.5 {
		t.Errorf("float16 1.5 read as %v", v)
	}
}

func one(rec arrow.RecordBatch) func(yield func(arrow.RecordBatch, error) bool) {
	return func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }
}

// A uint64 past int64's range is an error that names the column, never a
// wrapped negative number.
func TestParquetUint64OverflowIsAnError(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "u64", Type: arrow.PrimitiveTypes.Uint64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Uint64Builder).AppendValues([]uint64{math.MaxUint64}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	path := filepath.Join(t.TempDir(), "big.parquet")
	if err := sources.WriteParquet(path, schema, one(rec)); err != nil {
		t.Fatal(err)
	}
	_, err := sources.ReadFile(context.Background(), path, sources.Options{})
	if err == nil || !strings.Contains(err.Error(), "u64") {
		t.Fatalf("reading a uint64 past int64: %v, want an error naming the column", err)
	}
}
