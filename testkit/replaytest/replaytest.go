// Package replaytest records workflow histories from real runs and
// replays them, so a change to workflow code that would break running
// workflows fails a test until it is put behind workflow.GetVersion.
package replaytest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/encoding/protojson"
)

// Dir is where a package keeps its recorded histories.
const Dir = "testdata/histories"

// Save writes the history of a finished run to Dir/<id>.json. Record runs
// with the file's name as the workflow id: Replay replays under that id,
// which child workflows' ids derive from.
func Save(t testing.TB, ctx context.Context, c client.Client, id, runID string) {
	t.Helper()
	var h historypb.History
	it := c.GetWorkflowHistory(ctx, id, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(Dir, id+".json")
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d events)", p, len(h.Events))
}

// Replay replays every history under Dir with the workflows register
// registers, each as a subtest.
func Replay(t *testing.T, register func(worker.WorkflowReplayer)) {
	files, err := filepath.Glob(filepath.Join(Dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no recorded histories under %s", Dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			register(r)
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
