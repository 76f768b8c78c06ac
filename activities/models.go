package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/gates"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/registry"
)

// Models records experiments and registers versions (io queue).
type Models struct {
	Registry *registry.Registry
	DB       *pgxpool.Pool
	Lake     lakehouse.ObjectStore
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
	tx, err := a.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for i, r := range in.Results {
		params, _ := json.Marshal(in.Params[i])
		metrics, _ := json.Marshal(r.Metrics)
		if _, err := tx.Exec(ctx, `
			INSERT INTO sluice.experiments (run_id, model, trial, params, metrics, rounds, resumed_from, worker, device, artifact_key, best)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (run_id, trial) DO UPDATE SET params = EXCLUDED.params, metrics = EXCLUDED.metrics, rounds = EXCLUDED.rounds,
				resumed_from = EXCLUDED.resumed_from, worker = EXCLUDED.worker, device = EXCLUDED.device,
				artifact_key = EXCLUDED.artifact_key, best = EXCLUDED.best`,
			in.RunID, in.Model, r.Trial, params, metrics, r.Rounds, r.ResumedFrom, r.Worker, r.Device, r.ArtifactKey, i == in.Best); err != nil {
			return fmt.Errorf("recording trial %d: %w", r.Trial, err)
		}
	}
	return tx.Commit(ctx)
}

// RegisterInput is a version to register and the trial artifact that
// becomes it.
type RegisterInput struct {
	Version       registry.Version
	TrialArtifact string
}

// Register numbers a new version of the model, copies the trial's
// artifact to models/<model>/v<N>/model.sluice, and records the version.
// A retry of the same run finds the version it registered.
func (a *Models) Register(ctx context.Context, in RegisterInput) (registry.Version, error) {
	return a.Registry.RegisterPlaced(ctx, in.Version, func(n int) (string, error) {
		key := fmt.Sprintf("models/%s/v%d/model.sluice", in.Version.Model, n)
		r, err := a.Lake.Get(ctx, in.TrialArtifact)
		if err != nil {
			return "", err
		}
		defer r.Close()
		return key, a.Lake.Put(ctx, key, r)
	})
}

// ResolveInput names a model's alias.
type ResolveInput struct{ Model, Alias string }

// ResolveResult is the version an alias names, if any.
type ResolveResult struct {
	Found   bool
	Version registry.Version
}

// Resolve looks an alias up; an unset alias is not an error.
func (a *Models) Resolve(ctx context.Context, in ResolveInput) (ResolveResult, error) {
	v, err := a.Registry.Resolve(ctx, in.Model, in.Alias)
	if errors.Is(err, registry.ErrNotFound) {
		return ResolveResult{}, nil
	}
	return ResolveResult{Found: err == nil, Version: v}, err
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
func (a *Models) SetAlias(ctx context.Context, in SetAliasInput) (registry.AliasMove, error) {
	return a.Registry.SetAlias(ctx, in.Model, in.Alias, in.Version, in.By, in.Reason)
}
