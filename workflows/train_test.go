package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/scoring"
	"github.com/sluice-ml/sluice/sweep"
	"github.com/sluice-ml/sluice/testkit/benchdata"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/training"
	"github.com/sluice-ml/sluice/workers"
	"github.com/sluice-ml/sluice/workflows"
)

// world is a lake with spend events and churn labels, a registry, and a
// real Temporal server with workers for the training workflows.
type world struct {
	ctx     context.Context
	db      *pgxpool.Pool
	dbURL   string
	catalog string // the catalog's name
	cat     *lakehouse.Catalog
	lake    lakehouse.ObjectStore
	srv     *temporaltest.TestServer
}

// newWorld is a Temporal server with workers on the queues, a database
// and lake folders holding raw churn tables.
func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldOn(t, lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"}, lakehouse.Options{URL: "file://" + t.TempDir() + "/objects"})
}

// newWorldOn is newWorld with the given warehouse and object store.
func newWorldOn(t testing.TB, warehouse, objects lakehouse.Options) *world {
	t.Helper()
	ctx := testenv.Context(t)
	dbURL := testenv.PostgresURL(t)
	db, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	catalog := fmt.Sprintf("train_%d", time.Now().UnixNano())
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: warehouse, Name: catalog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	lake, err := lakehouse.Open(ctx, objects)
	if err != nil {
		t.Fatal(err)
	}
	// Customers who spend little churn.
	if err := benchdata.ChurnTables(ctx, cat, "raw.", 400, 3); err != nil {
		t.Fatal(err)
	}

	var opts []temporaltest.TestServerOption
	tt, isT := t.(*testing.T)
	if isT {
		opts = append(opts, temporaltest.WithT(tt))
	}
	srv := temporaltest.NewServer(opts...)
	if !isT {
		t.Cleanup(srv.Stop)
	}
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) {
		r.RegisterWorkflow(workflows.Train)
		r.RegisterWorkflow(workflows.TrainTrials)
		r.RegisterWorkflow(workflows.TrainingSet)
		r.RegisterWorkflow(workflows.Promote)
		r.RegisterWorkflow(workflows.BatchScore)
	})
	srv.NewWorkerWithOptions(workflows.QueueIO, func(r worker.Registry) {
		r.RegisterActivity(&activities.Features{Store: &features.Store{Catalog: cat, TempDir: t.TempDir()}})
		r.RegisterActivity(&activities.Models{Registry: &registry.Registry{DB: db}, Experiments: &training.Experiments{DB: db}, Lake: lake})
		r.RegisterActivity(&activities.Scoring{Scorer: &scoring.Scorer{Catalog: cat, DB: db, Lake: lake, TempDir: t.TempDir(), FeatureStore: &features.Store{Catalog: cat, TempDir: t.TempDir()}}})
	}, keepAlive)
	srv.NewWorkerWithOptions(workflows.QueueCPU, func(r worker.Registry) {
		r.RegisterActivity(&activities.Training{Trainer: &training.Trainer{Features: &features.Store{Catalog: cat}, Lake: lake, Worker: "w1", Device: "cpu"}})
	}, keepAlive)
	return &world{ctx: ctx, db: db, dbURL: dbURL, catalog: catalog, cat: cat, lake: lake, srv: srv}
}

// keepAlive makes the test workers heartbeat running activities as the
// real workers do.
var keepAlive = worker.Options{Interceptors: []interceptor.WorkerInterceptor{workers.KeepAlive()}}

// trainRequest sweeps a churn model on the world's data.
func trainRequest(model string, params map[string]string, sweep map[string][]string) workflows.TrainRequest {
	return workflows.TrainRequest{Model: model, Task: "binary", Algorithm: "gbdt", Params: params, Sweep: sweep, CheckpointEvery: 10,
		TrainingSet: workflows.TrainingSetRequest{LabelTable: "raw.labels", Key: "customer_id", LabelTime: "label_at", LabelColumn: "churned",
			Views: []activities.SourcedView{{Table: "raw.txn", View: activities.View{Name: "spend", Key: "customer_id", Timestamp: "ts",
				Aggregations: []activities.Aggregation{{Column: "amount", Function: "count", Window: 30 * 24 * time.Hour}, {Column: "amount", Function: "sum", Window: 7 * 24 * time.Hour}}}}}}}
}

func (w *world) train(t testing.TB, id string, req workflows.TrainRequest) workflows.TrainResult {
	t.Helper()
	run, err := w.srv.GetDefaultClient().ExecuteWorkflow(w.ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl}, workflows.Train, req)
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.TrainResult
	if err := run.Get(w.ctx, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTrainSweepsRecordsAndRegisters(t *testing.T) {
	w := newWorld(t)
	ctx, db, lake := w.ctx, w.db, w.lake
	model := fmt.Sprintf("churn_%d", time.Now().UnixNano())
	res := w.train(t, "train/"+model, trainRequest(model, map[string]string{"trees": "30", "threads": "1"}, map[string][]string{"max_depth": {"1", "3"}}))
	if len(res.Trials) != 2 || res.Metric != "auc" || res.Test["auc"] < 0.7 || res.Version.Version != 1 {
		t.Fatalf("result: %d trials, metric %s, test %v, version %+v", len(res.Trials), res.Metric, res.Test, res.Version)
	}
	other := 1 - res.Best
	if res.Trials[res.Best].Metrics["auc"] < res.Trials[other].Metrics["auc"] {
		t.Errorf("best trial %d has auc %v, the other %v", res.Best, res.Trials[res.Best].Metrics["auc"], res.Trials[other].Metrics["auc"])
	}
	v := res.Version
	if v.ArtifactKey != "models/"+model+"/v1/model.sluice" || v.TrainingSnapshots["training."+model] == 0 || v.TrainingSnapshots["raw.txn"] == 0 ||
		v.Metrics["valid_auc"] == 0 || v.WorkflowID != "train/"+model {
		t.Errorf("version %+v", v)
	}
	if rc, err := lake.Get(ctx, v.ArtifactKey); err != nil {
		t.Errorf("the artifact: %v", err)
	} else {
		rc.Close()
	}
	var trials, best int
	if err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE best) FROM sluice.experiments WHERE model = $1`, model).Scan(&trials, &best); err != nil || trials != 2 || best != 1 {
		t.Errorf("experiments: %d trials, %d best (%v)", trials, best, err)
	}
	if res.Trials[0].Worker != "w1" || res.Trials[0].Device != "cpu" {
		t.Errorf("trial record %+v", res.Trials[0])
	}

	// A random search over the same training set: the set is reused, the
	// trials are the seeded draws, and the version is the next one.
	req := trainRequest(model, map[string]string{"trees": "30", "threads": "1"}, map[string][]string{"max_depth": {"int(1, 4)"}, "learning_rate": {"loguniform(0.05, 0.3)"}})
	req.Search = sweep.Search{Method: sweep.Random, Trials: 3, Seed: 11}
	again := w.train(t, "train/"+model+"/random", req)
	want, _ := sweep.Trials(req.Params, req.Sweep, req.Search)
	if !again.TrainingSet.Reused || again.TrainingSet.SnapshotID != res.TrainingSet.SnapshotID || again.TrainingSet.Rows != res.TrainingSet.Rows {
		t.Errorf("second training set %+v; want snapshot %d reused", again.TrainingSet, res.TrainingSet.SnapshotID)
	}
	if len(again.Trials) != 3 || again.Version.Version != 2 || again.Version.Params["learning_rate"] != want[again.Best]["learning_rate"] {
		t.Errorf("random search: %d trials, version %+v; want 3 trials and v2 with params %v", len(again.Trials), again.Version, want[again.Best])
	}
	req.TrainingSet.Rebuild = true
	req.Search.Trials = 1
	if rebuilt := w.train(t, "train/"+model+"/rebuild", req); rebuilt.TrainingSet.Reused || rebuilt.TrainingSet.SnapshotID == res.TrainingSet.SnapshotID {
		t.Errorf("a rebuild reused the set: %+v", rebuilt.TrainingSet)
	}
}

func TestTrainRefusesABadSearchBeforeBuilding(t *testing.T) {
	w := newWorld(t)
	model := fmt.Sprintf("churn_%d", time.Now().UnixNano())
	req := trainRequest(model, nil, map[string][]string{"max_depth": {"uniform(1, 3)"}})
	run, err := w.srv.GetDefaultClient().ExecuteWorkflow(w.ctx, client.StartWorkflowOptions{ID: "train/" + model, TaskQueue: workflows.QueueControl}, workflows.Train, req)
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(w.ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "random search") {
		t.Fatalf("got %v; want the sweep refused", err)
	}
	if ok, _ := w.cat.Exists(w.ctx, "training."+model); ok {
		t.Error("the training set was built for a sweep that cannot run")
	}
}
