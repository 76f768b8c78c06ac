package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/sources"
)

// WatermarkProperty is the table property holding an incremental load's
// watermark: the newest event time loaded (RFC 3339). It commits with the
// data it describes.
const WatermarkProperty = "sluice.watermark"

// Ingest lands sources in the lake.
type Ingest struct {
	Catalog *lakehouse.Catalog
	// DB stores data-quality results; nil skips storing them.
	DB *pgxpool.Pool
	// DatabaseURL is where a postgres source's query runs unless the
	// source names another database.
	DatabaseURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// IngestInput names the source and the run.
type IngestInput struct {
	Source string
	Format string // csv, parquet, jsonl or postgres
	Path   string
	// Query is a postgres source's SELECT; its $1 is the watermark.
	Query string
	// SourceURL is the database of a postgres source; empty means the
	// platform's.
	SourceURL string
	Key       string
	Timestamp string
	// RunID stamps the run's snapshots, so retries write nothing twice;
	// the Ingest workflow sets it to its own id.
	RunID     string
	ChunkRows int
	// MaxRejectRatio fails the run, committing nothing to the raw table,
	// when more of the rows than this are rejected; 0 means 0.01.
	MaxRejectRatio float64
	// FullRefresh replaces the table's content in one snapshot instead of
	// appending chunk by chunk.
	FullRefresh bool
	// Checks are the source's data-quality checks, run on the rows before
	// anything commits; a failing fail-level check commits nothing.
	Checks []quality.Check
}

// IngestResult counts what the run did.
type IngestResult struct {
	Table      string
	Quarantine string
	Rows       int64
	Rejected   int64
	Chunks     int
	SnapshotID int64
	// ResumedAt is the chunk the final attempt started from.
	ResumedAt int
	// AddedColumns are columns the source added to the table.
	AddedColumns []string
	// Quality holds the checks' results.
	Quality []quality.Result
}

// Error types of non-retryable ingest failures.
const (
	ErrTypeBadInput       = "BadInput"
	ErrTypeRejectRatio    = "RejectRatioExceeded"
	ErrTypeSchemaMismatch = "SchemaDrift"
	ErrTypeQuality        = "QualityCheckFailed"
)

// quarantineSchema is the schema of quarantine.<source>.
var quarantineSchema = arrow.NewSchema([]arrow.Field{
	{Name: "run_id", Type: arrow.BinaryTypes.String},
	{Name: "line", Type: arrow.PrimitiveTypes.Int64},
	{Name: "reason", Type: arrow.BinaryTypes.String},
	{Name: "raw", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "rejected_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

// IngestFile reads a file source in chunks and appends each chunk to
// raw.<source> as its own snapshot, stamped with the run and chunk, so a
// retried attempt resumes after the last committed chunk (from its
// heartbeat) and never writes a chunk twice. Rejected rows go to
// quarantine.<source> with their line and reason. A first pass counts the
// rejects: above the ratio, the raw table is left unchanged.
func (a *Ingest) IngestFile(ctx context.Context, in IngestInput) (IngestResult, error) {
	if in.Source == "" || in.RunID == "" || (in.Path == "" && in.Query == "") {
		return IngestResult{}, temporal.NewNonRetryableApplicationError("ingest needs a source, a path or query, and a run id", ErrTypeBadInput, nil)
	}
	ratio := in.MaxRejectRatio
	if ratio == 0 {
		ratio = 0.01
	}
	now := a.Now
	if now == nil {
		now = time.Now
	}
	res := IngestResult{Table: "raw." + in.Source, Quarantine: "quarantine." + in.Source}
	opts := sources.Options{ChunkRows: in.ChunkRows, Key: in.Key, Timestamp: in.Timestamp}
	if in.Format == "postgres" {
		return a.ingestQuery(ctx, in, opts, res, ratio, now)
	}

	// Pass 1: count, and run the quality checks.
	var rows, rejected int64
	var rejects []sources.Reject
	eval := quality.NewEvaluator(in.Checks)
	schema, err := a.each(ctx, in, opts, 0, func(ch sources.Chunk) error {
		if ch.Records != nil {
			rows += ch.Records.NumRows()
			eval.Observe(ch.Records)
		}
		rejected += int64(len(ch.Rejects))
		for _, r := range ch.Rejects {
			if len(rejects) < 5 {
				rejects = append(rejects, r)
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	total := rows + rejected
	if total > 0 && float64(rejected)/float64(total) > ratio {
		// Keep the evidence; the raw table stays as it was.
		qerr := a.quarantineAll(ctx, in, opts, now)
		msg := fmt.Sprintf("%d of %d rows of %s rejected (%.2f%%, more than %.2f%%): nothing committed to %s; first: %s",
			rejected, total, in.Path, 100*float64(rejected)/float64(total), 100*ratio, res.Table, describe(rejects))
		return res, temporal.NewNonRetryableApplicationError(msg, ErrTypeRejectRatio, qerr)
	}
	if len(in.Checks) > 0 {
		res.Quality = eval.Results(now())
		if err := a.storeQuality(ctx, in, res.Quality, now); err != nil {
			return res, err
		}
		if quality.Failed(res.Quality) {
			return res, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("data-quality checks failed on %s: %s; nothing committed to %s", in.Source, failures(res.Quality), res.Table),
				ErrTypeQuality, nil, res.Quality)
		}
	}

	if res.AddedColumns, err = a.prepareTables(ctx, res, schema, in.Timestamp); err != nil {
		return res, err
	}

	if in.FullRefresh {
		return a.replace(ctx, in, opts, res, rows, rejected, now)
	}

	// Pass 2: write, from the chunk after the last one committed.
	start := 0
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &start); err != nil {
			return res, fmt.Errorf("reading heartbeat: %w", err)
		}
	}
	res.ResumedAt = start
	_, err = a.each(ctx, in, opts, start, func(ch sources.Chunk) error {
		if ch.Records != nil {
			r, err := a.Catalog.Append(ctx, res.Table, []arrow.RecordBatch{ch.Records}, fmt.Sprintf("%s/chunk-%06d", in.RunID, ch.Index))
			if err != nil {
				return err
			}
			res.SnapshotID = r.SnapshotID
		}
		if len(ch.Rejects) > 0 {
			if err := a.quarantine(ctx, res.Quarantine, fmt.Sprintf("%s/quarantine-%06d", in.RunID, ch.Index), in.RunID, ch.Rejects, now); err != nil {
				return err
			}
		}
		activity.RecordHeartbeat(ctx, ch.Index+1)
		res.Chunks = ch.Index + 1
		return nil
	})
	res.Rows, res.Rejected = rows, rejected
	return res, err
}

// ingestQuery runs a postgres source's query from the last watermark and
// appends its rows as one snapshot that carries the new watermark, so the
// data and the watermark commit together and a retry finds both.
func (a *Ingest) ingestQuery(ctx context.Context, in IngestInput, o sources.Options, res IngestResult, ratio float64, now func() time.Time) (IngestResult, error) {
	url := in.SourceURL
	if url == "" {
		url = a.DatabaseURL
	}
	var wm time.Time
	if v, ok, err := a.Catalog.Property(ctx, res.Table, WatermarkProperty); err != nil {
		return res, err
	} else if ok {
		if wm, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return res, fmt.Errorf("reading the watermark of %s: %w", res.Table, err)
		}
	}
	src, err := sources.OpenPostgres(ctx, url, in.Query, wm, o)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("source %s: %v", in.Source, err), ErrTypeBadInput, err)
		}
		return res, err
	}
	defer src.Close()
	schema := src.Schema()
	if res.AddedColumns, err = a.prepareTables(ctx, res, schema, in.Timestamp); err != nil {
		return res, err
	}
	newest := wm
	rdr := newChunkReader(ctx, src)
	defer rdr.Release()
	if idx := schema.FieldIndices(timestampColumn(schema, in.Timestamp)); len(idx) > 0 {
		rdr.onRecord = func(rec arrow.RecordBatch) {
			ts := rec.Column(idx[0]).(*array.Timestamp)
			for i := range ts.Len() {
				if ts.IsValid(i) {
					if t := time.UnixMicro(int64(ts.Value(i))).UTC(); t.After(newest) {
						newest = t
					}
				}
			}
		}
	}
	// Before the data commits: the rejects go to quarantine (their own
	// idempotent commit, so nothing is lost if the data commit then dies),
	// and the reject ratio may still veto the data.
	finish := func() (map[string]string, error) {
		if err := rdr.Err(); err != nil {
			return nil, err
		}
		if err := a.quarantine(ctx, res.Quarantine, in.RunID+"/quarantine-query", in.RunID, rdr.rejects, now); err != nil {
			return nil, err
		}
		total := rdr.rows + int64(len(rdr.rejects))
		if total > 0 && float64(len(rdr.rejects))/float64(total) > ratio {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%d of %d rows of source %s rejected (more than %.2f%%): nothing committed to %s; first: %s",
				len(rdr.rejects), total, in.Source, 100*ratio, res.Table, describe(rdr.rejects[:min(5, len(rdr.rejects))])), ErrTypeRejectRatio, nil)
		}
		return map[string]string{WatermarkProperty: newest.Format(time.RFC3339Nano)}, nil
	}
	r, err := a.Catalog.AppendStream(ctx, res.Table, rdr, in.RunID+"/query", finish)
	if err != nil {
		return res, err
	}
	res.SnapshotID, res.Rows, res.Rejected, res.Chunks = r.SnapshotID, rdr.rows, int64(len(rdr.rejects)), 1
	return res, nil
}

// replace writes the whole source as one snapshot that replaces the
// table's content, then quarantines the rejects.
func (a *Ingest) replace(ctx context.Context, in IngestInput, o sources.Options, res IngestResult, rows, rejected int64, now func() time.Time) (IngestResult, error) {
	src, err := sources.Open(ctx, in.Format, in.Path, o)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("reading source %s: %v", in.Source, err), ErrTypeBadInput, err)
	}
	defer src.Close()
	rdr := newChunkReader(ctx, src)
	defer rdr.Release()
	r, err := a.Catalog.Replace(ctx, res.Table, rdr, in.RunID+"/full-refresh")
	if err != nil {
		return res, err
	}
	if err := rdr.Err(); err != nil {
		return res, fmt.Errorf("reading %s: %w", in.Path, err)
	}
	rejects := rdr.rejects
	if r.AlreadyCommitted {
		// An earlier attempt committed and may have died before its
		// quarantine write: collect the rejects again (that write is
		// idempotent too).
		rejects = nil
		if _, err := a.each(ctx, in, o, 0, func(ch sources.Chunk) error {
			rejects = append(rejects, ch.Rejects...)
			return nil
		}); err != nil {
			return res, err
		}
	}
	if err := a.quarantine(ctx, res.Quarantine, in.RunID+"/quarantine-full", in.RunID, rejects, now); err != nil {
		return res, err
	}
	res.SnapshotID, res.Rows, res.Rejected, res.Chunks = r.SnapshotID, rows, rejected, 1
	return res, nil
}

// prepareTables creates the raw and quarantine tables when missing and
// evolves the raw table to the source's schema: added columns join it, and
// removed or retyped ones are a non-retryable schema-drift error.
func (a *Ingest) prepareTables(ctx context.Context, res IngestResult, schema *arrow.Schema, ts string) ([]string, error) {
	if _, err := a.Catalog.EnsureTable(ctx, res.Table, schema, timestampColumn(schema, ts)); err != nil {
		return nil, err
	}
	added, err := a.Catalog.Evolve(ctx, res.Table, schema)
	if errors.Is(err, lakehouse.ErrSchemaDrift) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeSchemaMismatch, nil)
	}
	if err != nil {
		return nil, err
	}
	if _, err := a.Catalog.EnsureTable(ctx, res.Quarantine, quarantineSchema, ""); err != nil {
		return nil, err
	}
	return added, nil
}

// storeQuality records the run's check results, replacing an earlier
// attempt's.
func (a *Ingest) storeQuality(ctx context.Context, in IngestInput, rs []quality.Result, now func() time.Time) error {
	if a.DB == nil {
		return nil
	}
	at := now().UTC()
	for _, r := range rs {
		if _, err := a.DB.Exec(ctx, `
			INSERT INTO sluice.quality_results (run_id, source, check_name, level, passed, violations, detail, checked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (run_id, check_name) DO UPDATE SET level = EXCLUDED.level, passed = EXCLUDED.passed,
				violations = EXCLUDED.violations, detail = EXCLUDED.detail, checked_at = EXCLUDED.checked_at`,
			in.RunID, in.Source, r.Check, r.Level, r.Passed, r.Violations, r.Detail, at); err != nil {
			return fmt.Errorf("storing quality results: %w", err)
		}
	}
	return nil
}

func failures(rs []quality.Result) string {
	var parts []string
	for _, r := range rs {
		if !r.Passed && r.Level == "fail" {
			parts = append(parts, r.Check+": "+r.Detail)
		}
	}
	return strings.Join(parts, "; ")
}

// each reads the source and calls f for every chunk from start on,
// releasing its records after. It returns the source's schema.
func (a *Ingest) each(ctx context.Context, in IngestInput, o sources.Options, start int, f func(sources.Chunk) error) (*arrow.Schema, error) {
	r, err := sources.Open(ctx, in.Format, in.Path, o)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("reading source %s: %v", in.Source, err), ErrTypeBadInput, err)
	}
	defer r.Close()
	for {
		ch, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return r.Schema(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", in.Path, err)
		}
		if ch.Index < start {
			if ch.Records != nil {
				ch.Records.Release()
			}
			continue
		}
		err = f(ch)
		if ch.Records != nil {
			ch.Records.Release()
		}
		if err != nil {
			return nil, err
		}
	}
}

func (a *Ingest) quarantineAll(ctx context.Context, in IngestInput, o sources.Options, now func() time.Time) error {
	name := "quarantine." + in.Source
	if _, err := a.Catalog.EnsureTable(ctx, name, quarantineSchema, ""); err != nil {
		return err
	}
	var all []sources.Reject
	if _, err := a.each(ctx, in, o, 0, func(ch sources.Chunk) error {
		all = append(all, ch.Rejects...)
		return nil
	}); err != nil {
		return err
	}
	return a.quarantine(ctx, name, in.RunID+"/quarantine-all", in.RunID, all, now)
}

func (a *Ingest) quarantine(ctx context.Context, table, commitID, runID string, rejects []sources.Reject, now func() time.Time) error {
	if len(rejects) == 0 {
		return nil
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, quarantineSchema)
	defer b.Release()
	at := arrow.Timestamp(now().UTC().UnixMicro())
	for _, r := range rejects {
		b.Field(0).(*array.StringBuilder).Append(runID)
		b.Field(1).(*array.Int64Builder).Append(r.Line)
		b.Field(2).(*array.StringBuilder).Append(r.Reason)
		b.Field(3).(*array.StringBuilder).Append(r.Raw)
		b.Field(4).(*array.TimestampBuilder).Append(at)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	_, err := a.Catalog.Append(ctx, table, []arrow.RecordBatch{rec}, commitID)
	return err
}

func describe(rs []sources.Reject) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("line %d: %s", r.Line, r.Reason))
	}
	return strings.Join(parts, "; ")
}

// timestampColumn is the column to partition by: the event time, when it
// is a timestamp.
func timestampColumn(s *arrow.Schema, name string) string {
	if name == "" {
		return ""
	}
	idx := s.FieldIndices(name)
	if len(idx) == 0 || s.Field(idx[0]).Type.ID() != arrow.TIMESTAMP {
		return ""
	}
	return name
}
