package activities

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sluice-ml/sluice/gates"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/training"
)

// Models records experiments and registers versions (io queue).
type Models struct {
	Registry    *registry.Registry
	Experiments *training.Experiments
	Lake        lakehouse.ObjectStore
	// Catalog, when set, tags each version's training data so expiry
	// keeps it (registry.TagTrainingData).
	Catalog *lakehouse.Catalog
}

// ModelVersion is a registered version as workflows carry it; see
// registry.Version.
type ModelVersion struct {
	Model             string             `json:"model"`
	Version           int                `json:"version"`
	Algorithm         string             `json:"algorithm"`
	Params            map[string]any     `json:"params"`
	Metrics           map[string]float64 `json:"metrics"`
	TrainingSnapshots map[string]int64   `json:"training_snapshots"`
	SpecVersion       string             `json:"spec_version"`
	FeatureSchema     json.RawMessage    `json:"feature_schema"`
	ArtifactKey       string             `json:"artifact_key"`
	WorkflowID        string             `json:"workflow_id"`
	RunID             string             `json:"run_id"`
	CodeVersion       string             `json:"code_version"`
	GateReport        json.RawMessage    `json:"gate_report,omitempty"`
	CreatedAt         time.Time          `json:"created_at"`
	Aliases           []string           `json:"aliases"`
}

// AliasMove is one move of an alias as workflows carry it; see
// registry.AliasMove.
type AliasMove struct {
	Model  string    `json:"model"`
	Alias  string    `json:"alias"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
}

// RecordTrialsInput is a training run's trials.
type RecordTrialsInput struct {
	Model, RunID string
	Params       []map[string]string
	Results      []TrialResult
	// Best is the index of the chosen trial in Results.
	Best int
}

// RecordTrials stores every trial of a run in sluice.experiments; a retry
// rewrites the same rows.
func (a *Models) RecordTrials(ctx context.Context, in RecordTrialsInput) error {
	results := make([]training.TrialResult, len(in.Results))
	for i, r := range in.Results {
		results[i] = training.TrialResult(r)
	}
	return a.Experiments.Record(ctx, in.Model, in.RunID, in.Params, results, in.Best)
}

// RegisterInput is a version to register and the trial artifact that
// becomes it.
type RegisterInput struct {
	Version       ModelVersion
	TrialArtifact string
}

// Register numbers a new version of the model, copies the trial's
// artifact to the version's place in the lake, and records the version.
// A retry of the same run finds the version it registered.
func (a *Models) Register(ctx context.Context, in RegisterInput) (ModelVersion, error) {
	v, err := a.Registry.RegisterArtifact(ctx, registry.Version(in.Version), a.Lake, in.TrialArtifact)
	if err == nil && a.Catalog != nil {
		err = registry.TagTrainingData(ctx, a.Catalog, v)
	}
	return ModelVersion(v), temporalError(err)
}

// ResolveInput names a model's alias.
type ResolveInput struct{ Model, Alias string }

// ResolveResult is the version an alias names, if any.
type ResolveResult struct {
	Found   bool
	Version ModelVersion
}

// Resolve looks an alias up; an unset alias is not an error.
func (a *Models) Resolve(ctx context.Context, in ResolveInput) (ResolveResult, error) {
	v, err := a.Registry.Resolve(ctx, in.Model, in.Alias)
	if errors.Is(err, registry.ErrNotFound) {
		return ResolveResult{}, nil
	}
	return ResolveResult{Found: err == nil, Version: ModelVersion(v)}, err
}

// GateReportInput stores a gate report with a version.
type GateReportInput struct {
	Model   string
	Version int
	Report  gates.Report
}

// SetGateReport stores the gates' verdict with the version.
func (a *Models) SetGateReport(ctx context.Context, in GateReportInput) error {
	b, err := json.Marshal(in.Report)
	if err != nil {
		return err
	}
	return a.Registry.SetGateReport(ctx, in.Model, in.Version, b)
}

// SetAliasInput moves an alias.
type SetAliasInput struct {
	Model, Alias string
	Version      int
	By, Reason   string
}

// SetAlias moves an alias (atomically, with its history and NOTIFY).
func (a *Models) SetAlias(ctx context.Context, in SetAliasInput) (AliasMove, error) {
	m, err := a.Registry.SetAlias(ctx, in.Model, in.Alias, in.Version, in.By, in.Reason)
	return AliasMove(m), err
}
