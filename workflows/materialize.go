package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/permanent"
)

// MaterializeRequest names a view and when to compute it.
type MaterializeRequest struct {
	View activities.SourcedView
	// Online also loads the online store.
	Online bool
	// AsOf is the time to compute at; zero means the workflow's start.
	AsOf time.Time
	// Start and End ask for a backfill instead: one as-of time per day,
	// the end of each day in [Start, End), each a child workflow.
	Start, End time.Time
	// Full recomputes every entity instead of those changed since the
	// watermark (backfill days always do).
	Full bool
	// Concurrency caps the backfill's children at once; 0 means 4.
	Concurrency int
	// HeartbeatTimeout is how long a silent materialization counts as
	// alive before Temporal runs it again elsewhere; 0 means the
	// process's HeartbeatTimeout.
	HeartbeatTimeout time.Duration
}

// MaterializeResult reports the runs.
type MaterializeResult struct {
	Runs []activities.MaterializeResult
}

// materializeID is the id of the run for one as-of time; it stamps the
// snapshot, so running the same time again writes nothing twice.
func materializeID(view string, asOf time.Time) string {
	return fmt.Sprintf("materialize/%s/%s", view, asOf.UTC().Format(time.RFC3339))
}

// Materialize computes a view's features as of a time into
// features.<view> (and the online store), or backfills a range of days as
// child workflows, a bounded number at a time. Children have
// deterministic ids, so a backfill run twice, or resumed after a crash,
// writes each day once.
func Materialize(ctx workflow.Context, req MaterializeRequest) (MaterializeResult, error) {
	var res MaterializeResult
	if !req.Start.IsZero() || !req.End.IsZero() {
		return backfill(ctx, req)
	}
	asOf := req.AsOf
	if asOf.IsZero() {
		asOf = workflow.Now(ctx)
	}
	ctx = withIOActivity(ctx)
	if req.HeartbeatTimeout > 0 {
		opts := workflow.GetActivityOptions(ctx)
		opts.HeartbeatTimeout = req.HeartbeatTimeout
		ctx = workflow.WithActivityOptions(ctx, opts)
	}
	in := activities.MaterializeInput{View: req.View, AsOf: asOf, RunID: materializeID(req.View.View.Name, asOf),
		Online: req.Online, Incremental: !req.Full}
	var a *activities.Features
	var r activities.MaterializeResult
	if err := workflow.ExecuteActivity(ctx, a.Materialize, in).Get(ctx, &r); err != nil {
		return res, err
	}
	res.Runs = append(res.Runs, r)
	return res, nil
}

func backfill(ctx workflow.Context, req MaterializeRequest) (MaterializeResult, error) {
	var res MaterializeResult
	start, end := req.Start.UTC().Truncate(24*time.Hour), req.End.UTC()
	if !end.After(start) {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backfill: the end %s is not after the start %s", end, start), permanent.BadInput, nil)
	}
	limit := req.Concurrency
	if limit <= 0 {
		limit = 4
	}
	var days []time.Time
	for d := start; d.Before(end); d = d.Add(24 * time.Hour) {
		days = append(days, d.Add(24*time.Hour)) // as of the day's end
	}
	for len(days) > 0 {
		batch := days[:min(limit, len(days))]
		days = days[len(batch):]
		var futures []workflow.ChildWorkflowFuture
		for _, asOf := range batch {
			child := req
			child.Start, child.End, child.AsOf, child.Full = time.Time{}, time.Time{}, asOf, true
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: materializeID(req.View.View.Name, asOf) + "/backfill", TaskQueue: QueueControl})
			futures = append(futures, workflow.ExecuteChildWorkflow(cctx, Materialize, child))
		}
		for _, f := range futures {
			var r MaterializeResult
			if err := f.Get(ctx, &r); err != nil {
				return res, err
			}
			res.Runs = append(res.Runs, r.Runs...)
		}
	}
	return res, nil
}
