package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/internal/permanent"
)

// ScoreRequest is a bulk scoring run: a model's alias over a population
// as of a time.
type ScoreRequest struct {
	Model string
	// Alias names the version to score with; empty means champion.
	Alias string
	// AsOf is the time the features are computed as of; zero means the
	// workflow's start.
	AsOf time.Time
	// Population is the table whose distinct Key values are scored.
	Population string
	Key        string
	Views      []activities.SourcedView
	// Parts is how many hash partitions the work splits into (0: 16);
	// Concurrency caps the parts scored at once (0: 4).
	Parts, Concurrency int
	// Retention drops PostgreSQL partitions older than this before the
	// as-of time; 0 keeps them.
	Retention time.Duration
	// HeartbeatTimeout is how long a silent part counts as alive; 0
	// means the process's HeartbeatTimeout.
	HeartbeatTimeout time.Duration
	// LakeOnly writes the predictions to the lake and not to PostgreSQL.
	LakeOnly bool
	// Drift thresholds the population's drift report; zero means
	// monitor.DefaultThresholds.
	Drift activities.DriftThresholds
}

// ScoreResult reports a run.
type ScoreResult struct {
	RunID        string
	Version      int
	AsOf         time.Time
	Entities     int64
	Rows         int64
	LakeSnapshot int64
	// Timings are seconds per step: features (the as-of join), then
	// summed over the parts read, predict, lake_write and copy (the last
	// two run side by side), and commit.
	Timings map[string]float64
	// Wall is the elapsed seconds of each phase: features, parts (the
	// fan-out) and publish.
	Wall    map[string]float64
	Dropped []string
	// Drift is the population's drift against the training reference
	// (ok, warn or alert), stored in sluice.drift_reports; Drifted names
	// what drifted.
	Drift   string
	Drifted []string
}

// BatchScore resolves the alias, computes the population's features as
// of the time with the training set's code, scores the hash parts on the
// io queue a bounded number at once (each into the lake and a staging
// table), and publishes the run in the lake and PostgreSQL. Parts that
// are retried load once; the run shows only once published, and running
// the same as-of time again replaces its rows.
func BatchScore(ctx workflow.Context, req ScoreRequest) (ScoreResult, error) {
	info := workflow.GetInfo(ctx)
	res := ScoreResult{RunID: info.WorkflowExecution.ID, AsOf: req.AsOf, Timings: map[string]float64{}, Wall: map[string]float64{}}
	lap := workflow.Now(ctx)
	phase := func(name string) {
		now := workflow.Now(ctx)
		res.Wall[name] = now.Sub(lap).Seconds()
		lap = now
	}
	if res.AsOf.IsZero() {
		res.AsOf = workflow.Now(ctx).UTC().Truncate(time.Second)
	}
	alias := req.Alias
	if alias == "" {
		alias = "champion"
	}
	ioctx := workflow.WithActivityOptions(ctx, ScoreOptions(req.HeartbeatTimeout))

	var models *activities.Models
	var found activities.ResolveResult
	if err := workflow.ExecuteActivity(ioctx, models.Resolve, activities.ResolveInput{Model: req.Model, Alias: alias}).Get(ctx, &found); err != nil {
		return res, err
	}
	if !found.Found {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("model %s has no version named %s", req.Model, alias), permanent.BadInput, nil)
	}
	res.Version = found.Version.Version
	run := activities.ScoreRun{Model: req.Model, ID: res.RunID, Stamp: res.RunID + "#" + info.WorkflowExecution.RunID,
		Version: res.Version, ArtifactKey: found.Version.ArtifactKey, Key: req.Key, AsOf: res.AsOf, ScoredAt: workflow.Now(ctx).UTC(),
		LakeOnly: req.LakeOnly}
	lap = workflow.Now(ctx)

	var sc *activities.Scoring
	var feats activities.ScoreFeaturesResult
	if err := workflow.ExecuteActivity(ioctx, sc.ScoreFeatures, activities.ScoreFeaturesInput{Run: run, Population: req.Population,
		Views: req.Views, Parts: req.Parts}).Get(ctx, &feats); err != nil {
		return res, fmt.Errorf("computing the features: %w", err)
	}
	run.KeyType = feats.KeyType
	res.Entities, res.Timings["features"] = feats.Entities, feats.Seconds
	phase("features")

	// A sliding window of parts: the next starts as one finishes.
	limit := req.Concurrency
	if limit <= 0 {
		limit = 4
	}
	var failed error
	running, next := 0, 0
	sel := workflow.NewSelector(ctx)
	for next < len(feats.Objects) || running > 0 {
		for running < limit && next < len(feats.Objects) && failed == nil {
			in := activities.ScorePartInput{Run: run, Part: next, Object: feats.Objects[next]}
			sel.AddFuture(workflow.ExecuteActivity(ioctx, sc.ScorePart, in), func(f workflow.Future) {
				running--
				var p activities.ScorePartResult
				if err := f.Get(ctx, &p); err != nil && failed == nil {
					failed = fmt.Errorf("scoring part %d: %w", in.Part, err)
				}
			})
			running++
			next++
		}
		if running == 0 {
			break
		}
		sel.Select(ctx)
	}
	if failed != nil {
		return res, failed
	}
	phase("parts")

	var pub activities.ScorePublishResult
	if err := workflow.ExecuteActivity(ioctx, sc.ScorePublish, activities.ScorePublishInput{Run: run, Parts: len(feats.Objects),
		Retention: req.Retention, Drift: req.Drift}).Get(ctx, &pub); err != nil {
		return res, fmt.Errorf("publishing: %w", err)
	}
	phase("publish")
	res.Rows, res.LakeSnapshot, res.Dropped, res.Drift, res.Drifted = pub.Rows, pub.LakeSnapshot, pub.Dropped, pub.Drift, pub.Drifted
	for _, k := range workflow.DeterministicKeys(pub.Timings) {
		res.Timings[k] = pub.Timings[k]
	}
	return res, nil
}
