package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/quality"
)

// IngestRequest names a file source to land in raw.<source>.
type IngestRequest struct {
	Source string
	Format string // csv, parquet, jsonl or postgres
	Path   string
	// Query and SourceURL define a postgres source (SourceURL empty: the
	// platform's database).
	Query     string
	SourceURL string
	Key       string
	Timestamp string
	// ChunkRows is the rows per committed chunk (0: 100,000).
	ChunkRows int
	// MaxRejectRatio fails the run above this share of rejected rows
	// (0: 1%).
	MaxRejectRatio float64
	// FullRefresh replaces the table's content atomically.
	FullRefresh bool
	// Checks are the source's data-quality checks.
	Checks []quality.Check
}

// IngestResult reports the run.
type IngestResult struct {
	Ingest activities.IngestResult
}

// Ingest lands a source in the lake on the io queue. The workflow id is the
// run id the snapshots carry, so a retried activity writes no chunk twice
// and a second trigger of the same id runs once.
func Ingest(ctx workflow.Context, req IngestRequest) (IngestResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           QueueIO,
		StartToCloseTimeout: 6 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    2 * time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    20,
			NonRetryableErrorTypes: []string{
				activities.ErrTypeBadInput, activities.ErrTypeRejectRatio, activities.ErrTypeSchemaMismatch, activities.ErrTypeQuality,
			},
		},
	})
	var a *activities.Ingest
	var res IngestResult
	err := workflow.ExecuteActivity(ctx, a.IngestFile, activities.IngestInput{
		Source: req.Source, Format: req.Format, Path: req.Path, Query: req.Query, SourceURL: req.SourceURL,
		Key: req.Key, Timestamp: req.Timestamp,
		RunID:     workflow.GetInfo(ctx).WorkflowExecution.ID,
		ChunkRows: req.ChunkRows, MaxRejectRatio: req.MaxRejectRatio, FullRefresh: req.FullRefresh, Checks: req.Checks,
	}).Get(ctx, &res.Ingest)
	return res, err
}
