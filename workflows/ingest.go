package workflows

import (
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
	ctx = workflow.WithActivityOptions(ctx, IngestOptions())
	var a *activities.Ingest
	var res IngestResult
	in := req
	in.RunID = workflow.GetInfo(ctx).WorkflowExecution.ID
	err := workflow.ExecuteActivity(ctx, a.IngestFile, in).Get(ctx, &res.Ingest)
	return res, err
}
