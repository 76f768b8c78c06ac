package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
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

// withIOActivity sets the options of the io-queue activities (features,
// registry, scoring): hours to run, the process's heartbeat timeout (the
// workers keep running activities alive), retries with backoff except for
// bad input.
func withIOActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           QueueIO,
		StartToCloseTimeout: 6 * time.Hour,
		HeartbeatTimeout:    HeartbeatTimeout(),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        10,
			NonRetryableErrorTypes: []string{activities.ErrTypeBadInput},
		},
	})
}
