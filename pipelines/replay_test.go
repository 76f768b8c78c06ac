package pipelines_test

import (
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/testkit/replaytest"
)

// TestReplayRecordedHistories replays recorded Pipeline runs, so a change
// that would break running pipelines fails here until it is put behind
// workflow.GetVersion. Record with
// `go test -tags record -run TestRecordHistories ./pipelines`.
func TestReplayRecordedHistories(t *testing.T) {
	replaytest.Replay(t, func(r worker.WorkflowReplayer) { r.RegisterWorkflow(pipelines.Pipeline) })
}
