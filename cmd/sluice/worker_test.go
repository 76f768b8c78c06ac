package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/internal/testenv"
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
