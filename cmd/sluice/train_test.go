package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/testkit/benchdata"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/training"
	"github.com/sluice-ml/sluice/workflows"
)

// TestSweepSurvivesSIGKILLOfATrialWorker runs a 4-trial sweep over two
// `sluice worker --queues cpu` processes, SIGKILLs one while it trains a
// trial past a checkpoint, and checks that the trial resumed from its
// checkpoint on the other worker and that the sweep picked the same best
// model as an uninterrupted run.
func TestSweepSurvivesSIGKILLOfATrialWorker(t *testing.T) {
	cl := newCluster(t, "raw.sk_", 1500, 5)
	ctx, srv, env := cl.ctx, cl.srv, cl.env
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) {
		r.RegisterWorkflow(workflows.Train)
		r.RegisterWorkflow(workflows.TrainTrials)
		r.RegisterWorkflow(workflows.TrainingSet)
	})
	srv.NewWorker(workflows.QueueIO, func(r worker.Registry) {
		r.RegisterActivity(&activities.Features{Store: &features.Store{Catalog: cl.cat, TempDir: t.TempDir()}})
		r.RegisterActivity(&activities.Models{Registry: &registry.Registry{DB: cl.db}, Experiments: &training.Experiments{DB: cl.db}, Lake: cl.objects})
	})
	victim := startSluice(t, env, "worker", "--queues", "cpu")
	victim.waitFor(t, "worker polling", 60*time.Second)
	survivor := startSluice(t, env, "worker", "--queues", "cpu")
	survivor.waitFor(t, "worker polling", 60*time.Second)

	req := workflows.TrainRequest{Model: "sk", Task: "binary", Algorithm: "gbdt", Params: map[string]string{"trees": "400", "threads": "1"},
		Sweep: map[string][]string{"max_depth": {"2", "4"}, "learning_rate": {"0.05", "0.1"}}, CheckpointEvery: 25, Concurrency: 4,
		HeartbeatTimeout: 3 * time.Second,
		TrainingSet: workflows.TrainingSetRequest{LabelTable: "raw.sk_labels", Key: "customer_id", LabelTime: "label_at", LabelColumn: "churned",
			Views: []activities.SourcedView{{Table: "raw.sk_txn", View: activities.View{Name: "spend", Key: "customer_id", Timestamp: "ts",
				Aggregations: []activities.Aggregation{{Column: "amount", Function: "count", Window: 14 * 24 * time.Hour}, {Column: "amount", Function: "mean", Window: 7 * 24 * time.Hour}}}}}}}
	c := srv.GetDefaultClient()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train/sk/killed", TaskQueue: workflows.QueueControl}, workflows.Train, req)
	if err != nil {
		t.Fatal(err)
	}
	victimID := fmt.Sprintf("%d@", victim.cmd.Process.Pid)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no trial on the victim got past a checkpoint")
		}
		desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		past := false
		for _, pa := range desc.PendingActivities {
			if strings.HasPrefix(pa.LastWorkerIdentity, victimID) && pa.HeartbeatDetails != nil {
				past = true
			}
		}
		if past {
			break
		}
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.exit(t, 10*time.Second)
	var killed workflows.TrainResult
	if err := run.Get(ctx, &killed); err != nil {
		t.Fatalf("the sweep after SIGKILL: %v", err)
	}
	resumed := false
	for _, tr := range killed.Trials {
		if tr.ResumedFrom > 0 {
			resumed = true
			if !strings.HasSuffix(tr.Worker, fmt.Sprintf("/%d", survivor.cmd.Process.Pid)) {
				t.Errorf("trial %d resumed on %s, want the survivor", tr.Trial, tr.Worker)
			}
		}
	}
	if !resumed {
		t.Fatalf("no trial resumed from a checkpoint: %+v", killed.Trials)
	}

	// The same sweep, uninterrupted, picks the same model.
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train/sk/whole", TaskQueue: workflows.QueueControl}, workflows.Train, req)
	if err != nil {
		t.Fatal(err)
	}
	var whole workflows.TrainResult
	if err := run.Get(ctx, &whole); err != nil {
		t.Fatal(err)
	}
	if whole.Best != killed.Best || whole.Trials[whole.Best].Metrics["auc"] != killed.Trials[killed.Best].Metrics["auc"] {
		t.Errorf("best trial %d (auc %v) after the kill, %d (auc %v) uninterrupted", killed.Best, killed.Trials[killed.Best].Metrics["auc"],
			whole.Best, whole.Trials[whole.Best].Metrics["auc"])
	}
	for i := range whole.Trials {
		if whole.Trials[i].Metrics["auc"] != killed.Trials[i].Metrics["auc"] {
			t.Errorf("trial %d: auc %v after the kill, %v uninterrupted", i+1, killed.Trials[i].Metrics["auc"], whole.Trials[i].Metrics["auc"])
		}
	}
}

// cluster is what the worker-process tests share: PostgreSQL, a local
// lake holding benchdata's churn tables, a real Temporal server, and the
// environment that points `sluice worker` processes at them.
type cluster struct {
	ctx     context.Context
	db      *pgxpool.Pool
	cat     *lakehouse.Catalog
	objects lakehouse.ObjectStore
	srv     *temporaltest.TestServer
	env     []string
}

func newCluster(t *testing.T, prefix string, customers int, seed uint64) *cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	dbURL := testenv.PostgresURL(t)
	lakeURL := "file://" + t.TempDir() + "/lake"
	db, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: lakehouse.Options{URL: lakeURL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	objects, err := lakehouse.Open(ctx, lakehouse.Options{URL: lakeURL})
	if err != nil {
		t.Fatal(err)
	}
	if err := benchdata.ChurnTables(ctx, cat, prefix, customers, seed); err != nil {
		t.Fatal(err)
	}
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	env := []string{
		"SLUICE_TEMPORAL_ADDRESS=" + srv.GetFrontendHostPort(),
		"SLUICE_TEMPORAL_NAMESPACE=" + srv.GetDefaultNamespace(),
		"SLUICE_DATABASE_URL=" + dbURL,
		"SLUICE_LAKE=" + lakeURL,
	}
	return &cluster{ctx: ctx, db: db, cat: cat, objects: objects, srv: srv, env: env}
}
