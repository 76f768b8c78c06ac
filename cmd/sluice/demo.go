package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sluice-ml/sluice/workflows"
)

// runDemo starts the dev stack, runs the self-check through it and prints
// where to look. Until the full pipeline lands, the self-check is the demo.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, dev := defaultConfig(), defaultDevOptions()
	f := devFlags("demo", stderr, &cfg, &dev)
	exit := false
	f.BoolVar(&exit, "exit", false, "stop the stack after the demo instead of keeping it up")
	if err := f.parse(args, false); err != nil {
		return err
	}
	st, err := startStack(ctx, cfg, dev, stdout)
	if err != nil {
		return err
	}
	id := "demo/selfcheck/" + time.Now().UTC().Format("20060102T150405.000Z")
	res, runID, err := selfCheck(ctx, st.client, id, workflows.SelfCheckInput{Note: "make demo", Steps: 3}, true)
	if err != nil {
		_ = st.close()
		return err
	}
	printSelfCheck(stdout, id, res)
	fmt.Fprintf(stdout, "\nSee the run in the Temporal UI: %s\n", workflowURL(st.uiURL, cfg.Temporal.Namespace, id, runID))
	if !exit {
		fmt.Fprintln(stdout, "The stack stays up; press Ctrl-C to stop.")
		<-ctx.Done()
	}
	fmt.Fprintln(stdout, "stopping...")
	return st.close()
}
