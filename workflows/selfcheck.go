package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/permanent"
)

// SelfCheckInput configures a SelfCheck run.
type SelfCheckInput struct {
	// Note is stored with the PostgreSQL row, to tell runs apart.
	Note string
	// Queue is the resource class whose workers run the probe: io (the
	// default), cpu or gpu.
	Queue string
	// Steps is how many checkpointed steps the probe takes (at least 1).
	Steps int
	// StepDelay is the pause after each step; it gives a durability test
	// time to kill the worker mid-activity.
	StepDelay time.Duration
}

// SelfCheckResult reports what the probe saw.
type SelfCheckResult struct {
	Probe activities.ProbeResult
}

// SelfCheck proves that the platform's parts answer: a worker on the io queue
// writes and reads back a row in PostgreSQL and an object in the lake, in
// checkpointed steps that resume after a worker crash.
func SelfCheck(ctx workflow.Context, in SelfCheckInput) (SelfCheckResult, error) {
	if in.Queue == "" {
		in.Queue = "io"
	}
	queue, ok := QueueFor(in.Queue)
	if !ok || queue == QueueControl {
		return SelfCheckResult{}, temporal.NewNonRetryableApplicationError(
			"self-check queue must be io, cpu or gpu, got "+in.Queue, permanent.BadInput, nil)
	}
	ctx = workflow.WithActivityOptions(ctx, ProbeOptions(queue))
	steps := in.Steps
	if steps < 1 {
		steps = 1
	}
	var a *activities.SelfCheck
	var res SelfCheckResult
	err := workflow.ExecuteActivity(ctx, a.Probe, activities.ProbeInput{
		RunID:     workflow.GetInfo(ctx).WorkflowExecution.ID,
		Note:      in.Note,
		Steps:     steps,
		StepDelay: in.StepDelay,
	}).Get(ctx, &res.Probe)
	return res, err
}
