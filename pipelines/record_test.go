//go:build record

package pipelines_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluice-ml/sluice/internal/pipelinetest"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/workflows"
)

// TestRecordHistories runs a pipeline (ingest only) on a real server and
// saves its history for TestReplayRecordedHistories:
// go test -tags record -run TestRecordHistories ./pipelines
func TestRecordHistories(t *testing.T) {
	pt := pipelinetest.New(t, "")
	ctx, project := pt.Ctx, pt.Name
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	pt.Workers(srv, nil, nil)
	c := srv.GetDefaultClient()
	name := "pipeline-v1"
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: name, TaskQueue: workflows.QueueControl}, pipelines.Pipeline,
		pipelines.Request{Project: project, Pipeline: "p", AsOf: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var h historypb.History
	it := c.GetWorkflowHistory(ctx, name, run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
	if err := os.WriteFile(filepath.Join("testdata", "histories", name+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
