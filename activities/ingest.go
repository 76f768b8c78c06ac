package activities

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"go.temporal.io/sdk/activity"

	"github.com/sluice-ml/sluice/ingest"
	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/sources"
)

// Ingest lands sources in the lake (io queue).
type Ingest struct {
	Loader *ingest.Loader
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

// request is the input as package ingest takes it.
func (in IngestInput) request() (ingest.Request, error) {
	o := sources.Options{ChunkRows: in.ChunkRows, Key: in.Key, Timestamp: in.Timestamp}
	if len(in.Schema) > 0 {
		o.Types = map[string]arrow.DataType{}
		for col, name := range in.Schema {
			t, err := sources.ParseType(name)
			if err != nil {
				return ingest.Request{}, fmt.Errorf("source %s: schema of column %s: %w", in.Source, col, err)
			}
			o.Types[col] = t
		}
	}
	if in.Delimiter != "" {
		r := []rune(in.Delimiter)
		if len(r) != 1 {
			return ingest.Request{}, fmt.Errorf("source %s: the delimiter %q must be one character", in.Source, in.Delimiter)
		}
		o.Delimiter = r[0]
	}
	return ingest.Request{Source: in.Source, Format: in.Format, Path: in.Path, Query: in.Query, SourceURL: in.SourceURL,
		Options: o, RunID: in.RunID, MaxRejectRatio: in.MaxRejectRatio, FullRefresh: in.FullRefresh, Checks: in.Checks}, nil
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
	// Unchanged says the source's files are the ones the table's current
	// snapshot (SnapshotID) landed: nothing was read or written.
	Unchanged bool `json:",omitempty"`
}

// IngestProgress is what an ingest attempt heartbeats: the chunks it has
// written, as data files staged for the run's commit.
type IngestProgress = ingest.Progress

// IngestFile lands a source in raw.<source> (see ingest.Loader.Load),
// heartbeating each segment written; a retried attempt resumes from the
// last heartbeat.
func (a *Ingest) IngestFile(ctx context.Context, in IngestInput) (IngestResult, error) {
	req, err := in.request()
	if err != nil {
		return IngestResult{}, temporalError(permanent.Wrap(permanent.BadInput, err))
	}
	var resume ingest.Resume
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &resume.From); err != nil {
			return IngestResult{}, fmt.Errorf("reading heartbeat: %w", err)
		}
	}
	resume.Report = func(p ingest.Progress) { activity.RecordHeartbeat(ctx, p) }
	r, err := a.Loader.Load(ctx, req, resume)
	return IngestResult(r), temporalError(err)
}

// RowsProcessed is the rows the run read (workers' metrics).
func (r IngestResult) RowsProcessed() int64 { return r.Rows + r.Rejected }
