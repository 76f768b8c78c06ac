package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/workflows"
)

func runSelfCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("selfcheck", stderr)
	cfg.temporalFlags(f)
	var in workflows.SelfCheckInput
	f.StringVar(&in.Queue, "queue", "io", "queue whose workers run the probe: io, cpu or gpu")
	f.StringVar(&in.Note, "note", "sluice selfcheck", "note stored with the PostgreSQL row")
	f.IntVar(&in.Steps, "steps", 3, "checkpointed steps the probe takes")
	f.DurationVar(&in.StepDelay, "step-delay", 0, "pause after each step")
	wait := true
	f.BoolVar(&wait, "wait", true, "wait for the result")
	if err := f.parse(args, false); err != nil {
		return err
	}
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	id := "selfcheck/" + time.Now().UTC().Format("20060102T150405.000Z")
	res, _, err := selfCheck(ctx, tc, id, in, wait)
	if err != nil {
		return err
	}
	if wait {
		printSelfCheck(stdout, id, res)
	} else {
		fmt.Fprintf(stdout, "started %s\n", id)
	}
	return nil
}

// selfCheck starts the self-check workflow and, when wait is set, waits for
// its result. It returns the run id too, for links to the UI.
func selfCheck(ctx context.Context, tc client.Client, id string, in workflows.SelfCheckInput, wait bool) (workflows.SelfCheckResult, string, error) {
	var res workflows.SelfCheckResult
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                 id,
		TaskQueue:          workflows.QueueControl,
		WorkflowRunTimeout: 15 * time.Minute,
	}, workflows.SelfCheck, in)
	if err != nil {
		return res, "", fmt.Errorf("starting self-check: %w", err)
	}
	if !wait {
		return res, run.GetRunID(), nil
	}
	if err := run.Get(ctx, &res); err != nil {
		return res, run.GetRunID(), fmt.Errorf("self-check %s: %w", id, err)
	}
	return res, run.GetRunID(), nil
}

func printSelfCheck(w io.Writer, id string, res workflows.SelfCheckResult) {
	fmt.Fprintf(w, "self-check %s passed\n", id)
	fmt.Fprintf(w, "  PostgreSQL  wrote and read back sluice.selfcheck row (note %q)\n", res.Probe.RowNote)
	fmt.Fprintf(w, "  Lake        wrote and read back %s (%d checkpointed steps, attempt %d)\n", res.Probe.LakeKey, res.Probe.StepsDone, res.Probe.Attempt)
}

// workflowURL links to a workflow run's history in the Temporal UI.
func workflowURL(uiURL, namespace, id, runID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", uiURL, url.PathEscape(namespace), url.PathEscape(id), url.PathEscape(runID))
}
