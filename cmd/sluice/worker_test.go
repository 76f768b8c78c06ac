package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/workflows"
)

// TestWorkerSurvivesSIGKILL kills a worker process with SIGKILL while its
// activity runs; a new worker process resumes the activity from its last
// heartbeat and completes the workflow.
func TestWorkerSurvivesSIGKILL(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	dbURL := testenv.PostgresURL(t)
	env := []string{
		"SLUICE_TEMPORAL_ADDRESS=" + srv.GetFrontendHostPort(),
		"SLUICE_TEMPORAL_NAMESPACE=" + srv.GetDefaultNamespace(),
		"SLUICE_DATABASE_URL=" + dbURL,
		"SLUICE_LAKE=file://" + t.TempDir() + "/lake",
	}
	workerArgs := []string{"worker", "--queues", "control,io"}
	first := startSluice(t, env, workerArgs...)
	first.waitFor(t, "worker polling", 60*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := srv.GetDefaultClient()
	const steps = 10
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "it/durability", TaskQueue: workflows.QueueControl},
		workflows.SelfCheck, workflows.SelfCheckInput{Note: "survives SIGKILL", Steps: steps, StepDelay: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}

	// Wait until the server holds a heartbeat with progress, then kill.
	deadline := time.Now().Add(60 * time.Second)
	for {
		desc, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		if pa := desc.PendingActivities; len(pa) > 0 && pa[0].HeartbeatDetails != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the activity never heartbeated")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.exit(t, 10*time.Second)

	second := startSluice(t, env, workerArgs...)
	second.waitFor(t, "worker polling", 60*time.Second)
	var res workflows.SelfCheckResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("workflow after the worker was killed: %v", err)
	}
	p := res.Probe
	if p.StepsDone != steps {
		t.Errorf("steps done %d, want %d", p.StepsDone, steps)
	}
	if p.Attempt < 2 {
		t.Errorf("finished on attempt %d; the killed attempt should have been retried", p.Attempt)
	}
	if p.ResumedFrom == 0 || p.ResumedFrom >= steps {
		t.Errorf("resumed from step %d; want a resume from the killed attempt's heartbeat", p.ResumedFrom)
	}
}

// TestIngestThroughWorkerProcess runs the Ingest workflow on a real server
// with `sluice worker` as a separate process, and reads the result back
// from the lake.
func TestIngestThroughWorkerProcess(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	dbURL := testenv.PostgresURL(t)
	lakeURL := "file://" + t.TempDir() + "/lake"
	env := []string{
		"SLUICE_TEMPORAL_ADDRESS=" + srv.GetFrontendHostPort(),
		"SLUICE_TEMPORAL_NAMESPACE=" + srv.GetDefaultNamespace(),
		"SLUICE_DATABASE_URL=" + dbURL,
		"SLUICE_LAKE=" + lakeURL,
	}
	w := startSluice(t, env, "worker", "--queues", "control,io")
	w.waitFor(t, "worker polling", 60*time.Second)

	csvPath := filepath.Join(t.TempDir(), "customers.csv")
	body := "customer_id,plan,updated_at\nC1,pro,2026-11-01T00:00:00Z\nC2,basic,2026-11-02T00:00:00Z\nC3,pro,2026-11-03T00:00:00Z\n"
	if err := os.WriteFile(csvPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := srv.GetDefaultClient().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "ingest/customers/it", TaskQueue: workflows.QueueControl},
		workflows.Ingest, workflows.IngestRequest{Source: "customers", Format: "csv", Path: csvPath, Key: "customer_id", Timestamp: "updated_at"})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.IngestResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Ingest.Rows != 3 || res.Ingest.Table != "raw.customers" {
		t.Errorf("result %+v", res.Ingest)
	}
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: dbURL, Lake: lakehouse.Options{URL: lakeURL}})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	info, err := cat.Describe(ctx, "raw.customers")
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows() != 3 || !strings.Contains(info.Partition, "day") || info.Snapshots[0].RunID != "ingest/customers/it" {
		t.Errorf("table %+v", info)
	}
}
