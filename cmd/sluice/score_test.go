package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/training"
	"github.com/sluice-ml/sluice/workflows"
)

// TestBatchScoreSurvivesSIGKILLOfAnIOWorker scores a population over two
// `sluice worker --queues io` processes, SIGKILLs one while it scores a
// part, and checks that the run completes with every entity exactly once
// in PostgreSQL and in the lake.
func TestBatchScoreSurvivesSIGKILLOfAnIOWorker(t *testing.T) {
	const customers = 40_000
	cl := newCluster(t, "raw.bs_", customers, 9)
	ctx, db, cat, srv, env := cl.ctx, cl.db, cl.cat, cl.srv, cl.env
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) {
		r.RegisterWorkflow(workflows.Train)
		r.RegisterWorkflow(workflows.TrainTrials)
		r.RegisterWorkflow(workflows.TrainingSet)
		r.RegisterWorkflow(workflows.BatchScore)
	})
	srv.NewWorker(workflows.QueueCPU, func(r worker.Registry) {
		r.RegisterActivity(&activities.Training{Trainer: &training.Trainer{Features: &features.Store{Catalog: cat}, Lake: cl.objects, Worker: "test", Device: "cpu"}})
	})
	victim := startSluice(t, env, "worker", "--queues", "io", "--slots", "2")
	victim.waitFor(t, "worker polling", 60*time.Second)
	metricsPort := freePorts(t, 1)[0]
	survivor := startSluice(t, env, "worker", "--queues", "io", "--slots", "2", "--metrics-addr", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	survivor.waitFor(t, "worker polling", 60*time.Second)

	views := []activities.SourcedView{{Table: "raw.bs_txn", View: activities.View{Name: "spend", Key: "customer_id", Timestamp: "ts",
		Aggregations: []activities.Aggregation{{Column: "amount", Function: "count", Window: 14 * 24 * time.Hour}, {Column: "amount", Function: "sum", Window: 7 * 24 * time.Hour}}}}}
	c := srv.GetDefaultClient()
	model := fmt.Sprintf("bs_%d", time.Now().UnixNano())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "train/" + model, TaskQueue: workflows.QueueControl}, workflows.Train,
		workflows.TrainRequest{Model: model, Task: "binary", Algorithm: "gbdt", Params: map[string]string{"trees": "100", "max_depth": "6"},
			TrainingSet: workflows.TrainingSetRequest{LabelTable: "raw.bs_labels", Key: "customer_id", LabelTime: "label_at", LabelColumn: "churned", Views: views}})
	if err != nil {
		t.Fatal(err)
	}
	var trained workflows.TrainResult
	if err := run.Get(ctx, &trained); err != nil {
		t.Fatal(err)
	}
	if _, err := (&registry.Registry{DB: db}).SetAlias(ctx, model, "champion", trained.Version.Version, "test", ""); err != nil {
		t.Fatal(err)
	}

	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "score/" + model, TaskQueue: workflows.QueueControl}, workflows.BatchScore,
		workflows.ScoreRequest{Model: model, AsOf: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), Population: "raw.bs_labels", Key: "customer_id",
			Views: views, Parts: 8, Concurrency: 4, HeartbeatTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !waitRunningOn(t, ctx, c, run, "ScorePart", victim.cmd.Process.Pid) {
		t.Fatal("the run ended before the victim scored a part")
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.exit(t, 10*time.Second)
	var res workflows.ScoreResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("the run after SIGKILL: %v", err)
	}
	var rows, distinct int
	if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT customer_id) FROM predictions.`+model).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if res.Rows != customers || rows != customers || distinct != customers {
		t.Fatalf("PostgreSQL holds %d rows of %d entities, the run says %d; want %d once each", rows, distinct, res.Rows, customers)
	}
	sr, err := cat.Scan(ctx, "predictions."+model, lakehouse.ScanOptions{Columns: []string{"customer_id"}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	n := 0
	for _, r := range sr.Records {
		for i := range int(r.NumRows()) {
			seen[r.Column(0).ValueStr(i)] = true
		}
		n += int(r.NumRows())
		r.Release()
	}
	if n != customers || len(seen) != customers {
		t.Fatalf("the lake holds %d rows of %d entities; want %d once each", n, len(seen), customers)
	}
	// Which parts ran again after the kill, for the log.
	retried := 0
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.Attempt > 1 {
			retried++
		}
	}
	t.Logf("%d activity attempts retried after the kill; timings %v", retried, res.Timings)

	// The survivor's metrics count what it did.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`sluice_rows_processed_total{activity="ScorePart",queue="sluice-io"}`, `sluice_activity_seconds_bucket{activity="ScorePublish"`,
		`sluice_task_queue_lag_seconds_count{activity="ScorePart",queue="sluice-io"}`, `sluice_activities_total{activity="ScorePart",outcome="ok",queue="sluice-io"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the worker's /metrics lacks %s", want)
		}
	}
}

// waitRunningOn waits until the run's pending activity of type activity
// has been started by the worker process pid. It fails the test when the
// run ends first or 2 minutes pass; it reports false when the run ended
// before the worker was seen running it, for callers that may skip.
func waitRunningOn(t *testing.T, ctx context.Context, c client.Client, run client.WorkflowRun, activity string, pid int) bool {
	t.Helper()
	id := fmt.Sprintf("%d@", pid)
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d never ran %s", pid, activity)
		}
		desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		if desc.WorkflowExecutionInfo.Status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return false
		}
		for _, pa := range desc.PendingActivities {
			if pa.ActivityType.GetName() == activity && pa.State == enums.PENDING_ACTIVITY_STATE_STARTED &&
				strings.HasPrefix(pa.LastWorkerIdentity, id) {
				return true
			}
		}
	}
}
