package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// FormatOf names a file's format by its extension: "csv" for .csv,
// "parquet" for .parquet and .pq.
func FormatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv", nil
	case ".parquet", ".pq":
		return "parquet", nil
	}
	return "", fmt.Errorf("%s: unknown file type; use .csv or .parquet", path)
}

// OpenFile opens a CSV or Parquet file by its extension.
func OpenFile(ctx context.Context, path string, o Options) (Reader, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	return Open(ctx, format, path, o)
}

// Records yields r's records in order, each valid until the next: the
// loop releases a record when it moves on, so a caller that keeps one
// retains it. It is for callers that take every row or none: a chunk with
// a row that did not parse ends the loop with an error that names it.
func Records(ctx context.Context, r Reader) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for {
			ch, err := r.Next(ctx)
			if errors.Is(err, io.EOF) {
				return
			}
			if err == nil && len(ch.Rejects) > 0 {
				err = rejectsError(ch.Rejects)
			}
			if err != nil {
				if ch.Records != nil {
					ch.Records.Release()
				}
				yield(nil, err)
				return
			}
			if ch.Records == nil {
				continue
			}
			more := yield(ch.Records, nil)
			ch.Records.Release()
			if !more {
				return
			}
		}
	}
}

func rejectsError(rs []Reject) error {
	more := ""
	if len(rs) > 1 {
		more = fmt.Sprintf(" (and %d more rows of the chunk)", len(rs)-1)
	}
	return fmt.Errorf("line %d does not parse: %s%s", rs[0].Line, rs[0].Reason, more)
}

// ReadFile reads a whole CSV or Parquet file, by its extension, into
// memory; the caller releases the records. A row that does not parse is
// an error.
func ReadFile(ctx context.Context, path string, o Options) ([]arrow.RecordBatch, error) {
	r, err := OpenFile(ctx, path, o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []arrow.RecordBatch
	for rec, err := range Records(ctx, r) {
		if err != nil {
			for _, r := range out {
				r.Release()
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rec.Retain()
		out = append(out, rec)
	}
	return out, nil
}
