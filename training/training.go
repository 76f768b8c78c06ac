// Package training runs a sweep's trials on the platform: each reads its
// training set's split from the lake, trains with the ml packages
// (checkpointing gbdt rounds to the lake, so a retried trial resumes
// where its last attempt stopped, on a GPU when the worker has one), and
// leaves its artifact in the lake; the run's trials are recorded in
// sluice.experiments. It is the platform side of ml/trainer, which
// knows nothing of storage.
package training

import (
	"bytes"
	"cmp"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/gpu"
	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/registry"
)

// Trainer trains trials from training sets in the lake.
type Trainer struct {
	Features *features.Store
	Lake     lakehouse.ObjectStore
	// Worker names this worker and Device what trials run on ("cpu", or
	// "gpu:N"), for the trials' records.
	Worker string
	Device string
	// GPUs, when set, hands each trial a GPU of this host for its run
	// (a gpu worker runs at most one trial per GPU), and GPU trains on it.
	GPUs *Devices
	GPU  *gpu.Pool
	// Fault, when set, is called after each checkpoint with its round; an
	// error fails the attempt there, as a crash would. Tests use it.
	Fault func(round int) error
}

// Devices hands out the indices of a host's GPUs, one trial each.
type Devices struct{ free chan int }

// NewDevices makes n GPUs, 0 to n-1, available.
func NewDevices(n int) *Devices {
	d := &Devices{free: make(chan int, n)}
	for i := range n {
		d.free <- i
	}
	return d
}

// acquire waits for a free GPU.
func (d *Devices) acquire(ctx context.Context) (int, error) {
	select {
	case i := <-d.free:
		return i, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (d *Devices) release(i int) { d.free <- i }

// TrialRequest is one trial of a sweep.
type TrialRequest struct {
	Model string
	// RunID is the training run's; Trial numbers the trial in it.
	RunID string
	Trial int
	// Split is the training set and how it splits by label time.
	Split features.Split
	// Label is the label column.
	Label     string
	Task      string
	Algorithm string
	Params    map[string]string
	// CheckpointEvery is how many gbdt rounds pass between checkpoints
	// in the lake; 0 means 10.
	CheckpointEvery int
}

func (r TrialRequest) prefix() string {
	return fmt.Sprintf("models/%s/runs/%s/trial-%03d/", r.Model, r.RunID, r.Trial)
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

// Trial trains one parameter set on the training set's train split and
// measures it on the validation split. gbdt trials checkpoint every few
// rounds to the lake and report the round to progress, so an attempt
// retried on another worker resumes from the last checkpoint and grows
// the same model.
func (t *Trainer) Trial(ctx context.Context, req TrialRequest, progress func(round int)) (TrialResult, error) {
	res := TrialResult{Trial: req.Trial, Worker: t.Worker, Device: t.Device}
	begin := time.Now()
	if req.Model == "" || req.RunID == "" || req.Split.Table == "" || req.Label == "" || req.Split.Time == "" {
		return res, permanent.Errorf(permanent.BadInput, "a trial needs a model, a run id, a training table and its label and time columns")
	}
	device := -1
	if t.GPUs != nil {
		d, err := t.GPUs.acquire(ctx)
		if err != nil {
			return res, err
		}
		defer t.GPUs.release(d)
		device = d
	}
	train, valid, err := t.trainValid(ctx, req)
	if err != nil {
		return res, err
	}
	art, err := t.train(ctx, req, train, valid, device, &res, progress)
	if err != nil {
		return res, fmt.Errorf("trial %d: %w", req.Trial, err)
	}
	var buf bytes.Buffer
	if err := artifact.Encode(&buf, art); err != nil {
		return res, err
	}
	res.ArtifactKey = req.prefix() + "model.sluice"
	if err := t.Lake.Put(ctx, res.ArtifactKey, &buf); err != nil {
		return res, fmt.Errorf("writing trial %d's model: %w", req.Trial, err)
	}
	res.Metrics = art.Metrics
	res.Seconds = time.Since(begin).Seconds()
	return res, nil
}

// trainValid reads the train and validation splits as datasets.
func (t *Trainer) trainValid(ctx context.Context, req TrialRequest) (train, valid *ml.Dataset, err error) {
	sets, err := t.Features.SplitByTime(ctx, req.Split)
	if err != nil {
		return nil, nil, err
	}
	defer features.ReleaseSets(sets)
	if len(sets[features.Train]) == 0 || len(sets[features.Valid]) == 0 {
		return nil, nil, permanent.Errorf(permanent.BadInput, "%s has too few label times to split into train, validation and test", req.Split.Table)
	}
	task := ml.Task(req.Task)
	if train, err = ml.FromArrow(sets[features.Train], ml.ArrowOptions{Label: req.Label, Task: task}); err != nil {
		return nil, nil, permanent.Wrap(permanent.BadInput, err)
	}
	valid, err = ml.FromArrow(sets[features.Valid], ml.ArrowOptions{Label: req.Label, Task: task, Columns: trainer.Columns(train), Classes: train.Classes})
	if err != nil {
		return nil, nil, permanent.Wrap(permanent.BadInput, err)
	}
	return train, valid, nil
}

// train runs the trainer, on the trial's GPU when it has one. Each run
// starts from the last checkpoint: a GPU run that fails part-way
// continues on the CPU from its last checkpoint.
func (t *Trainer) train(ctx context.Context, req TrialRequest, train, valid *ml.Dataset, device int, res *TrialResult, progress func(int)) (*artifact.Artifact, error) {
	alg := artifact.Algorithm(req.Algorithm)
	if alg == "" {
		alg = artifact.GBDT
	}
	cpKey := req.prefix() + "checkpoint.gob"
	spec := trainer.Spec{Task: ml.Task(req.Task), Algorithm: alg, Label: req.Label, Params: req.Params}
	if alg == artifact.GBDT {
		spec.OnRound = t.checkpointer(ctx, req, cpKey, res, progress)
	}
	var art *artifact.Artifact
	run := func(eng gbdt.Engine) error {
		var err error
		if alg == artifact.GBDT {
			if spec.Resume, err = t.loadCheckpoint(ctx, cpKey); err != nil {
				return err
			}
			if spec.Resume != nil && res.ResumedFrom == 0 {
				res.ResumedFrom = spec.Resume.Round
			}
		}
		spec.Engine = eng
		art, err = trainer.Train(ctx, train, valid, spec)
		if errors.Is(err, gbdt.ErrCheckpointMismatch) {
			// A checkpoint of other parameters (an earlier release's
			// defaults) cannot resume: start over.
			spec.Resume, res.ResumedFrom = nil, 0
			art, err = trainer.Train(ctx, train, valid, spec)
		}
		return err
	}
	var err error
	switch why := cpuReason(alg, train); {
	case device >= 0 && t.GPU != nil && why == "":
		res.Device, err = t.GPU.Run(device, run)
	default:
		if device >= 0 {
			res.Device = fmt.Sprintf("cpu (gpu:%d held; %s)", device, cmp.Or(why, "this worker has no GPU pool"))
		}
		err = run(nil)
	}
	return art, err
}

// cpuReason says why a trial must train on the CPU even with a GPU held:
// "" when it can use the GPU.
func cpuReason(alg artifact.Algorithm, train *ml.Dataset) string {
	if alg != artifact.GBDT {
		return fmt.Sprintf("%s trains on the CPU", alg)
	}
	for _, f := range train.Features {
		if f.Kind == ml.Categorical {
			return fmt.Sprintf("categorical splits (feature %q) train on the CPU", f.Name)
		}
	}
	return ""
}

// checkpointer writes every CheckpointEvery'th round's checkpoint to the
// lake and reports the round.
func (t *Trainer) checkpointer(ctx context.Context, req TrialRequest, key string, res *TrialResult, progress func(int)) func(*gbdt.Checkpoint) error {
	every := req.CheckpointEvery
	if every <= 0 {
		every = 10
	}
	return func(cp *gbdt.Checkpoint) error {
		res.Rounds = cp.Round
		if cp.Round%every != 0 {
			return nil
		}
		// gob, not JSON: thresholds and losses may be infinite.
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(cp); err != nil {
			return fmt.Errorf("checkpointing trial %d: %w", req.Trial, err)
		}
		if err := t.Lake.Put(ctx, key, &b); err != nil {
			return fmt.Errorf("checkpointing trial %d: %w", req.Trial, err)
		}
		progress(cp.Round)
		if t.Fault != nil {
			return t.Fault(cp.Round)
		}
		return nil
	}
}

func (t *Trainer) loadCheckpoint(ctx context.Context, key string) (*gbdt.Checkpoint, error) {
	r, err := t.Lake.Get(ctx, key)
	if errors.Is(err, lakehouse.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", key, err)
	}
	defer r.Close()
	var cp gbdt.Checkpoint
	if err := gob.NewDecoder(r).Decode(&cp); err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", key, err)
	}
	return &cp, nil
}

// Evaluate measures an artifact on the test split of a training set (the
// split its trial used).
func (t *Trainer) Evaluate(ctx context.Context, split features.Split, label, artifactKey string) (map[string]float64, error) {
	art, err := registry.ReadArtifact(ctx, t.Lake, artifactKey)
	if err != nil {
		return nil, err
	}
	sets, err := t.Features.SplitByTime(ctx, split)
	if err != nil {
		return nil, err
	}
	defer features.ReleaseSets(sets)
	if len(sets[features.Test]) == 0 {
		return nil, permanent.Errorf(permanent.BadInput, "%s has no test rows", split.Table)
	}
	test, err := ml.FromArrow(sets[features.Test], ml.ArrowOptions{Label: label, Task: art.Task, Columns: trainer.ArtifactColumns(art), Classes: art.Classes})
	if err != nil {
		return nil, permanent.Wrap(permanent.BadInput, err)
	}
	preds, err := art.Predict(trainer.Columns2D(test), 0)
	if err != nil {
		return nil, err
	}
	return metrics.Evaluate(string(art.Task), test.Labels, preds, art.Outputs())
}

// Experiments records training runs' trials in sluice.experiments.
type Experiments struct {
	DB *pgxpool.Pool
}

// Record stores every trial of a run, best marking the chosen one (an
// index into results); a retry rewrites the same rows.
func (e *Experiments) Record(ctx context.Context, model, runID string, params []map[string]string, results []TrialResult, best int) error {
	tx, err := e.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for i, r := range results {
		ps, _ := json.Marshal(params[i])
		ms, _ := json.Marshal(r.Metrics)
		if _, err := tx.Exec(ctx, `
			INSERT INTO sluice.experiments (run_id, model, trial, params, metrics, rounds, resumed_from, worker, device, artifact_key, best)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (run_id, trial) DO UPDATE SET params = EXCLUDED.params, metrics = EXCLUDED.metrics, rounds = EXCLUDED.rounds,
				resumed_from = EXCLUDED.resumed_from, worker = EXCLUDED.worker, device = EXCLUDED.device,
				artifact_key = EXCLUDED.artifact_key, best = EXCLUDED.best`,
			runID, model, r.Trial, ps, ms, r.Rounds, r.ResumedFrom, r.Worker, r.Device, r.ArtifactKey, i == best); err != nil {
			return fmt.Errorf("recording trial %d: %w", r.Trial, err)
		}
	}
	return tx.Commit(ctx)
}
