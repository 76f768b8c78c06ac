package activities

import (
	"context"
	"encoding/json"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/training"
)

// Training trains trials of a sweep on the cpu and gpu queues (see
// training.Trainer).
type Training struct {
	Trainer *training.Trainer
}

// TrialInput is one trial of a sweep.
type TrialInput struct {
	Model string
	// RunID is the Train workflow's; Trial numbers the trial in it.
	RunID string
	Trial int
	// Table and Snapshot are the training set read.
	Table    string
	Snapshot int64
	// Key and Time are the entity and label-time columns (not features);
	// Label the label column.
	Key, Time, Label string
	Task             string
	Algorithm        string
	Params           map[string]string
	// ValidFraction and TestFraction split by label time: the newest
	// TestFraction of the rows is the test set, the ValidFraction before
	// it validation. 0 means 0.2 each.
	ValidFraction, TestFraction float64
	// CheckpointEvery is how many gbdt rounds pass between checkpoints
	// in the lake; 0 means 10.
	CheckpointEvery int
}

func (in TrialInput) split() features.Split {
	return features.Split{Table: in.Table, Snapshot: in.Snapshot, Key: in.Key, Time: in.Time,
		ValidFraction: in.ValidFraction, TestFraction: in.TestFraction}
}

// TrialResult is a trained trial.
type TrialResult struct {
	Trial int
	// Metrics are on the validation set.
	Metrics     map[string]float64
	ArtifactKey string
	// ResumedFrom is the round this attempt started from (0: the start).
	ResumedFrom int
	Rounds      int
	Worker      string
	Device      string
	// Seconds is the attempt's compute time, reading included.
	Seconds float64
}

// Trial trains one parameter set (see training.Trainer.Trial),
// heartbeating each checkpoint's round; a retried attempt resumes from
// the last checkpoint.
func (a *Training) Trial(ctx context.Context, in TrialInput) (TrialResult, error) {
	res, err := a.Trainer.Trial(ctx, training.TrialRequest{Model: in.Model, RunID: in.RunID, Trial: in.Trial, Split: in.split(),
		Label: in.Label, Task: in.Task, Algorithm: in.Algorithm, Params: in.Params, CheckpointEvery: in.CheckpointEvery},
		func(round int) { activity.RecordHeartbeat(ctx, round) })
	return TrialResult(res), temporalError(err)
}

// EvaluateInput names a trained artifact and the test split to measure it
// on (the same split the trial used).
type EvaluateInput struct {
	Trial       TrialInput
	ArtifactKey string
}

// EvaluateResult holds an artifact's metrics on the test split. It is
// encoded as the bare metrics map, as recorded histories hold it.
type EvaluateResult struct {
	Metrics map[string]float64
}

// MarshalJSON encodes the result as its metrics map.
func (r EvaluateResult) MarshalJSON() ([]byte, error) { return json.Marshal(r.Metrics) }

// UnmarshalJSON decodes a metrics map.
func (r *EvaluateResult) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, &r.Metrics) }

// Evaluate measures an artifact on the test split of its trial's training
// set.
func (a *Training) Evaluate(ctx context.Context, in EvaluateInput) (EvaluateResult, error) {
	m, err := a.Trainer.Evaluate(ctx, in.Trial.split(), in.Trial.Label, in.ArtifactKey)
	return EvaluateResult{Metrics: m}, temporalError(err)
}
