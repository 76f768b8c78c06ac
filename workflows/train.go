package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/sweep"
)

// TrainRequest is a model to train: its training set, its algorithm and
// parameters, the sweep over them and where trials run.
type TrainRequest struct {
	Model       string
	TrainingSet TrainingSetRequest
	Task        string
	Algorithm   string
	Params      map[string]string
	// Sweep is the search space: values to try per parameter, or in a
	// random search distributions to draw from (see package sweep).
	Sweep map[string][]string
	// Search is grid (every combination; the default) or random.
	Search sweep.Search
	// Queue is the resource class trials run on: cpu (default) or gpu.
	Queue string
	// Concurrency caps the trials running at once; 0 means 4.
	Concurrency                 int
	ValidFraction, TestFraction float64
	CheckpointEvery             int
	// HeartbeatTimeout is how long a silent trial counts as alive before
	// Temporal retries it elsewhere; 0 means the process's
	// HeartbeatTimeout.
	HeartbeatTimeout time.Duration
	SpecVersion      string
	CodeVersion      string
}

// TrainResult reports the run.
type TrainResult struct {
	TrainingSet activities.TrainingSetResult
	Trials      []activities.TrialResult
	// Best indexes Trials; Metric is what chose it, on validation.
	Best   int
	Metric string
	// Test holds the best trial's metrics on the test split; Split is
	// the best trial's input, which Promote re-scores the champion on.
	Test    map[string]float64
	Split   activities.TrialInput
	Version activities.ModelVersion
}

// clone copies a map in key order (workflow code iterates no map
// directly).
func clone[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for _, k := range workflow.DeterministicKeys(m) {
		out[k] = m[k]
	}
	return out
}

// selectionMetric is the validation metric that picks the best trial and
// whether larger is better.
func selectionMetric(task string) (string, bool) {
	switch task {
	case "regression":
		return "rmse", false
	case "multiclass":
		return "logloss", false
	}
	return "auc", true
}

// Train builds the training set (a child workflow), runs the sweep's
// trials on the model's queue a bounded number at a time, records every
// trial, measures the best on the test split and registers it as a new
// version. Trials checkpoint and resume on another worker when theirs
// dies.
func Train(ctx workflow.Context, req TrainRequest) (TrainResult, error) {
	var res TrainResult
	runID := workflow.GetInfo(ctx).WorkflowExecution.ID
	queue, ok := QueueFor(req.Queue)
	if req.Queue == "" {
		queue, ok = QueueCPU, true
	}
	if !ok || (queue != QueueCPU && queue != QueueGPU) {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("train: queue %q is not cpu or gpu", req.Queue), permanent.BadInput, nil)
	}

	params, err := sweep.Trials(req.Params, req.Sweep, req.Search)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError("train: "+err.Error(), permanent.BadInput, nil)
	}

	tsReq := req.TrainingSet
	tsReq.Model = req.Model
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: runID + "/training-set", TaskQueue: QueueControl})
	if err := workflow.ExecuteChildWorkflow(cctx, TrainingSet, tsReq).Get(ctx, &res.TrainingSet); err != nil {
		return res, fmt.Errorf("building the training set: %w", err)
	}

	inputs := make([]activities.TrialInput, len(params))
	for i, p := range params {
		inputs[i] = activities.TrialInput{Model: req.Model, RunID: runID, Trial: i + 1, Table: res.TrainingSet.Table, Snapshot: res.TrainingSet.SnapshotID,
			Key: tsReq.Key, Time: tsReq.LabelTime, Label: tsReq.LabelColumn, Task: req.Task, Algorithm: req.Algorithm, Params: p,
			ValidFraction: req.ValidFraction, TestFraction: req.TestFraction, CheckpointEvery: req.CheckpointEvery}
	}
	tctx := workflow.WithActivityOptions(ctx, TrialOptions(queue, req.HeartbeatTimeout))
	limit := req.Concurrency
	if limit <= 0 {
		limit = 4
	}
	var tr *activities.Training
	res.Trials = make([]activities.TrialResult, len(inputs))
	for start := 0; start < len(inputs); start += limit {
		var futures []workflow.Future
		for _, in := range inputs[start:min(start+limit, len(inputs))] {
			futures = append(futures, workflow.ExecuteActivity(tctx, tr.Trial, in))
		}
		for i, f := range futures {
			if err := f.Get(ctx, &res.Trials[start+i]); err != nil {
				return res, fmt.Errorf("trial %d: %w", start+i+1, err)
			}
		}
	}

	metric, larger := selectionMetric(req.Task)
	res.Metric = metric
	for i, t := range res.Trials {
		b := res.Trials[res.Best].Metrics[metric]
		if (larger && t.Metrics[metric] > b) || (!larger && t.Metrics[metric] < b) {
			res.Best = i
		}
	}
	best := res.Trials[res.Best]
	res.Split = inputs[res.Best]

	ioctx := withIOActivity(ctx)
	var models *activities.Models
	if err := workflow.ExecuteActivity(ioctx, models.RecordTrials, activities.RecordTrialsInput{
		Model: req.Model, RunID: runID, Params: params, Results: res.Trials, Best: res.Best}).Get(ctx, nil); err != nil {
		return res, err
	}
	var test activities.EvaluateResult
	if err := workflow.ExecuteActivity(tctx, tr.Evaluate, activities.EvaluateInput{Trial: inputs[res.Best], ArtifactKey: best.ArtifactKey}).Get(ctx, &test); err != nil {
		return res, fmt.Errorf("evaluating the best trial: %w", err)
	}
	res.Test = test.Metrics
	version := activities.ModelVersion{Model: req.Model, Algorithm: req.Algorithm, Params: anyMap(params[res.Best]), Metrics: prefixed(res.Test, best.Metrics),
		TrainingSnapshots: res.TrainingSet.Read, SpecVersion: req.SpecVersion, CodeVersion: req.CodeVersion,
		WorkflowID: runID, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID}
	version.TrainingSnapshots = clone(res.TrainingSet.Read)
	version.TrainingSnapshots[res.TrainingSet.Table] = res.TrainingSet.SnapshotID
	if err := workflow.ExecuteActivity(ioctx, models.Register, activities.RegisterInput{Version: version, TrialArtifact: best.ArtifactKey}).Get(ctx, &res.Version); err != nil {
		return res, fmt.Errorf("registering: %w", err)
	}
	return res, nil
}

// prefixed merges test metrics with validation metrics named valid_*.
func prefixed(test, valid map[string]float64) map[string]float64 {
	out := clone(test)
	for _, k := range workflow.DeterministicKeys(valid) {
		out["valid_"+k] = valid[k]
	}
	return out
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for _, k := range workflow.DeterministicKeys(m) {
		out[k] = m[k]
	}
	return out
}
