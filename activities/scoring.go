package activities

import (
	"context"
	"encoding/json"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/scoring"
)

// Scoring runs bulk scoring's steps on the io queue (see scoring.Scorer).
type Scoring struct {
	Scorer *scoring.Scorer
}

// ScoreRun is what every step of a scoring run shares.
type ScoreRun struct {
	Model string
	// ID is the run's name, stored in every prediction row; Stamp is
	// unique to one execution of it and keys its staging.
	ID, Stamp   string
	Version     int
	ArtifactKey string
	Key         string
	// KeyType is the entity key's type: string or int64.
	KeyType  string
	AsOf     time.Time
	ScoredAt time.Time
	// LakeOnly writes predictions.<model> in the lake and not in
	// PostgreSQL.
	LakeOnly bool
}

// ScoreFeaturesInput asks for a scoring population's features.
type ScoreFeaturesInput struct {
	Run ScoreRun
	// Population is the table whose distinct Run.Key values are scored.
	Population string
	Views      []SourcedView
	// Parts is how many hash partitions the work splits into; 0 means 16.
	Parts int
}

// ScoreFeaturesResult lists the parts written.
type ScoreFeaturesResult struct {
	// Objects are the parts' keys in the lake, one per non-empty part.
	Objects  []string
	Entities int64
	KeyType  string
	Read     map[string]int64
	Seconds  float64
}

// ScoreFeatures computes the population's features into hash parts in
// the lake (see scoring.Scorer.Features), heartbeating each part.
func (a *Scoring) ScoreFeatures(ctx context.Context, in ScoreFeaturesInput) (ScoreFeaturesResult, error) {
	res, err := a.Scorer.Features(ctx, scoring.FeaturesRequest{Job: scoring.Job(in.Run), Population: in.Population,
		Views: domainViews(in.Views), Parts: in.Parts, Attempt: activity.GetInfo(ctx).Attempt}, heartbeat(ctx))
	return ScoreFeaturesResult(res), temporalError(err)
}

// ScorePartInput is one part of a run to score.
type ScorePartInput struct {
	Run    ScoreRun
	Part   int
	Object string
}

// ScorePartResult is what a scored part recorded.
type ScorePartResult struct {
	Part      int
	Rows      int64
	LakeFiles []string
	Timings   map[string]float64
	// Drift is the part's drift tally (monitor.Tally as JSON), if any.
	Drift json.RawMessage
}

// ScorePart scores one part into the lake and the run's staging table
// (see scoring.Scorer.ScorePart).
func (a *Scoring) ScorePart(ctx context.Context, in ScorePartInput) (ScorePartResult, error) {
	p, err := a.Scorer.ScorePart(ctx, scoring.PartRequest{Job: scoring.Job(in.Run), Part: in.Part, Object: in.Object}, heartbeat(ctx))
	return ScorePartResult(p), temporalError(err)
}

// ScorePublishInput finishes a run.
type ScorePublishInput struct {
	Run   ScoreRun
	Parts int
	// Retention drops PostgreSQL partitions of as-of times older than the
	// run's by more than this; 0 keeps them all.
	Retention time.Duration
	// Drift thresholds the drift report; zero means the defaults.
	Drift DriftThresholds
}

// ScorePublishResult says what the run left.
type ScorePublishResult struct {
	Rows         int64
	LakeSnapshot int64
	// Timings sums the parts' seconds per step (read, predict,
	// lake_write, copy) and adds the publication's (commit).
	Timings map[string]float64
	Dropped []string
	// Drift is the run's drift level against the training reference
	// (ok, warn or alert; empty when the parts kept no tally), and
	// Drifted the features (or score) at warn or worse.
	Drift   string
	Drifted []string
}

// ScorePublish publishes the run in the lake and PostgreSQL at once (see
// scoring.Scorer.Publish).
func (a *Scoring) ScorePublish(ctx context.Context, in ScorePublishInput) (ScorePublishResult, error) {
	res, err := a.Scorer.Publish(ctx, scoring.PublishRequest{Job: scoring.Job(in.Run), Parts: in.Parts, Retention: in.Retention,
		Drift: monitor.Thresholds(in.Drift), Logger: activity.GetLogger(ctx)})
	return ScorePublishResult(res), temporalError(err)
}

// RowsProcessed is the entities whose features were computed (workers'
// metrics).
func (r ScoreFeaturesResult) RowsProcessed() int64 { return r.Entities }

// RowsProcessed is the part's rows (workers' metrics).
func (r ScorePartResult) RowsProcessed() int64 { return r.Rows }
