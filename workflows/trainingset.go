package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
)

// TrainingSetRequest names the model, its labels and its views: the
// activity's input, whose RunID the workflow sets to its own id.
type TrainingSetRequest = activities.TrainingSetInput

// TrainingSet builds training.<model> on the io queue: every label with
// its features as of the label time, in one snapshot that records the
// snapshots it read.
func TrainingSet(ctx workflow.Context, req TrainingSetRequest) (activities.TrainingSetResult, error) {
	ctx = withIOActivity(ctx)
	req.RunID = workflow.GetInfo(ctx).WorkflowExecution.ID
	var a *activities.Features
	var res activities.TrainingSetResult
	err := workflow.ExecuteActivity(ctx, a.TrainingSet, req).Get(ctx, &res)
	return res, err
}
