// Package ingest lands sources in the lake: a file (CSV, JSON lines,
// Parquet; local or in S3) or a PostgreSQL query becomes raw.<source>,
// and the rows it rejects become quarantine.<source> with their line and
// reason. A run commits once, stamped with its run id, so a retry writes
// nothing twice; a long file is written in heartbeated segments that a
// retried attempt adopts and reads on from. The reject ratio and the
// source's data-quality checks can veto a run before anything commits.
package ingest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/sources"
)

// WatermarkProperty is the table property holding an incremental load's
// watermark: the newest event time loaded (RFC 3339). It commits with the
// data it describes.
const WatermarkProperty = "sluice.watermark"

// Snapshot summary keys of an ingest's commit, so a retry that finds the
// run committed reports what it did.
const (
	RowsSummary     = "sluice.rows"
	rejectedSummary = "sluice.rejected"
)

// defaultSegmentChunks is how many chunks go into one heartbeated segment.
const defaultSegmentChunks = 10

// Loader lands sources in the lake.
type Loader struct {
	Catalog *lakehouse.Catalog
	// Quality stores data-quality results; nil skips storing them.
	Quality *quality.Store
	// DatabaseURL is where a postgres source's query runs unless the
	// source names another database.
	DatabaseURL string
	// S3 is the endpoint, addressing and region for s3:// source paths
	// (its URL is not used); credentials come from the AWS chain.
	S3 lakehouse.Options
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SegmentChunks is how many chunks are written between progress
	// reports; 0 means 10.
	SegmentChunks int
	// Fault, when set, is called at named points of a run (segment-written,
	// before-commit, after-commit) with the progress so far; an error it
	// returns fails the attempt there, as a crash would. Tests use it.
	Fault func(point string, p Progress) error
}

// Request names the source and the run.
type Request struct {
	Source string
	// Format is csv, parquet, jsonl or postgres; Path the file (or
	// folder, or s3:// object or prefix); Query a postgres source's
	// SELECT, whose $1 is the watermark.
	Format, Path, Query string
	// SourceURL is the database of a postgres source; empty means the
	// platform's.
	SourceURL string
	// Options are the reader's: key and time columns, declared types,
	// delimiter, chunk size.
	Options sources.Options
	// RunID stamps the run's snapshots, so retries write nothing twice.
	RunID string
	// MaxRejectRatio fails the run, committing nothing to the raw table,
	// when more of the rows than this are rejected; 0 means 0.01.
	MaxRejectRatio float64
	// FullRefresh replaces the table's content in one snapshot instead of
	// appending.
	FullRefresh bool
	// Checks are the source's data-quality checks, run on the rows before
	// anything commits; a failing fail-level check commits nothing.
	Checks []quality.Check
}

// Result counts what the run did.
type Result struct {
	Table, Quarantine string
	Rows, Rejected    int64
	Chunks            int
	SnapshotID        int64
	// ResumedAt is the chunk the final attempt started from.
	ResumedAt int
	// AddedColumns are columns the source added to the table.
	AddedColumns []string
	// Quality holds the checks' results.
	Quality []quality.Result
	// Unchanged says the source's files are the ones the table's current
	// snapshot (SnapshotID) landed: nothing was read or written.
	Unchanged bool
}

// Progress is what a file load reports as it goes: the chunks it has
// written, as data files staged for the run's commit. A retried attempt
// given the last report adopts those files and reads on from the next
// chunk.
type Progress struct {
	Chunks          int
	Rows            int64
	Rejected        int64
	Files           []string
	QuarantineFiles []string
}

// Resume is where an attempt starts and how it reports progress.
type Resume struct {
	// From is the last progress an earlier attempt reported.
	From Progress
	// Report, when set, is called after each segment is written.
	Report func(Progress)
}

// Load lands the request's source in raw.<source>.
func (l *Loader) Load(ctx context.Context, req Request, resume Resume) (Result, error) {
	if req.Source == "" || req.RunID == "" || (req.Path == "" && req.Query == "") {
		return Result{}, permanent.Errorf(permanent.BadInput, "ingest needs a source, a path or query, and a run id")
	}
	res := Result{Table: naming.Table(naming.Raw, req.Source), Quarantine: naming.Table(naming.Quarantine, req.Source)}
	if req.MaxRejectRatio == 0 {
		req.MaxRejectRatio = 0.01
	}
	if req.Format == "postgres" {
		return l.loadQuery(ctx, req, res)
	}
	return l.loadFile(ctx, req, res, resume)
}

func (l *Loader) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

// fault injects a failure at a named point, for tests of crash recovery.
func (l *Loader) fault(point string, p Progress) error {
	if l.Fault == nil {
		return nil
	}
	return l.Fault(point, p)
}

// overRatio is the reject-ratio veto, when rejected of total rows pass
// the ratio.
func overRatio(req Request, table string, rejected, total int64, first []sources.Reject) error {
	if total == 0 || float64(rejected)/float64(total) <= req.MaxRejectRatio {
		return nil
	}
	what := req.Path
	if what == "" {
		what = "source " + req.Source
	}
	return permanent.Errorf(permanent.RejectRatio, "%d of %d rows of %s rejected (%.2f%%, more than %.2f%%): nothing committed to %s; first: %s",
		rejected, total, what, 100*float64(rejected)/float64(total), 100*req.MaxRejectRatio, table, describe(first))
}

// committed reports a run an earlier attempt committed.
func committed(res Result, raw *lakehouse.Stage) Result {
	sum := raw.Summary()
	res.SnapshotID = raw.SnapshotID()
	res.Rows, _ = strconv.ParseInt(sum[RowsSummary], 10, 64)
	res.Rejected, _ = strconv.ParseInt(sum[rejectedSummary], 10, 64)
	return res
}

// ensureTables creates the raw and quarantine tables when missing;
// created says the raw table is new.
func (l *Loader) ensureTables(ctx context.Context, res Result, schema *arrow.Schema, ts string) (created bool, err error) {
	existed, err := l.Catalog.Exists(ctx, res.Table)
	if err != nil {
		return false, err
	}
	if _, err := l.Catalog.EnsureTable(ctx, res.Table, schema, timestampColumn(schema, ts)); err != nil {
		return false, err
	}
	if _, err := l.Catalog.EnsureTable(ctx, res.Quarantine, quarantineSchema, ""); err != nil {
		return false, err
	}
	return !existed, nil
}

// prepareTables creates the raw and quarantine tables when missing and
// evolves the raw table to the source's schema: added columns join it, and
// removed or retyped ones are a permanent schema-drift error.
func (l *Loader) prepareTables(ctx context.Context, res Result, schema *arrow.Schema, ts string) ([]string, error) {
	if _, err := l.Catalog.EnsureTable(ctx, res.Table, schema, timestampColumn(schema, ts)); err != nil {
		return nil, err
	}
	added, err := l.Catalog.Evolve(ctx, res.Table, schema)
	if err != nil {
		return nil, permanent.WrapIf(permanent.SchemaMismatch, err, lakehouse.ErrSchemaDrift)
	}
	if _, err := l.Catalog.EnsureTable(ctx, res.Quarantine, quarantineSchema, ""); err != nil {
		return nil, err
	}
	return added, nil
}

// checkQuality evaluates and stores the checks' results. A failed
// fail-level check is a veto (a permanent error); err is a failure to
// store the results, which a retry may overcome.
func (l *Loader) checkQuality(ctx context.Context, req Request, res *Result, eval *quality.Evaluator) (veto, err error) {
	if len(req.Checks) == 0 {
		return nil, nil
	}
	at := l.now()
	res.Quality = eval.Results(at)
	if l.Quality != nil {
		if err := l.Quality.Save(ctx, req.RunID, req.Source, res.Quality, at); err != nil {
			return nil, err
		}
	}
	if !quality.Failed(res.Quality) {
		return nil, nil
	}
	var parts []string
	for _, r := range res.Quality {
		if !r.Passed && r.Level == "fail" {
			parts = append(parts, r.Check+": "+r.Detail)
		}
	}
	return &permanent.Error{Kind: permanent.Quality, Details: []any{res.Quality},
		Msg: fmt.Sprintf("data-quality checks failed on %s: %s; nothing committed to %s", req.Source, strings.Join(parts, "; "), res.Table)}, nil
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
