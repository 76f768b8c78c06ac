package activities

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-ml/sluice/gpu"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/ml/trainer"
)

// Training trains models from training sets in the lake, on the cpu and
// gpu queues.
type Training struct {
	Catalog *lakehouse.Catalog
	Lake    lakehouse.ObjectStore
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

func (in TrialInput) prefix() string {
	return fmt.Sprintf("models/%s/runs/%s/trial-%03d/", in.Model, in.RunID, in.Trial)
}

// Trial trains one parameter set on the training set's train split and
// measures it on the validation split. gbdt trials checkpoint every few
// rounds to the lake and heartbeat the round, so an attempt retried on
// another worker resumes from the last checkpoint and grows the same
// model.
func (a *Training) Trial(ctx context.Context, in TrialInput) (TrialResult, error) {
	res := TrialResult{Trial: in.Trial, Worker: a.Worker, Device: a.Device}
	begin := time.Now()
	if in.Model == "" || in.RunID == "" || in.Table == "" || in.Label == "" || in.Time == "" {
		return res, temporal.NewNonRetryableApplicationError("a trial needs a model, a run id, a training table and its label and time columns", ErrTypeBadInput, nil)
	}
	task, alg := ml.Task(in.Task), artifact.Algorithm(in.Algorithm)
	if alg == "" {
		alg = artifact.GBDT
	}
	device := -1
	if a.GPUs != nil {
		d, err := a.GPUs.acquire(ctx)
		if err != nil {
			return res, err
		}
		defer a.GPUs.release(d)
		device = d
	}
	sets, err := a.splitByTime(ctx, in)
	if err != nil {
		return res, err
	}
	defer func() {
		for _, s := range sets {
			releaseAll(s)
		}
	}()
	if len(sets[0]) == 0 || len(sets[1]) == 0 {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s has too few label times to split into train, validation and test", in.Table), ErrTypeBadInput, nil)
	}
	train, err := ml.FromArrow(sets[0], ml.ArrowOptions{Label: in.Label, Task: task})
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	valid, err := ml.FromArrow(sets[1], ml.ArrowOptions{Label: in.Label, Task: task, Columns: trainer.Columns(train), Classes: train.Classes})
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	every := in.CheckpointEvery
	if every <= 0 {
		every = 10
	}
	cpKey := in.prefix() + "checkpoint.gob"
	spec := trainer.Spec{Task: task, Algorithm: alg, Label: in.Label, Params: in.Params}
	if alg == artifact.GBDT {
		spec.OnRound = func(cp *gbdt.Checkpoint) error {
			res.Rounds = cp.Round
			if cp.Round%every != 0 {
				return nil
			}
			// gob, not JSON: thresholds and losses may be infinite.
			var b bytes.Buffer
			if err := gob.NewEncoder(&b).Encode(cp); err != nil {
				return fmt.Errorf("checkpointing trial %d: %w", in.Trial, err)
			}
			if err := a.Lake.Put(ctx, cpKey, &b); err != nil {
				return fmt.Errorf("checkpointing trial %d: %w", in.Trial, err)
			}
			activity.RecordHeartbeat(ctx, cp.Round)
			if a.Fault != nil {
				return a.Fault(cp.Round)
			}
			return nil
		}
	}
	// Each run starts from the last checkpoint: a GPU run that fails
	// part-way continues on the CPU from its last checkpoint.
	var art *artifact.Artifact
	run := func(eng gbdt.Engine) error {
		if alg == artifact.GBDT {
			if spec.Resume, err = a.loadCheckpoint(ctx, cpKey); err != nil {
				return err
			}
			if spec.Resume != nil && res.ResumedFrom == 0 {
				res.ResumedFrom = spec.Resume.Round
			}
		}
		spec.Engine = eng
		art, err = trainer.Train(ctx, train, valid, spec)
		return err
	}
	if device >= 0 && a.GPU != nil && alg == artifact.GBDT {
		res.Device, err = a.GPU.Run(device, run)
	} else {
		if device >= 0 {
			res.Device = fmt.Sprintf("cpu (gpu:%d held; %s trains on the CPU)", device, alg)
		}
		err = run(nil)
	}
	if err != nil {
		return res, fmt.Errorf("trial %d: %w", in.Trial, err)
	}
	var buf bytes.Buffer
	if err := artifact.Encode(&buf, art); err != nil {
		return res, err
	}
	res.ArtifactKey = in.prefix() + "model.sluice"
	if err := a.Lake.Put(ctx, res.ArtifactKey, &buf); err != nil {
		return res, fmt.Errorf("writing trial %d's model: %w", in.Trial, err)
	}
	res.Metrics = art.Metrics
	res.Seconds = time.Since(begin).Seconds()
	return res, nil
}

func (a *Training) loadCheckpoint(ctx context.Context, key string) (*gbdt.Checkpoint, error) {
	r, err := a.Lake.Get(ctx, key)
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

// splitByTime reads the training set and splits its rows by label time
// into train, validation and test, without the key and time columns. The
// cut points are label times, so rows of one time stay together.
func (a *Training) splitByTime(ctx context.Context, in TrialInput) ([3][]arrow.RecordBatch, error) {
	var sets [3][]arrow.RecordBatch
	res, err := a.Catalog.Scan(ctx, in.Table, lakehouse.ScanOptions{SnapshotID: in.Snapshot})
	if err != nil {
		return sets, badInputIfMissing(err)
	}
	defer releaseAll(res.Records)
	if len(res.Records) == 0 {
		return sets, nil
	}
	schema := res.Records[0].Schema()
	ti := schema.FieldIndices(in.Time)
	if len(ti) == 0 {
		return sets, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s has no label time column %s", in.Table, in.Time), ErrTypeBadInput, nil)
	}
	var times []int64
	for _, r := range res.Records {
		ts, ok := r.Column(ti[0]).(*array.Timestamp)
		if !ok {
			return sets, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s.%s is not a timestamp", in.Table, in.Time), ErrTypeBadInput, nil)
		}
		for i := range ts.Len() {
			times = append(times, int64(ts.Value(i)))
		}
	}
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	vf, tf := in.ValidFraction, in.TestFraction
	if vf <= 0 {
		vf = 0.2
	}
	if tf <= 0 {
		tf = 0.2
	}
	testFrom := sorted[min(len(sorted)-1, int(float64(len(sorted))*(1-tf)))]
	validFrom := sorted[min(len(sorted)-1, int(float64(len(sorted))*(1-tf-vf)))]
	var keep []int
	for i, f := range schema.Fields() {
		if f.Name != in.Key && f.Name != in.Time {
			keep = append(keep, i)
		}
	}
	fields := make([]arrow.Field, len(keep))
	for j, i := range keep {
		fields[j] = schema.Field(i)
	}
	out := arrow.NewSchema(fields, nil)
	row := 0
	for _, r := range res.Records {
		cols := make([]arrow.Array, len(keep))
		for j, i := range keep {
			cols[j] = r.Column(i)
		}
		proj := array.NewRecordBatch(out, cols, r.NumRows())
		for set := range 3 {
			mb := array.NewBooleanBuilder(memory.DefaultAllocator)
			for i := range int(r.NumRows()) {
				t := times[row+i]
				which := 0
				switch {
				case t >= testFrom:
					which = 2
				case t >= validFrom:
					which = 1
				}
				mb.Append(which == set)
			}
			mask := mb.NewBooleanArray()
			mb.Release()
			part, err := compute.FilterRecordBatch(ctx, proj, mask, compute.DefaultFilterOptions())
			mask.Release()
			if err != nil {
				proj.Release()
				return sets, err
			}
			if part.NumRows() > 0 {
				sets[set] = append(sets[set], part)
			} else {
				part.Release()
			}
		}
		proj.Release()
		row += int(r.NumRows())
	}
	return sets, nil
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// EvaluateInput names a trained artifact and the test split to measure it
// on (the same split the trial used).
type EvaluateInput struct {
	Trial       TrialInput
	ArtifactKey string
}

// Evaluate measures an artifact on the test split of its trial's training
// set.
func (a *Training) Evaluate(ctx context.Context, in EvaluateInput) (map[string]float64, error) {
	art, err := readArtifact(ctx, a.Lake, in.ArtifactKey)
	if err != nil {
		return nil, err
	}
	sets, err := a.splitByTime(ctx, in.Trial)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range sets {
			releaseAll(s)
		}
	}()
	if len(sets[2]) == 0 {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s has no test rows", in.Trial.Table), ErrTypeBadInput, nil)
	}
	test, err := ml.FromArrow(sets[2], ml.ArrowOptions{Label: in.Trial.Label, Task: art.Task, Columns: trainer.ArtifactColumns(art), Classes: art.Classes})
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	preds, err := art.Predict(trainer.Columns2D(test), 0)
	if err != nil {
		return nil, err
	}
	return metrics.Evaluate(string(art.Task), test.Labels, preds, art.Outputs())
}

// readArtifact reads a model artifact from the lake; one that does not
// decode is bad input, not worth retrying.
func readArtifact(ctx context.Context, lake lakehouse.ObjectStore, key string) (*artifact.Artifact, error) {
	r, err := lake.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	art, err := artifact.Decode(r)
	r.Close()
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: %v", key, err), ErrTypeBadInput, err)
	}
	return art, nil
}
