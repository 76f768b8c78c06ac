package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"strconv"
	"strings"
	"sync"
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
	"github.com/sluice-ml/sluice/spec"
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
	// S3 is the endpoint, addressing and region for s3:// source paths
	// (its URL is not used); credentials come from the AWS chain.
	S3 lakehouse.Options
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SegmentChunks is how many chunks are written between heartbeats;
	// 0 means 10.
	SegmentChunks int
	// Fault, when set, is called at named points of a run (segment-written,
	// before-commit, after-commit) with the progress so far; an error it
	// returns fails the attempt there, as a crash would. Tests use it.
	Fault func(point string, p IngestProgress) error
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
	// Schema declares column types by name (int64, float64, bool, string,
	// date, timestamp); the other columns' types are inferred.
	Schema map[string]string
	// Delimiter separates a CSV source's fields; empty means a comma.
	Delimiter string
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

// sourceOptions are the reader's options for the input.
func (in IngestInput) sourceOptions() (sources.Options, error) {
	o := sources.Options{ChunkRows: in.ChunkRows, Key: in.Key, Timestamp: in.Timestamp}
	if len(in.Schema) > 0 {
		o.Types = map[string]arrow.DataType{}
		for col, name := range in.Schema {
			t, err := sources.ParseType(name)
			if err != nil {
				return o, fmt.Errorf("schema of column %s: %w", col, err)
			}
			o.Types[col] = t
		}
	}
	if in.Delimiter != "" {
		r := []rune(in.Delimiter)
		if len(r) != 1 {
			return o, fmt.Errorf("the delimiter %q must be one character", in.Delimiter)
		}
		o.Delimiter = r[0]
	}
	return o, nil
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

// IngestProgress is what an ingest attempt heartbeats: the chunks it has
// written, as data files staged for the run's commit. A retried attempt
// adopts those files and reads on from the next chunk.
type IngestProgress struct {
	Chunks          int
	Rows            int64
	Rejected        int64
	Files           []string
	QuarantineFiles []string
}

// Snapshot summary keys of an ingest's commit, so a retry that finds the
// run committed reports what it did.
const (
	rowsSummary     = "sluice.rows"
	rejectedSummary = "sluice.rejected"
)

// defaultSegmentChunks is how many chunks go into one heartbeated segment.
const defaultSegmentChunks = 10

// IngestFile lands a file source in raw.<source> in one pass: chunks are
// parsed on all cores and written to data files as they come, a segment
// of chunks at a time, each segment heartbeated so a retried attempt
// resumes after the last one written. Nothing is visible until the end,
// when the rejects (with their line and reason) commit to
// quarantine.<source> and the rows to raw.<source>, each in one snapshot
// stamped with the run id: a retry that finds them writes nothing. Above
// the reject ratio, or when a fail-level quality check fails, the rows
// never commit and their files are removed.
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
	opts, err := in.sourceOptions()
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("source %s: %v", in.Source, err), ErrTypeBadInput, err)
	}
	if in.Format == "postgres" {
		return a.ingestQuery(ctx, in, opts, res, ratio, now)
	}
	path, cleanup, err := a.localCopy(ctx, in.Path)
	if err != nil {
		return res, err
	}
	defer cleanup()
	src, err := sources.Open(ctx, in.Format, path, opts)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("reading source %s: %v", in.Source, err), ErrTypeBadInput, err)
	}
	defer src.Close()
	schema := src.Schema()

	created, err := a.ensureTables(ctx, res, schema, in.Timestamp)
	if err != nil {
		return res, err
	}
	raw, err := a.Catalog.Stage(ctx, res.Table, schema, in.RunID)
	if errors.Is(err, lakehouse.ErrSchemaDrift) {
		return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeSchemaMismatch, nil)
	}
	if err != nil {
		return res, err
	}
	if raw.Done {
		// An earlier attempt committed (its quarantine first): report it.
		return a.committed(res, raw), nil
	}
	quar, err := a.Catalog.Stage(ctx, res.Quarantine, quarantineSchema, in.RunID)
	if err != nil {
		return res, err
	}
	res.AddedColumns = raw.Added

	var p IngestProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &p); err != nil {
			return res, fmt.Errorf("reading heartbeat: %w", err)
		}
		if err := raw.Adopt(ctx, p.Files); err != nil {
			return res, err
		}
		if err := quar.Adopt(ctx, p.QuarantineFiles); err != nil {
			return res, err
		}
	}
	res.ResumedAt = p.Chunks
	segment := a.SegmentChunks
	if segment <= 0 {
		segment = defaultSegmentChunks
	}
	eval := quality.NewEvaluator(in.Checks)
	var firstRejects []sources.Reject
	eof := false
	for !eof {
		var rejects []sources.Reject
		last := -1
		// One segment: the chunks after those written, up to segment of
		// them, parsed here and written by parallel writers as they come.
		recs := func(yield func(arrow.RecordBatch, error) bool) {
			for {
				ch, err := src.Next(ctx)
				if errors.Is(err, io.EOF) {
					eof = true
					return
				}
				if err != nil {
					yield(nil, fmt.Errorf("reading %s: %w", in.Path, err))
					return
				}
				if ch.Records != nil {
					eval.Observe(ch.Records) // every chunk, for checks over the whole source
				}
				if ch.Index < p.Chunks {
					if ch.Records != nil {
						ch.Records.Release()
					}
					continue
				}
				last = ch.Index
				rejects = append(rejects, ch.Rejects...)
				p.Rejected += int64(len(ch.Rejects))
				if ch.Records != nil {
					p.Rows += ch.Records.NumRows()
					if !yield(ch.Records, nil) {
						return
					}
				}
				if ch.Index+1-p.Chunks >= segment {
					return
				}
			}
		}
		files, err := writeParallel(ctx, raw, recs)
		if err != nil {
			return res, err
		}
		if last < 0 {
			break
		}
		if len(firstRejects) < 5 {
			firstRejects = append(firstRejects, rejects[:min(len(rejects), 5-len(firstRejects))]...)
		}
		qfiles, err := a.writeRejects(ctx, quar, in.RunID, rejects, now)
		if err != nil {
			return res, err
		}
		p.Chunks = last + 1
		p.Files = append(p.Files, files...)
		p.QuarantineFiles = append(p.QuarantineFiles, qfiles...)
		activity.RecordHeartbeat(ctx, p)
		if err := a.fault("segment-written", p); err != nil {
			return res, err
		}
	}
	res.Rows, res.Rejected, res.Chunks = p.Rows, p.Rejected, p.Chunks

	// Nothing is committed yet: the rejects and the checks may still veto
	// the rows.
	veto := func(err error) (IngestResult, error) {
		// The evidence commits; the rows do not.
		if _, qerr := quar.Commit(ctx, lakehouse.CommitOptions{}); qerr != nil {
			err = errors.Join(err, qerr)
		}
		raw.Abort(context.WithoutCancel(ctx))
		if created {
			// A vetoed first run leaves no empty table behind.
			a.Catalog.DropIfEmpty(context.WithoutCancel(ctx), res.Table)
		}
		return res, err
	}
	total := p.Rows + p.Rejected
	if total > 0 && float64(p.Rejected)/float64(total) > ratio {
		return veto(temporal.NewNonRetryableApplicationError(fmt.Sprintf("%d of %d rows of %s rejected (%.2f%%, more than %.2f%%): nothing committed to %s; first: %s",
			p.Rejected, total, in.Path, 100*float64(p.Rejected)/float64(total), 100*ratio, res.Table, describe(firstRejects)), ErrTypeRejectRatio, nil))
	}
	if len(in.Checks) > 0 {
		res.Quality = eval.Results(now())
		if err := a.storeQuality(ctx, in, res.Quality, now); err != nil {
			return res, err
		}
		if quality.Failed(res.Quality) {
			return veto(temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("data-quality checks failed on %s: %s; nothing committed to %s", in.Source, failures(res.Quality), res.Table),
				ErrTypeQuality, nil, res.Quality))
		}
	}
	if err := a.fault("before-commit", p); err != nil {
		return res, err
	}
	// The quarantine commits first: once the rows are committed, a retry
	// stops at the check above, so the rejects must already be in.
	if _, err := quar.Commit(ctx, lakehouse.CommitOptions{}); err != nil {
		return res, err
	}
	r, err := raw.Commit(ctx, lakehouse.CommitOptions{Replace: in.FullRefresh, Summary: map[string]string{
		rowsSummary: strconv.FormatInt(p.Rows, 10), rejectedSummary: strconv.FormatInt(p.Rejected, 10)}})
	if err != nil {
		return res, err
	}
	res.SnapshotID = r.SnapshotID
	if err := a.fault("after-commit", p); err != nil {
		return res, err
	}
	return res, nil
}

// writeParallel writes the records through one writer per core, each to
// its own files: Parquet encoding and compression are the costly part of
// ingestion, and one writer keeps one core busy.
func writeParallel(ctx context.Context, st *lakehouse.Stage, recs iter.Seq2[arrow.RecordBatch, error]) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	feed := make(chan arrow.RecordBatch)
	writers := runtime.GOMAXPROCS(0)
	errs := make(chan error, writers)
	var mu sync.Mutex
	var files []string
	for range writers {
		go func() {
			paths, err := st.Write(ctx, func(yield func(arrow.RecordBatch, error) bool) {
				for rec := range feed {
					if !yield(rec, nil) {
						return
					}
				}
			})
			mu.Lock()
			files = append(files, paths...)
			mu.Unlock()
			if err != nil {
				cancel() // the reader stops feeding
			}
			errs <- err
		}()
	}
	var readErr error
	for rec, err := range recs {
		if err != nil {
			readErr = err
			break
		}
		select {
		case feed <- rec:
		case <-ctx.Done():
			rec.Release()
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(feed)
	var werr []error
	for range writers {
		if err := <-errs; err != nil {
			werr = append(werr, err)
		}
	}
	if readErr != nil {
		return files, readErr
	}
	return files, errors.Join(werr...)
}

// committed reports a run an earlier attempt committed.
func (a *Ingest) committed(res IngestResult, raw *lakehouse.Stage) IngestResult {
	sum := raw.Summary()
	res.SnapshotID = raw.SnapshotID()
	res.Rows, _ = strconv.ParseInt(sum[rowsSummary], 10, 64)
	res.Rejected, _ = strconv.ParseInt(sum[rejectedSummary], 10, 64)
	return res
}

// fault injects a failure at a named point, for tests of crash recovery.
func (a *Ingest) fault(point string, p IngestProgress) error {
	if a.Fault == nil {
		return nil
	}
	return a.Fault(point, p)
}

// writeRejects stages a segment's rejects as quarantine rows.
func (a *Ingest) writeRejects(ctx context.Context, quar *lakehouse.Stage, runID string, rejects []sources.Reject, now func() time.Time) ([]string, error) {
	if len(rejects) == 0 {
		return nil, nil
	}
	rec := rejectRecord(runID, rejects, now)
	return quar.Write(ctx, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) })
}

// ingestQuery runs a postgres source's query from the last watermark and
// appends its rows as one snapshot that carries the new watermark, so the
// data and the watermark commit together and a retry finds both.
func (a *Ingest) ingestQuery(ctx context.Context, in IngestInput, o sources.Options, res IngestResult, ratio float64, now func() time.Time) (IngestResult, error) {
	url, err := spec.ExpandSourceURL(in.SourceURL)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("source %s: %v", in.Source, err), ErrTypeBadInput, err)
	}
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

// ensureTables creates the raw and quarantine tables when missing;
// created says the raw table is new.
func (a *Ingest) ensureTables(ctx context.Context, res IngestResult, schema *arrow.Schema, ts string) (created bool, err error) {
	existed, err := a.Catalog.Exists(ctx, res.Table)
	if err != nil {
		return false, err
	}
	if _, err := a.Catalog.EnsureTable(ctx, res.Table, schema, timestampColumn(schema, ts)); err != nil {
		return false, err
	}
	if _, err := a.Catalog.EnsureTable(ctx, res.Quarantine, quarantineSchema, ""); err != nil {
		return false, err
	}
	return !existed, nil
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

// rejectRecord holds rejects as quarantine rows.
func rejectRecord(runID string, rejects []sources.Reject, now func() time.Time) arrow.RecordBatch {
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
	return b.NewRecordBatch()
}

// quarantine commits rejects to a quarantine table as one snapshot.
func (a *Ingest) quarantine(ctx context.Context, table, commitID, runID string, rejects []sources.Reject, now func() time.Time) error {
	if len(rejects) == 0 {
		return nil
	}
	rec := rejectRecord(runID, rejects, now)
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

// RowsProcessed is the rows the run read (workers' metrics).
func (r IngestResult) RowsProcessed() int64 { return r.Rows + r.Rejected }
