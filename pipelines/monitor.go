package pipelines

import (
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/workflows"
)

// MonitorRequest is what a scoring run found, and what the model's spec
// says to do about it.
type MonitorRequest struct {
	Project, Pipeline, Model string
	Version                  int
	// RunID and AsOf name the scoring run; Drift is its level and
	// Drifted what drifted.
	RunID   string
	AsOf    time.Time
	Drift   string
	Drifted []string
	// Webhook and Format (json or slack) receive the alert.
	Webhook, Format string
	// Retrain runs the pipeline again when drift alerts, at most once per
	// Cooldown (0: 24 hours).
	Retrain  bool
	Cooldown time.Duration
	// Performance, when set, measures the realized performance of the
	// model's predictions whose labels have arrived.
	Performance *activities.PerformanceInput
	// OnlineWindow, when positive, measures the drift of the version's
	// online traffic over the window ending now; an alert there alerts
	// like the batch's.
	OnlineWindow time.Duration
	Thresholds   activities.DriftThresholds
}

// MonitorResult says what the monitor did.
type MonitorResult struct {
	// Performance is the realized performance measured; Online the
	// drift of the online traffic.
	Performance activities.PerformanceResult
	Online      activities.OnlineDriftResult
	// Alert is the alert raised, or the one within the cooldown that
	// stands for it (Deduplicated).
	Alert        activities.Alert
	Alerted      bool
	Deduplicated bool
	// Delivered says the webhook took it; DeliveryError why not.
	Delivered     bool
	DeliveryError string
	// Retrain is the id of the pipeline run it started.
	Retrain string
}

// Monitor acts on a scoring run's drift: at the alert level it raises an
// alert (one per model within the cooldown), delivers it to the webhook
// with retries, and with on_drift: retrain starts the pipeline again as
// its own workflow, once per raised alert, so at most once per cooldown.
func Monitor(ctx workflow.Context, req MonitorRequest) (MonitorResult, error) {
	var res MonitorResult
	actx := workflow.WithActivityOptions(ctx, workflows.BriefOptions())
	if req.Performance != nil {
		var mon *activities.Monitoring
		pctx := workflow.WithActivityOptions(actx, workflows.MeasureOptions())
		if err := workflow.ExecuteActivity(pctx, mon.Performance, *req.Performance).Get(ctx, &res.Performance); err != nil {
			return res, fmt.Errorf("measuring realized performance: %w", err)
		}
	}
	if req.OnlineWindow > 0 && req.Version > 0 {
		var mon *activities.Monitoring
		until := workflow.Now(ctx).UTC().Truncate(time.Second)
		octx := workflow.WithActivityOptions(actx, workflows.MeasureOptions())
		if err := workflow.ExecuteActivity(octx, mon.OnlineDrift, activities.OnlineDriftInput{Model: req.Model, Version: req.Version,
			Since: until.Add(-req.OnlineWindow), Until: until, Thresholds: req.Thresholds}).Get(ctx, &res.Online); err != nil {
			return res, fmt.Errorf("measuring the drift of online traffic: %w", err)
		}
		if res.Online.Level == monitor.LevelAlert {
			req.Drift = monitor.LevelAlert
			for _, f := range res.Online.Drifted {
				req.Drifted = append(req.Drifted, "online "+f)
			}
		}
	}
	if req.Drift != monitor.LevelAlert {
		return res, nil
	}
	cooldown := req.Cooldown
	if cooldown <= 0 {
		cooldown = 24 * time.Hour
	}
	var alerts *activities.Alerting
	var raised activities.RaiseResult
	alert := activities.Alert{Model: req.Model, Kind: "drift", Level: req.Drift, RunID: req.RunID, AsOf: req.AsOf,
		Message: fmt.Sprintf("%s v%d: the population scored as of %s drifted from the training data: %s", req.Model, req.Version,
			req.AsOf.UTC().Format(time.RFC3339), strings.Join(req.Drifted, ", "))}
	if err := workflow.ExecuteActivity(actx, alerts.Raise, activities.RaiseInput{Alert: alert, Cooldown: cooldown}).Get(ctx, &raised); err != nil {
		return res, fmt.Errorf("raising the drift alert: %w", err)
	}
	res.Alert, res.Alerted, res.Deduplicated = raised.Alert, raised.Raised, !raised.Raised
	if !raised.Raised {
		return res, nil
	}
	if req.Webhook != "" {
		dctx := workflow.WithActivityOptions(ctx, workflows.DeliveryOptions())
		err := workflow.ExecuteActivity(dctx, alerts.Deliver, activities.DeliverInput{ID: raised.Alert.ID, Webhook: req.Webhook, Format: req.Format}).Get(ctx, nil)
		res.Delivered = err == nil
		if err != nil {
			// The alert stays stored and listed; the run goes on.
			res.DeliveryError = err.Error()
		}
	}
	if req.Retrain {
		id := fmt.Sprintf("retrain/%s/%s/alert-%d", req.Project, req.Pipeline, raised.Alert.ID)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id, TaskQueue: workflows.QueueControl,
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE})
		child := workflow.ExecuteChildWorkflow(cctx, Pipeline, Request{Project: req.Project, Pipeline: req.Pipeline})
		// A run of this monitor that was retried, or repeated for the same
		// scoring run, finds the alert's retrain already started: one
		// retrain per alert.
		if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return res, fmt.Errorf("starting the retrain run %s: %w", id, err)
		}
		res.Retrain = id
	}
	return res, nil
}
