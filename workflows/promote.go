package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/gates"
)

// ApproveSignal is the signal a manual approval sends to Promote.
const ApproveSignal = "approve"

// Approval is the payload of ApproveSignal.
type Approval struct {
	Approve    bool
	By, Reason string
}

// PromoteID is the workflow id of a version's promotion, which `sluice
// models approve` signals.
func PromoteID(model string, version int) string {
	return fmt.Sprintf("promote/%s/v%d", model, version)
}

// PromoteRequest is a version to promote if it earns it.
type PromoteRequest struct {
	Model   string
	Version int
	// Alias is the alias to move; empty means champion.
	Alias string
	Gates []gates.Gate
	// Split is the test split the version was measured on (its trial's
	// input): the champion is re-scored on the same rows.
	Split activities.TrialInput
	// Metrics are the version's test metrics.
	Metrics map[string]float64
	// Manual waits for an approval signal, up to ApprovalTimeout
	// (default 24h), after the gates pass.
	Manual          bool
	ApprovalTimeout time.Duration
}

// PromoteResult says what happened and why.
type PromoteResult struct {
	Promoted bool
	Reason   string
	Report   gates.Report
	Move     activities.AliasMove
}

// Promote checks a version against its gates (re-scoring the current
// champion on the same test split for relative gates), stores the report
// with the version, waits for a manual approval when asked, and moves the
// alias. A version that fails is left registered, not promoted, and the
// result says why.
func Promote(ctx workflow.Context, req PromoteRequest) (PromoteResult, error) {
	var res PromoteResult
	alias := req.Alias
	if alias == "" {
		alias = "champion"
	}
	ioctx := withIOActivity(ctx)
	var models *activities.Models
	var champ activities.ResolveResult
	if err := workflow.ExecuteActivity(ioctx, models.Resolve, activities.ResolveInput{Model: req.Model, Alias: alias}).Get(ctx, &champ); err != nil {
		return res, err
	}
	var champMetrics map[string]float64
	if champ.Found && champ.Version.Version != req.Version && relative(req.Gates) {
		var scored activities.EvaluateResult
		tctx := withIOActivity(ctx)
		tctx = workflow.WithTaskQueue(tctx, QueueCPU) // where models are scored
		var tr *activities.Training
		if err := workflow.ExecuteActivity(tctx, tr.Evaluate, activities.EvaluateInput{Trial: req.Split, ArtifactKey: champ.Version.ArtifactKey}).Get(ctx, &scored); err != nil {
			return res, fmt.Errorf("re-scoring champion v%d: %w", champ.Version.Version, err)
		}
		champMetrics = scored.Metrics
	}
	champion := 0
	if champMetrics != nil {
		champion = champ.Version.Version
	}
	res.Report = gates.Evaluate(req.Gates, req.Metrics, champion, champMetrics)
	if err := workflow.ExecuteActivity(ioctx, models.SetGateReport, activities.GateReportInput{Model: req.Model, Version: req.Version, Report: res.Report}).Get(ctx, nil); err != nil {
		return res, err
	}
	if !res.Report.Passed {
		res.Reason = "gates failed: " + res.Report.Failures()
		return res, nil
	}
	by, reason := workflow.GetInfo(ctx).WorkflowExecution.ID, "gates passed"
	if req.Manual {
		timeout := req.ApprovalTimeout
		if timeout <= 0 {
			timeout = 24 * time.Hour
		}
		var decision Approval
		got := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(workflow.GetSignalChannel(ctx, ApproveSignal), func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, &decision)
			got = true
		})
		sel.AddFuture(workflow.NewTimer(ctx, timeout), func(workflow.Future) {})
		sel.Select(ctx)
		switch {
		case !got:
			res.Reason = fmt.Sprintf("no approval within %s", timeout)
			return res, nil
		case !decision.Approve:
			res.Reason = fmt.Sprintf("rejected by %s: %s", decision.By, decision.Reason)
			return res, nil
		}
		by, reason = decision.By, "approved: "+decision.Reason
	}
	if err := workflow.ExecuteActivity(ioctx, models.SetAlias, activities.SetAliasInput{Model: req.Model, Alias: alias, Version: req.Version,
		By: by, Reason: reason}).Get(ctx, &res.Move); err != nil {
		return res, err
	}
	res.Promoted, res.Reason = true, reason
	return res, nil
}

func relative(gs []gates.Gate) bool {
	for _, g := range gs {
		if g.VsChampion != nil {
			return true
		}
	}
	return false
}
