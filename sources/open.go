package sources

import (
	"context"
	"fmt"
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
