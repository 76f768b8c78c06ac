package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
)

// IngestRequest names the source to land in raw.<source>: the activity's
// input, whose RunID the workflow sets to its own id.
type IngestRequest = activities.IngestInput

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
		HeartbeatTimeout:    HeartbeatTimeout(),
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
	in := req
	in.RunID = workflow.GetInfo(ctx).WorkflowExecution.ID
	err := workflow.ExecuteActivity(ctx, a.IngestFile, in).Get(ctx, &res.Ingest)
	return res, err
}
