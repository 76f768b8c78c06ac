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

// ParseType returns the Arrow type of a declared column type.
func ParseType(name string) (arrow.DataType, error) {
	if t, ok := TypeNames[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("type %q is not one of int64, float64, bool, string, date or timestamp", name)
}
