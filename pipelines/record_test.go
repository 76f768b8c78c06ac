//go:build record

package pipelines_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/testenv"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/workflows"
)

// TestRecordHistories runs a pipeline (ingest only) on a real server and
// saves its history for TestReplayRecordedHistories:
// go test -tags record -run TestRecordHistories ./pipelines
func TestRecordHistories(t *testing.T) {
	ctx := testenv.Context(t)
	dbURL := testenv.PostgresURL(t)
	db, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: lakehouse.Options{URL: "file://" + t.TempDir()},
		Name: fmt.Sprintf("rec_%d", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.csv"), []byte("id,ts,amount,y\na,2026-11-01T00:00:00Z,1.5,true\n"), 0o644)
	project := fmt.Sprintf("rec_%d", time.Now().UnixNano())
	text := "project: " + project + "\nsources:\n  s: {csv: s.csv, key: id, timestamp: ts}\nentities:\n  e: {key: id}\n" +
		"feature_views:\n  v: {entity: e, source: s, columns: [amount]}\nmodels:\n  m: {task: binary, label: {source: s, column: y}, features: [v]}\n" +
		"pipelines:\n  p: {models: [m], steps: [ingest]}\n"
	if _, _, _, err := (&specstore.Store{DB: db}).Apply(ctx, project, text, dir, "recorder"); err != nil {
		t.Fatal(err)
	}
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) {
		r.RegisterWorkflow(pipelines.Pipeline)
		r.RegisterWorkflow(workflows.Ingest)
	})
	srv.NewWorker(workflows.QueueIO, func(r worker.Registry) {
		r.RegisterActivity(&pipelines.Planner{Specs: &specstore.Store{DB: db}})
		r.RegisterActivity(&activities.Ingest{Catalog: cat, DB: db})
	})
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
