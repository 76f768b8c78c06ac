package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/sluice-ml/sluice/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs, so a
// change to workflow logic that would break running workflows fails here
// until it is put behind workflow.GetVersion. Record new histories with
// `go test -tags record -run TestRecordHistories ./workflows`.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/histories")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.SelfCheck)
			r.RegisterWorkflow(workflows.Ingest)
			r.RegisterWorkflow(workflows.Maintain)
			r.RegisterWorkflow(workflows.TrainingSet)
			r.RegisterWorkflow(workflows.Materialize)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
