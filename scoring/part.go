package scoring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/monitor"
)

// PartRequest is one part of a run to score.
type PartRequest struct {
	Job    Job
	Part   int
	Object string
}

// lap times the steps of a part.
type lap struct {
	timings map[string]float64
	at      time.Time
}

func (l *lap) done(step string) {
	now := time.Now()
	l.timings[step] += now.Sub(l.at).Seconds()
	l.at = now
}

// ScorePart scores one part: reads its features, predicts on every core,
// writes the predictions to lake data files (staged, not committed) and
// COPYs them into the run's staging table, recording the part in the same
// transaction. A part already recorded is not scored again. progress is
// called once the predictions are made.
func (s *Scorer) ScorePart(ctx context.Context, req PartRequest, progress func()) (Part, error) {
	job := req.Job
	if parts, err := Parts(ctx, s.DB, job.Stamp); err != nil {
		return Part{}, err
	} else {
		for _, p := range parts {
			if p.Part == req.Part {
				return p, nil
			}
		}
	}
	clock := &lap{timings: map[string]float64{}, at: time.Now()}
	b, tally, err := s.predict(ctx, req, clock)
	if err != nil {
		return Part{}, err
	}
	defer b.Keys.Release()
	progress()
	// The lake files are written while the COPY runs; the part's record
	// commits with the COPY once both are done.
	stage, err := s.Catalog.Stage(ctx, job.lakeTable(), job.schema(), job.Stamp)
	if err != nil {
		return Part{}, err
	}
	lakeWritten := writeInBackground(ctx, stage, job.schema(), b)
	part := Part{Part: req.Part, Rows: int64(len(b.Score)), Timings: clock.timings, Drift: tally}
	copied := b
	if job.LakeOnly {
		copied = nil
	}
	rec, loaded, err := job.table().Load(ctx, s.DB, job.Stamp, part, copied, func(p *Part) error {
		if !job.LakeOnly {
			clock.done("copy")
		}
		w := lakeWritten()
		p.LakeFiles, p.Timings["lake_write"] = w.files, w.seconds
		return w.err
	})
	if w := lakeWritten(); err == nil && loaded {
		return rec, nil
	} else if err == nil {
		err = w.err
	}
	// Another attempt's record stands, or none: these files are not part
	// of the run.
	_ = stage.Abort(context.WithoutCancel(ctx))
	return rec, err
}

// predict reads a part's features and scores them, with the part's
// drift tally: its features and scores on the training reference's bins,
// about 2,000 values sampled (the run merges the parts').
func (s *Scorer) predict(ctx context.Context, req PartRequest, clock *lap) (*Batch, json.RawMessage, error) {
	job := req.Job
	art, err := s.artifact(ctx, job.ArtifactKey)
	if err != nil {
		return nil, nil, err
	}
	recs, err := GetIPC(ctx, s.Lake, req.Object)
	if err != nil {
		return nil, nil, err
	}
	defer releaseAll(recs)
	d, err := ml.FromArrow(recs, ml.ArrowOptions{Columns: trainer.ArtifactColumns(art)})
	if err != nil {
		return nil, nil, permanent.Errorf(permanent.BadInput, "the features do not fit model %s v%d: %w", job.Model, job.Version, err)
	}
	keyParts := make([]arrow.Array, len(recs))
	for i, r := range recs {
		keyParts[i] = r.Column(r.Schema().FieldIndices(job.Key)[0])
	}
	keys, err := array.Concatenate(keyParts, memory.DefaultAllocator)
	if err != nil {
		return nil, nil, err
	}
	clock.done("read")
	preds, err := art.Predict(trainer.Columns2D(d), 0)
	if err != nil {
		keys.Release()
		return nil, nil, err
	}
	b := &Batch{Run: job.run(), Keys: keys}
	b.Score, b.Label, b.Classes = art.Decide(preds, d.Rows())
	clock.done("predict")
	tally, err := json.Marshal(monitor.Count(art, d, preds, art.Outputs(), d.Rows()/2000))
	if err != nil {
		keys.Release()
		return nil, nil, err
	}
	clock.done("drift")
	return b, tally, nil
}

// written is what a background lake write left.
type written struct {
	files   []string
	seconds float64
	err     error
}

// writeInBackground writes the batch's rows to the stage while the
// caller goes on; the function it returns waits for the write.
func writeInBackground(ctx context.Context, stage *lakehouse.Stage, schema *arrow.Schema, b *Batch) func() written {
	done := make(chan written, 1)
	go func() {
		start := time.Now()
		w := stage.NewWriter(ctx, lakehouse.WriterOptions{Writers: 1})
		const chunk = 128 << 10
		for from := 0; from < len(b.Score); from += chunk {
			if w.Add(b.Record(schema, from, min(from+chunk, len(b.Score)))) != nil {
				break
			}
		}
		files, err := w.Close()
		done <- written{files, time.Since(start).Seconds(), err}
	}()
	return sync.OnceValue(func() written { return <-done })
}

// distinctKeys keeps the first row of each key (rows of one key at one
// time have the same features) and drops rows with a null key.
func distinctKeys(ctx context.Context, rec arrow.RecordBatch, key string) (arrow.RecordBatch, error) {
	col := rec.Column(rec.Schema().FieldIndices(key)[0])
	n := col.Len()
	var take []int64
	keep := func(i int) {
		if take != nil {
			take = append(take, int64(i))
		}
	}
	drop := func(i int) {
		if take == nil {
			take = make([]int64, i, n)
			for j := range take {
				take[j] = int64(j)
			}
		}
	}
	switch c := col.(type) {
	case *array.String:
		firstOfEach(n, c.Value, c.IsNull, keep, drop)
	case *array.Int64:
		firstOfEach(n, c.Value, c.IsNull, keep, drop)
	}
	if take == nil {
		rec.Retain()
		return rec, nil
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues(take, nil)
	idx := b.NewInt64Array()
	b.Release()
	defer idx.Release()
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(rec), compute.NewDatumWithoutOwning(idx))
	if err != nil {
		return nil, fmt.Errorf("keeping one row per key: %w", err)
	}
	return out.(*compute.RecordDatum).Value, nil
}

// firstOfEach calls keep for the first row of each non-null value and
// drop for the others.
func firstOfEach[K comparable](n int, value func(int) K, isNull func(int) bool, keep, drop func(int)) {
	seen := make(map[K]struct{}, n)
	for i := range n {
		k := value(i)
		if _, dup := seen[k]; dup || isNull(i) {
			drop(i)
			continue
		}
		seen[k] = struct{}{}
		keep(i)
	}
}

// PutIPC writes a record batch to the lake as an Arrow IPC file, as
// Features leaves a part.
func PutIPC(ctx context.Context, lake lakehouse.ObjectStore, key string, rec arrow.RecordBatch) error {
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err == nil {
		err = w.Write(rec)
	}
	if err = errors.Join(err, w.Close()); err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	return lake.Put(ctx, key, &buf)
}

// GetIPC reads an Arrow IPC file from the lake.
func GetIPC(ctx context.Context, lake lakehouse.ObjectStore, key string) ([]arrow.RecordBatch, error) {
	rc, err := lake.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	r, err := ipc.NewFileReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	defer r.Close()
	recs := make([]arrow.RecordBatch, 0, r.NumRecords())
	for i := range r.NumRecords() {
		rec, err := r.RecordBatch(i)
		if err != nil {
			releaseAll(recs)
			return nil, fmt.Errorf("decoding %s: %w", key, err)
		}
		rec.Retain()
		recs = append(recs, rec)
	}
	return recs, nil
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}
