package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/workflows"
)

func TestSelfCheckRunsProbeOnChosenQueue(t *testing.T) {
	tests := []struct {
		queue     string
		wantQueue string
		wantSteps int
		steps     int
	}{
		{"", workflows.QueueIO, 1, 0},
		{"io", workflows.QueueIO, 3, 3},
		{"gpu", workflows.QueueGPU, 2, 2},
	}
	for _, tt := range tests {
		t.Run("queue="+tt.queue, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			var a *activities.SelfCheck
			var gotQueue string
			var gotIn activities.ProbeInput
			env.OnActivity(a.Probe, mock.Anything, mock.Anything).Return(
				func(ctx context.Context, in activities.ProbeInput) (activities.ProbeResult, error) {
					gotIn = in
					return activities.ProbeResult{StepsDone: in.Steps, RowNote: in.Note, Attempt: 1}, nil
				})
			env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				gotQueue = info.TaskQueue
			})
			env.ExecuteWorkflow(workflows.SelfCheck, workflows.SelfCheckInput{Note: "n", Queue: tt.queue, Steps: tt.steps, StepDelay: time.Millisecond})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var res workflows.SelfCheckResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if gotQueue != tt.wantQueue {
				t.Errorf("probe ran on %q, want %q", gotQueue, tt.wantQueue)
			}
			if gotIn.Steps != tt.wantSteps || res.Probe.StepsDone != tt.wantSteps {
				t.Errorf("probe got %d steps and reported %d, want %d", gotIn.Steps, res.Probe.StepsDone, tt.wantSteps)
			}
			if gotIn.RunID == "" {
				t.Error("probe got no run id")
			}
		})
	}
}

func TestSelfCheckRejectsUnknownQueueWithoutRetry(t *testing.T) {
	for _, q := range []string{"control", "tpu"} {
		t.Run(q, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.ExecuteWorkflow(workflows.SelfCheck, workflows.SelfCheckInput{Queue: q})
			err := env.GetWorkflowError()
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != "BadInput" {
				t.Fatalf("got %v, want a non-retryable BadInput error", err)
			}
		})
	}
}
