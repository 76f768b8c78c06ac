package pipelines

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/workflows"
)

// ErrAlreadyRan is Start's answer, with StartOptions.Once, for a
// pipeline that already ran (or runs) as of the time.
var ErrAlreadyRan = errors.New("pipelines: the pipeline already ran as of that time")

// StartOptions name a pipeline run to start.
type StartOptions struct {
	// Namespace is the Temporal namespace, where the Sluice* search
	// attributes are registered (once) so runs can be listed by them.
	Namespace string
	Project   string
	Pipeline  string
	// AsOf is the run's time; zero means now, to the second.
	AsOf time.Time
	// Once returns ErrAlreadyRan when the run already started; otherwise
	// Start returns the run that did.
	Once bool
}

// Start starts a pipeline run under its deterministic id (RunID), so the
// same pipeline and as-of time runs once: the API and the CLI both start
// runs here.
func Start(ctx context.Context, c client.Client, o StartOptions) (client.WorkflowRun, error) {
	if o.AsOf.IsZero() {
		o.AsOf = time.Now().UTC().Truncate(time.Second)
	}
	attrs := EnsureSearchAttributes(ctx, c, o.Namespace) == nil
	id := RunID(o.Project, o.Pipeline, o.AsOf)
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, WorkflowExecutionErrorWhenAlreadyStarted: o.Once}
	run, err := c.ExecuteWorkflow(ctx, opts, Pipeline, Request{Project: o.Project, Pipeline: o.Pipeline, AsOf: o.AsOf, SearchAttributes: attrs})
	if started := (*serviceerror.WorkflowExecutionAlreadyStarted)(nil); errors.As(err, &started) {
		return nil, fmt.Errorf("%s as of %s: %w", o.Pipeline, o.AsOf.Format(time.RFC3339), ErrAlreadyRan)
	}
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w (a pipeline runs once per as-of time)", id, err)
	}
	return run, nil
}
