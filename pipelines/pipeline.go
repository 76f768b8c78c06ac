package pipelines

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/specstore"
	"github.com/sluice-ml/sluice/workflows"
)

// Search attributes a pipeline run sets, so runs can be filtered in the
// Temporal UI (`SluicePipeline = "churn_daily"`).
var (
	AttrPipeline = temporal.NewSearchAttributeKeyKeyword("SluicePipeline")
	AttrModels   = temporal.NewSearchAttributeKeyKeywordList("SluiceModels")
	AttrAsOf     = temporal.NewSearchAttributeKeyTime("SluiceAsOf")
)

// Planner resolves a pipeline run from a stored spec version (an io
// activity).
type Planner struct {
	Specs       *specstore.Store
	CodeVersion string
}

// PlanInput names a pipeline of a project's spec version (0: the newest).
type PlanInput struct {
	Project     string
	SpecVersion int
	Pipeline    string
	AsOf        time.Time
}

// Plan reads the spec version and resolves the pipeline's run.
func (p *Planner) Plan(ctx context.Context, in PlanInput) (Plan, error) {
	v, err := p.Specs.Get(ctx, in.Project, in.SpecVersion)
	if err != nil {
		return Plan{}, temporal.NewNonRetryableApplicationError(err.Error(), permanent.BadInput, err)
	}
	s, err := spec.Parse(fmt.Sprintf("%s spec v%d", v.Project, v.Version), []byte(v.Content))
	if err != nil {
		return Plan{}, temporal.NewNonRetryableApplicationError(err.Error(), permanent.BadInput, err)
	}
	plan, err := NewPlan(s, v.BaseDir, in.Pipeline, fmt.Sprint(v.Version), p.CodeVersion, in.AsOf)
	if err != nil {
		return plan, temporal.NewNonRetryableApplicationError(err.Error(), permanent.BadInput, err)
	}
	return plan, nil
}

// Request starts a pipeline run.
type Request struct {
	Project  string
	Pipeline string
	// SpecVersion is the spec version to run (0: the newest applied).
	SpecVersion int
	// AsOf is the time features, training and scores are as of; zero
	// means the run's start (a schedule's fire time).
	AsOf time.Time
	// SearchAttributes sets the Sluice* search attributes; the server
	// must know them (sluice dev and sluice apply register them).
	SearchAttributes bool
}

// StepResult is one child workflow of the run.
type StepResult struct {
	Step       string
	Name       string
	WorkflowID string
	Summary    string
}

// ModelResult is what the run did for a model.
type ModelResult struct {
	Model    string
	Version  int
	Test     map[string]float64
	Promoted bool
	Reason   string
	Scored   int64
	// Drift is the scored population's drift level (monitor step).
	Drift string
}

// Result reports a pipeline run.
type Result struct {
	Pipeline    string
	SpecVersion string
	AsOf        time.Time
	Steps       []StepResult
	Models      []ModelResult
}

// Pipeline runs a pipeline of the spec: it resolves the plan from the
// stored spec, then runs the steps in order as child workflows, for each
// of its models: ingest every source and materialize every view they use
// (in parallel), then per model train, promote (gates, maybe approval)
// and score. A failed step fails the run with the step, the model and the
// child's reason. Its id is the caller's: the same pipeline and as-of
// time runs once.
func Pipeline(ctx workflow.Context, req Request) (Result, error) {
	info := workflow.GetInfo(ctx)
	id := info.WorkflowExecution.ID
	res := Result{Pipeline: req.Pipeline, AsOf: req.AsOf}
	if res.AsOf.IsZero() {
		res.AsOf = workflow.Now(ctx).UTC().Truncate(time.Second)
	}
	actx := workflow.WithActivityOptions(ctx, workflows.BriefOptions())
	var planner *Planner
	var plan Plan
	if err := workflow.ExecuteActivity(actx, planner.Plan, PlanInput{Project: req.Project, SpecVersion: req.SpecVersion,
		Pipeline: req.Pipeline, AsOf: res.AsOf}).Get(ctx, &plan); err != nil {
		return res, fmt.Errorf("planning %s: %w", req.Pipeline, err)
	}
	res.SpecVersion = plan.SpecVersion
	if req.SearchAttributes {
		var models []string
		for _, m := range plan.Models {
			models = append(models, m.Model)
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, AttrPipeline.ValueSet(req.Pipeline), AttrModels.ValueSet(models),
			AttrAsOf.ValueSet(res.AsOf)); err != nil {
			return res, err
		}
	}
	child := func(step, name string) workflow.Context {
		return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id + "/" + step + "/" + name, TaskQueue: workflows.QueueControl})
	}
	record := func(step, name, summary string) {
		res.Steps = append(res.Steps, StepResult{Step: step, Name: name, WorkflowID: id + "/" + step + "/" + name, Summary: summary})
	}

	if plan.Has("ingest") {
		futures := make([]workflow.ChildWorkflowFuture, len(plan.Ingest))
		for i, in := range plan.Ingest {
			futures[i] = workflow.ExecuteChildWorkflow(child("ingest", in.Source), workflows.Ingest, in)
		}
		for i, f := range futures {
			var r workflows.IngestResult
			if err := f.Get(ctx, &r); err != nil {
				return res, fmt.Errorf("step ingest, source %s: %w", plan.Ingest[i].Source, err)
			}
			summary := fmt.Sprintf("%d rows, %d rejected", r.Ingest.Rows, r.Ingest.Rejected)
			if r.Ingest.Unchanged {
				summary = "unchanged since the last ingest"
			}
			record("ingest", plan.Ingest[i].Source, summary)
		}
	}
	if plan.Has("materialize") {
		futures := make([]workflow.ChildWorkflowFuture, len(plan.Materialize))
		for i, m := range plan.Materialize {
			futures[i] = workflow.ExecuteChildWorkflow(child("materialize", m.View.View.Name), workflows.Materialize, m)
		}
		for i, f := range futures {
			var r workflows.MaterializeResult
			if err := f.Get(ctx, &r); err != nil {
				return res, fmt.Errorf("step materialize, view %s: %w", plan.Materialize[i].View.View.Name, err)
			}
			var entities, online int64
			for _, run := range r.Runs {
				entities, online = entities+run.Entities, online+run.Online
			}
			record("materialize", plan.Materialize[i].View.View.Name, fmt.Sprintf("%d entities, %d online", entities, online))
		}
	}
	for _, m := range plan.Models {
		mr := ModelResult{Model: m.Model}
		var trained workflows.TrainResult
		if plan.Has("train") {
			if err := workflow.ExecuteChildWorkflow(child("train", m.Model), workflows.Train, m.Train).Get(ctx, &trained); err != nil {
				return res, fmt.Errorf("step train, model %s: %w", m.Model, err)
			}
			mr.Version, mr.Test = trained.Version.Version, trained.Test
			record("train", m.Model, fmt.Sprintf("v%d, %d trials, test %s %.4f", mr.Version, max(trained.TrialsRun, len(trained.Trials)), trained.Metric, trained.Test[trained.Metric]))
		}
		if plan.Has("promote") {
			if mr.Version == 0 {
				mr.Reason = "nothing to promote: the pipeline trained no version"
			} else {
				var pr workflows.PromoteResult
				if err := workflow.ExecuteChildWorkflow(child("promote", m.Model), workflows.Promote, workflows.PromoteRequest{Model: m.Model,
					Version: mr.Version, Gates: m.Gates, Split: trained.Split, Metrics: trained.Test, Manual: m.Manual}).Get(ctx, &pr); err != nil {
					return res, fmt.Errorf("step promote, model %s: %w", m.Model, err)
				}
				mr.Promoted, mr.Reason = pr.Promoted, pr.Reason
			}
			record("promote", m.Model, fmt.Sprintf("promoted %v: %s", mr.Promoted, mr.Reason))
		}
		var lastScore workflows.ScoreResult
		if plan.Has("score") {
			sr := &lastScore
			if err := workflow.ExecuteChildWorkflow(child("score", m.Model), workflows.BatchScore, m.Score).Get(ctx, sr); err != nil {
				return res, fmt.Errorf("step score, model %s: %w", m.Model, err)
			}
			mr.Scored = sr.Rows
			record("score", m.Model, fmt.Sprintf("%d entities scored with v%d", sr.Rows, sr.Version))
		}
		if plan.Has("monitor") {
			// The drift of the scored population (measured while scoring,
			// in sluice.drift_reports) raises an alert at the alert level,
			// and may retrain.
			summary := "no drift report: the pipeline scored nothing"
			if lastScore.Drift != "" {
				summary = fmt.Sprintf("drift %s against the training reference", lastScore.Drift)
				if len(lastScore.Drifted) > 0 {
					summary += ": " + strings.Join(lastScore.Drifted, ", ")
				}
				mon := m.Monitoring
				var mres MonitorResult
				if err := workflow.ExecuteChildWorkflow(child("monitor", m.Model), Monitor, MonitorRequest{Project: req.Project, Pipeline: req.Pipeline,
					Model: m.Model, Version: lastScore.Version, RunID: lastScore.RunID, AsOf: lastScore.AsOf, Drift: lastScore.Drift,
					Drifted: lastScore.Drifted, Webhook: mon.Webhook, Format: mon.Format, Retrain: mon.OnDrift == "retrain",
					Cooldown: time.Duration(mon.Cooldown), Performance: m.Performance, OnlineWindow: m.OnlineWindow, Thresholds: m.Score.Drift}).Get(ctx, &mres); err != nil {
					return res, fmt.Errorf("step monitor, model %s: %w", m.Model, err)
				}
				if mres.Online.Rows > 0 {
					summary += fmt.Sprintf("; online traffic (%d predictions) drift %s", mres.Online.Rows, mres.Online.Level)
				}
				if n := len(mres.Performance.Reports); n > 0 {
					last := mres.Performance.Reports[n-1]
					summary += fmt.Sprintf("; realized on %s (v%d, %d labels): %s", last.Day.Format("2006-01-02"), last.Version, last.Rows, monitor.FormatMetrics(last.Metrics))
				}
				switch {
				case mres.Alerted && mres.Retrain != "":
					summary += fmt.Sprintf("; alert %d raised, retraining in %s", mres.Alert.ID, mres.Retrain)
				case mres.Alerted:
					summary += fmt.Sprintf("; alert %d raised", mres.Alert.ID)
				case mres.Deduplicated:
					summary += fmt.Sprintf("; alert %d already raised within the cooldown", mres.Alert.ID)
				}
			}
			mr.Drift = lastScore.Drift
			record("monitor", m.Model, summary)
		}
		res.Models = append(res.Models, mr)
	}
	return res, nil
}
