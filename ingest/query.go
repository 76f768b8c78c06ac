package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/sources"
	"github.com/sluice-ml/sluice/spec"
)

// loadQuery runs a postgres source's query from the last watermark and
// appends its rows as one snapshot that carries the new watermark, so the
// data and the watermark commit together and a retry finds both.
func (l *Loader) loadQuery(ctx context.Context, req Request, res Result) (Result, error) {
	url, err := spec.ExpandSourceURL(naming.Base(req.Source), req.SourceURL)
	if err != nil {
		return res, permanent.Errorf(permanent.BadInput, "source %s: %w", req.Source, err)
	}
	if url == "" {
		url = l.DatabaseURL
	}
	wm, err := l.watermark(ctx, res.Table)
	if err != nil {
		return res, err
	}
	src, err := sources.OpenPostgres(ctx, url, req.Query, wm, req.Options)
	if err != nil {
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) {
			return res, permanent.Errorf(permanent.BadInput, "source %s: %w", req.Source, err)
		}
		return res, err
	}
	defer src.Close()
	schema := src.Schema()
	if res.AddedColumns, err = l.prepareTables(ctx, res, schema, req.Options.Timestamp); err != nil {
		return res, err
	}
	newest := wm
	rdr := newChunkReader(ctx, src)
	defer rdr.Release()
	if idx := schema.FieldIndices(timestampColumn(schema, req.Options.Timestamp)); len(idx) > 0 {
		rdr.onRecord = func(rec arrow.RecordBatch) { newest = newestTime(rec.Column(idx[0]).(*array.Timestamp), newest) }
	}
	// Before the data commits: the rejects go to quarantine (their own
	// idempotent commit, so nothing is lost if the data commit then dies),
	// and the reject ratio may still veto the data.
	finish := func() (map[string]string, error) {
		if err := rdr.Err(); err != nil {
			return nil, err
		}
		if err := l.quarantine(ctx, res.Quarantine, req.RunID+"/quarantine-query", req.RunID, rdr.rejects); err != nil {
			return nil, err
		}
		rejected := int64(len(rdr.rejects))
		if err := overRatio(req, res.Table, rejected, rdr.rows+rejected, rdr.rejects[:min(5, len(rdr.rejects))]); err != nil {
			return nil, err
		}
		return map[string]string{WatermarkProperty: newest.Format(time.RFC3339Nano)}, nil
	}
	r, err := l.Catalog.AppendStream(ctx, res.Table, rdr, req.RunID+"/query", finish)
	if err != nil {
		return res, err
	}
	res.SnapshotID, res.Rows, res.Rejected, res.Chunks = r.SnapshotID, rdr.rows, int64(len(rdr.rejects)), 1
	return res, nil
}

// watermark is the table's watermark; zero before the first load.
func (l *Loader) watermark(ctx context.Context, table string) (time.Time, error) {
	v, ok, err := l.Catalog.Property(ctx, table, WatermarkProperty)
	if err != nil || !ok {
		return time.Time{}, err
	}
	wm, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return wm, fmt.Errorf("reading the watermark of %s: %w", table, err)
	}
	return wm, nil
}

// newestTime is the newest valid time of ts, or newest when none is
// newer.
func newestTime(ts *array.Timestamp, newest time.Time) time.Time {
	for i := range ts.Len() {
		if ts.IsValid(i) {
			if t := time.UnixMicro(int64(ts.Value(i))).UTC(); t.After(newest) {
				newest = t
			}
		}
	}
	return newest
}
