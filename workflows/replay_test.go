package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

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
			r.RegisterWorkflow(workflows.Train)
			r.RegisterWorkflow(workflows.Promote)
			r.RegisterWorkflow(workflows.BatchScore)
			// The recorder ran each workflow with its file's name as the id,
			// which ids of child workflows derive from.
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			id := strings.TrimSuffix(filepath.Base(f), ".json")
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: "replay"}}); err != nil {
				t.Fatalf("replaying %s: %v", f, err)
			}
		})
	}
}
