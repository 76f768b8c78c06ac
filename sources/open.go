package sources

import (
	"context"
	"fmt"
)

// Open opens a file source by format: csv or parquet.
func Open(ctx context.Context, format, path string, o Options) (Reader, error) {
	switch format {
	case "csv":
		return OpenCSV(path, o)
	case "parquet":
		return OpenParquet(ctx, path, o)
	}
	return nil, fmt.Errorf("sources: format %q is not readable yet (want csv or parquet)", format)
}
