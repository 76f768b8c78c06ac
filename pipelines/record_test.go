//go:build record

package pipelines_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/testkit/pipelinetest"
	"github.com/sluice-ml/sluice/testkit/replaytest"
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
	replaytest.Save(t, ctx, c, name, run.GetRunID())
}
