package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/sluice-ml/sluice/testkit/replaytest"
	"github.com/sluice-ml/sluice/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs, so a
// change to workflow logic that would break running workflows fails here
// until it is put behind workflow.GetVersion. Record new histories with
// `go test -tags record -run TestRecordHistories ./workflows`.
func TestReplayRecordedHistories(t *testing.T) {
	replaytest.Replay(t, func(r worker.WorkflowReplayer) {
		r.RegisterWorkflow(workflows.SelfCheck)
		r.RegisterWorkflow(workflows.Ingest)
		r.RegisterWorkflow(workflows.Maintain)
		r.RegisterWorkflow(workflows.TrainingSet)
		r.RegisterWorkflow(workflows.Materialize)
		r.RegisterWorkflow(workflows.Train)
		r.RegisterWorkflow(workflows.TrainTrials)
		r.RegisterWorkflow(workflows.Promote)
		r.RegisterWorkflow(workflows.BatchScore)
	})
}
