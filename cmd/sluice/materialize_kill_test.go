package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/workflows"
)

// TestMaterializeSurvivesSIGKILLOfAnIOWorker kills the io worker that runs
// a materialization (offline table and online store) with SIGKILL; the
// activity runs again on the other worker, and the feature table and the
// online store hold one row per entity, equal to an uninterrupted run's.
func TestMaterializeSurvivesSIGKILLOfAnIOWorker(t *testing.T) {
	const customers = 40_000
	cl := newCluster(t, "raw.mk_", customers, 11)
	ctx, db, cat, srv, env := cl.ctx, cl.db, cl.cat, cl.srv, cl.env
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) { r.RegisterWorkflow(workflows.Materialize) })
	victim := startSluice(t, env, "worker", "--queues", "io")
	victim.waitFor(t, "worker polling", 60*time.Second)
	survivor := startSluice(t, env, "worker", "--queues", "io")
	survivor.waitFor(t, "worker polling", 60*time.Second)

	c := srv.GetDefaultClient()
	asOf := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	view := func(name string) activities.SourcedView {
		return activities.SourcedView{Table: "raw.mk_txn", View: activities.View{Name: name, Key: "customer_id", Timestamp: "ts",
			Aggregations: []activities.Aggregation{{Column: "amount", Function: "count", Window: 30 * 24 * time.Hour},
				{Column: "amount", Function: "sum", Window: 7 * 24 * time.Hour}}}}
	}
	stamp := time.Now().UnixNano()
	killed, clean := fmt.Sprintf("mk_killed_%d", stamp), fmt.Sprintf("mk_clean_%d", stamp)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "materialize/" + killed, TaskQueue: workflows.QueueControl},
		workflows.Materialize, workflows.MaterializeRequest{View: view(killed), Online: true, AsOf: asOf, Full: true, HeartbeatTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !waitRunningOn(t, ctx, c, run, "Materialize", victim.cmd.Process.Pid) {
		t.Skip("the materialization ended before the victim was seen running it (it ran on the survivor)")
	}
	time.Sleep(200 * time.Millisecond) // into the work
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.exit(t, 10*time.Second)
	var got workflows.MaterializeResult
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("the run after SIGKILL: %v", err)
	}
	// The killed attempt timed out on its heartbeat and the activity ran
	// again: the completed attempt is the second or later.
	timedOut := false
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			timedOut = true
		}
	}
	if !timedOut {
		t.Fatal("the materialization never ran a second attempt: the kill missed it")
	}
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "materialize/" + clean, TaskQueue: workflows.QueueControl},
		workflows.Materialize, workflows.MaterializeRequest{View: view(clean), Online: true, AsOf: asOf, Full: true})
	if err != nil {
		t.Fatal(err)
	}
	var want workflows.MaterializeResult
	if err := run.Get(ctx, &want); err != nil {
		t.Fatal(err)
	}
	// The lake: the same rows, one per entity.
	lake := func(name string) (rows int, entities int, sum float64) {
		sr, err := cat.Scan(ctx, "features."+name, lakehouse.ScanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range sr.Records {
			for c, f := range r.Schema().Fields() {
				for i := range int(r.NumRows()) {
					if f.Name == "customer_id" {
						seen[r.Column(c).ValueStr(i)] = true
					} else if strings.HasSuffix(f.Name, "amount_sum_7d") && r.Column(c).IsValid(i) {
						var v float64
						fmt.Sscan(r.Column(c).ValueStr(i), &v)
						sum += v
					}
				}
			}
			rows += int(r.NumRows())
			r.Release()
		}
		return rows, len(seen), sum
	}
	kr, ke, ks := lake(killed)
	cr, ce, cs := lake(clean)
	if kr != ke || kr != cr || ke != ce || kr == 0 || fmt.Sprintf("%.6f", ks) != fmt.Sprintf("%.6f", cs) {
		t.Fatalf("after the kill the lake holds %d rows of %d entities (sum %.6f); uninterrupted %d of %d (sum %.6f)", kr, ke, ks, cr, ce, cs)
	}
	// The online store: one row per entity, as many as uninterrupted.
	online := func(name string) (rows, distinct int64) {
		if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*), count(DISTINCT customer_id) FROM sluice_online.%s`, name)).Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		return rows, distinct
	}
	if kr, kd := online(killed); kr != kd || kr != got.Runs[0].Online || kr != want.Runs[0].Online {
		t.Fatalf("the online store holds %d rows of %d entities; the runs loaded %d and %d", kr, kd, got.Runs[0].Online, want.Runs[0].Online)
	}
	t.Logf("%d entities; the materialization ran again after the kill", ke)
}
