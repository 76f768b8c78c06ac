package sources

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// Open opens a file source by format: csv, parquet or jsonl.
func Open(ctx context.Context, format, path string, o Options) (Reader, error) {
	switch format {
	case "csv":
		return OpenCSV(path, o)
	case "parquet":
		return OpenParquet(ctx, path, o)
	case "jsonl":
		return OpenJSONL(path, o)
	}
	return nil, fmt.Errorf("sources: format %q is not a file format (want csv, parquet or jsonl)", format)
}

// TypeNames are the column types a source's schema may declare.
var TypeNames = map[string]arrow.DataType{
	"int64":     arrow.PrimitiveTypes.Int64,
	"float64":   arrow.PrimitiveTypes.Float64,
	"bool":      arrow.FixedWidthTypes.Boolean,
	"string":    arrow.BinaryTypes.String,
	"date":      arrow.FixedWidthTypes.Date32,
	"timestamp": timestampType,
}

// widerNames are declared types the lake has no column type for: they
// land as the type named beside them.
var widerNames = map[string]string{
	"int8": "int64", "int16": "int64", "int32": "int64", "uint8": "int64", "uint16": "int64", "uint32": "int64", "uint64": "int64",
	"float16": "float64", "float32": "float64",
}

// ParseType returns the Arrow type of a declared column type. The
// narrower numeric types (int8 to int32, uint8 to uint64, float16 and
// float32) are accepted and widen to int64 or float64.
func ParseType(name string) (arrow.DataType, error) {
	if w, ok := widerNames[name]; ok {
		name = w
	}
	if t, ok := TypeNames[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("type %q is not one of int64, float64, bool, string, date or timestamp (or a narrower int or float, which widens)", name)
}
