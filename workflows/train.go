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
	// Trials are every trial's result, or for a sweep run in chunks each
	// chunk's best; TrialsRun counts the trials run (0 in runs recorded
	// before it was counted).
	Trials    []activities.TrialResult
	TrialsRun int
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
	queue, ok := QueueFor(req.Queue)
	if req.Queue == "" {
		queue, ok = QueueCPU, true
	}
	if !ok || (queue != QueueCPU && queue != QueueGPU) {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("train: queue %q is not cpu or gpu", req.Queue), permanent.BadInput, nil)
	}
	if workflow.GetVersion(ctx, "trials-in-chunks", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return trainInBatches(ctx, req, queue)
	}
	runID := workflow.GetInfo(ctx).WorkflowExecution.ID
	// The sweep is counted, never expanded whole here: a big one runs in
	// chunks, each a child workflow with its own history.
	if err := sweep.Validate(req.Sweep, req.Search); err != nil {
		return res, temporal.NewNonRetryableApplicationError("train: "+err.Error(), permanent.BadInput, nil)
	}
	if err := sweep.ValidateCount(req.Sweep, req.Search); err != nil {
		return res, temporal.NewNonRetryableApplicationError("train: "+err.Error(), permanent.BadInput, nil)
	}
	count := sweep.Count(req.Sweep, req.Search)

	tsReq := req.TrainingSet
	tsReq.Model = req.Model
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: runID + "/training-set", TaskQueue: QueueControl})
	if err := workflow.ExecuteChildWorkflow(cctx, TrainingSet, tsReq).Get(ctx, &res.TrainingSet); err != nil {
		return res, fmt.Errorf("building the training set: %w", err)
	}
	template := activities.TrialInput{Model: req.Model, RunID: runID, Table: res.TrainingSet.Table, Snapshot: res.TrainingSet.SnapshotID,
		Key: tsReq.Key, Time: tsReq.LabelTime, Label: tsReq.LabelColumn, Task: req.Task, Algorithm: req.Algorithm,
		ValidFraction: req.ValidFraction, TestFraction: req.TestFraction, CheckpointEvery: req.CheckpointEvery}
	chunk := TrialsRequest{Trial: template, Params: req.Params, Sweep: req.Sweep, Search: req.Search, Queue: queue,
		Concurrency: req.Concurrency, HeartbeatTimeout: req.HeartbeatTimeout}
	metric, larger := selectionMetric(req.Task)
	res.Metric = metric
	var bestInput activities.TrialInput
	ioctx := withIOActivity(ctx)
	var models *activities.Models
	if count <= TrialChunk {
		chunk.Lo, chunk.Hi = 0, count
		got, err := runTrialChunk(ctx, chunk, true)
		if err != nil {
			return res, err
		}
		res.Trials, res.Best, bestInput = got.results, got.best, got.inputs[got.best]
		res.TrialsRun = len(got.results)
	} else {
		// Each chunk records its trials; the parent keeps each chunk's
		// best, and marks the best of all.
		var bests []activities.TrialInput
		for lo := 0; lo < count; lo += TrialChunk {
			chunk.Lo, chunk.Hi = lo, min(lo+TrialChunk, count)
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fmt.Sprintf("%s/trials-%d", runID, lo+1), TaskQueue: QueueControl})
			var got TrialsResult
			if err := workflow.ExecuteChildWorkflow(cctx, TrainTrials, chunk).Get(ctx, &got); err != nil {
				return res, fmt.Errorf("trials %d to %d: %w", chunk.Lo+1, chunk.Hi, err)
			}
			if got.Ran == 0 {
				break // a random search that ran out of new draws
			}
			res.Trials, bests = append(res.Trials, got.Best), append(bests, got.BestInput)
			res.TrialsRun += got.Ran
		}
		res.Best = pickBest(res.Trials, metric, larger)
		bestInput = bests[res.Best]
		if err := workflow.ExecuteActivity(ioctx, models.RecordTrials, activities.RecordTrialsInput{
			Model: req.Model, RunID: runID, Params: []map[string]string{bestInput.Params}, Results: res.Trials[res.Best : res.Best+1], Best: 0}).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	res.Split = bestInput

	tctx := workflow.WithActivityOptions(ctx, TrialOptions(queue, req.HeartbeatTimeout))
	return evaluateAndRegister(ctx, tctx, req, res, bestInput)
}

// TrialChunk is the most trials one workflow runs: a sweep over it runs
// in child workflows of this many, so no history nears Temporal's event
// limit and no replay holds the whole sweep.
const TrialChunk = 1000

// TrialsRequest is a chunk of a sweep: trials [Lo, Hi) of the space, each
// a copy of Trial with its own number and parameters.
type TrialsRequest struct {
	Trial            activities.TrialInput
	Params           map[string]string
	Sweep            map[string][]string
	Search           sweep.Search
	Lo, Hi           int
	Queue            string
	Concurrency      int
	HeartbeatTimeout time.Duration
}

// TrialsResult is a chunk's best trial, and how many trials it ran.
type TrialsResult struct {
	Best      activities.TrialResult
	BestInput activities.TrialInput
	Ran       int
}

// TrainTrials runs a chunk of a sweep and records its trials.
func TrainTrials(ctx workflow.Context, req TrialsRequest) (TrialsResult, error) {
	got, err := runTrialChunk(ctx, req, false)
	if err != nil || len(got.results) == 0 {
		return TrialsResult{}, err
	}
	return TrialsResult{Best: got.results[got.best], BestInput: got.inputs[got.best], Ran: len(got.results)}, nil
}

// trialChunk is what a chunk ran.
type trialChunk struct {
	inputs  []activities.TrialInput
	results []activities.TrialResult
	best    int
}

// runTrialChunk runs trials [Lo, Hi) in a sliding window of Concurrency
// (4 when unset): a trial starts as soon as one ends. It records them,
// marking the chunk's best as the run's best when markBest.
func runTrialChunk(ctx workflow.Context, req TrialsRequest, markBest bool) (trialChunk, error) {
	var out trialChunk
	params, err := sweep.Range(req.Params, req.Sweep, req.Search, req.Lo, req.Hi)
	if err != nil {
		return out, temporal.NewNonRetryableApplicationError("train: "+err.Error(), permanent.BadInput, nil)
	}
	out.inputs = make([]activities.TrialInput, len(params))
	for i, p := range params {
		out.inputs[i] = req.Trial
		out.inputs[i].Trial, out.inputs[i].Params = req.Lo+i+1, p
	}
	limit := req.Concurrency
	if limit <= 0 {
		limit = 4
	}
	tctx := workflow.WithActivityOptions(ctx, TrialOptions(req.Queue, req.HeartbeatTimeout))
	var tr *activities.Training
	out.results = make([]activities.TrialResult, len(out.inputs))
	sel := workflow.NewSelector(ctx)
	var failed error
	next, running := 0, 0
	for next < len(out.inputs) || running > 0 {
		for ; next < len(out.inputs) && running < limit && failed == nil; next++ {
			i := next
			running++
			sel.AddFuture(workflow.ExecuteActivity(tctx, tr.Trial, out.inputs[i]), func(f workflow.Future) {
				running--
				if err := f.Get(ctx, &out.results[i]); err != nil && failed == nil {
					failed = fmt.Errorf("trial %d: %w", out.inputs[i].Trial, err)
				}
			})
		}
		if failed != nil {
			return out, failed
		}
		if running > 0 {
			sel.Select(ctx)
		}
	}
	if failed != nil {
		return out, failed
	}
	if len(out.results) == 0 {
		return out, nil
	}
	metric, larger := selectionMetric(req.Trial.Task)
	out.best = pickBest(out.results, metric, larger)
	mark := -1
	if markBest {
		mark = out.best
	}
	var models *activities.Models
	if err := workflow.ExecuteActivity(withIOActivity(ctx), models.RecordTrials, activities.RecordTrialsInput{
		Model: req.Trial.Model, RunID: req.Trial.RunID, Params: params, Results: out.results, Best: mark}).Get(ctx, nil); err != nil {
		return out, err
	}
	return out, nil
}

// pickBest indexes the trial best on the metric (the first of equals).
func pickBest(trials []activities.TrialResult, metric string, larger bool) int {
	best := 0
	for i, t := range trials {
		b := trials[best].Metrics[metric]
		if (larger && t.Metrics[metric] > b) || (!larger && t.Metrics[metric] < b) {
			best = i
		}
	}
	return best
}

// trainInBatches is Train as runs recorded before trials-in-chunks ran
// it: the whole sweep expanded, trials in fixed batches.
func trainInBatches(ctx workflow.Context, req TrainRequest, queue string) (TrainResult, error) {
	var res TrainResult
	runID := workflow.GetInfo(ctx).WorkflowExecution.ID

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
	res.Split = inputs[res.Best]

	ioctx := withIOActivity(ctx)
	var models *activities.Models
	if err := workflow.ExecuteActivity(ioctx, models.RecordTrials, activities.RecordTrialsInput{
		Model: req.Model, RunID: runID, Params: params, Results: res.Trials, Best: res.Best}).Get(ctx, nil); err != nil {
		return res, err
	}
	return evaluateAndRegister(ctx, tctx, req, res, inputs[res.Best])
}

// evaluateAndRegister measures the best trial on the test split and
// registers it as the model's new version.
func evaluateAndRegister(ctx, tctx workflow.Context, req TrainRequest, res TrainResult, bestInput activities.TrialInput) (TrainResult, error) {
	best := res.Trials[res.Best]
	var tr *activities.Training
	var test activities.EvaluateResult
	if err := workflow.ExecuteActivity(tctx, tr.Evaluate, activities.EvaluateInput{Trial: bestInput, ArtifactKey: best.ArtifactKey}).Get(ctx, &test); err != nil {
		return res, fmt.Errorf("evaluating the best trial: %w", err)
	}
	res.Test = test.Metrics
	info := workflow.GetInfo(ctx).WorkflowExecution
	version := activities.ModelVersion{Model: req.Model, Algorithm: req.Algorithm, Params: anyMap(bestInput.Params), Metrics: prefixed(res.Test, best.Metrics),
		SpecVersion: req.SpecVersion, CodeVersion: req.CodeVersion, WorkflowID: info.ID, RunID: info.RunID}
	version.TrainingSnapshots = clone(res.TrainingSet.Read)
	version.TrainingSnapshots[res.TrainingSet.Table] = res.TrainingSet.SnapshotID
	var models *activities.Models
	if err := workflow.ExecuteActivity(withIOActivity(ctx), models.Register, activities.RegisterInput{Version: version, TrialArtifact: best.ArtifactKey}).Get(ctx, &res.Version); err != nil {
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
