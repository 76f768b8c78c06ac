package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
)

// Features computes feature values from the lake: training sets now,
// materialization next.
type Features struct {
	Catalog *lakehouse.Catalog
	// TempDir holds spill files; empty means the system's.
	TempDir string
}

// SourcedView is a feature view and the lake table it reads.
type SourcedView struct {
	View  features.View
	Table string
}

// TrainingSetInput asks for a model's point-in-time training set.
type TrainingSetInput struct {
	Model string
	// RunID stamps the training table's snapshot; the workflow sets it.
	RunID string
	// LabelTable holds the labels: the entity key, the label time and
	// the label column.
	LabelTable  string
	Key         string
	LabelTime   string
	LabelColumn string
	Views       []SourcedView
	// Partitions bounds memory (see features.TrainingSet); 0 means 16.
	Partitions int
}

// TrainingSetResult says what was built from what.
type TrainingSetResult struct {
	Table      string
	Rows       int64
	SnapshotID int64
	// Read maps each table read to the snapshot read, so the set can be
	// rebuilt exactly.
	Read map[string]int64
}

// ReadSnapshotPrefix prefixes the training snapshot's summary keys that
// record the snapshot of each table read.
const ReadSnapshotPrefix = "sluice.read."

// TrainingSet builds training.<model>: every label row with each view's
// features as of its label time, joined a hash partition at a time, and
// replaces the table's content in one snapshot that records the snapshot
// of every table read. A retry of a committed run writes nothing.
func (a *Features) TrainingSet(ctx context.Context, in TrainingSetInput) (TrainingSetResult, error) {
	res := TrainingSetResult{Table: "training." + in.Model, Read: map[string]int64{}}
	if in.Model == "" || in.RunID == "" || in.LabelTable == "" || in.Key == "" || in.LabelTime == "" || in.LabelColumn == "" || len(in.Views) == 0 {
		return res, temporal.NewNonRetryableApplicationError("a training set needs a model, a run id, a label table with key, time and label columns, and views", ErrTypeBadInput, nil)
	}
	labels, err := a.Catalog.Read(ctx, in.LabelTable, lakehouse.ScanOptions{Columns: []string{in.Key, in.LabelTime, in.LabelColumn}})
	if err != nil {
		return res, badInputIfMissing(err)
	}
	res.Read[in.LabelTable] = labels.SnapshotID
	var views []features.Labeled
	for _, sv := range in.Views {
		cols := []string{sv.View.Key, sv.View.Timestamp}
		for _, c := range sv.View.Columns {
			cols = appendNew(cols, c)
		}
		for _, ag := range sv.View.Aggregations {
			cols = appendNew(cols, ag.Column)
		}
		rd, err := a.Catalog.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: cols})
		if err != nil {
			return res, badInputIfMissing(err)
		}
		if old, ok := res.Read[sv.Table]; ok && old != rd.SnapshotID {
			return res, fmt.Errorf("%s changed while the training set was read; retrying", sv.Table)
		}
		res.Read[sv.Table] = rd.SnapshotID
		views = append(views, features.Labeled{View: sv.View, Events: rd.Records})
	}

	// The set streams to a staged write as partitions come out.
	w := &stagedSink{a: a, ctx: ctx, table: res.Table, runID: in.RunID, ts: in.LabelTime}
	err = features.TrainingSet(ctx, labels.Records, views,
		features.TrainingSetOptions{Key: in.Key, Time: in.LabelTime, Partitions: in.Partitions, Dir: a.TempDir}, func(rec arrow.RecordBatch) error {
			activity.RecordHeartbeat(ctx, nil)
			res.Rows += rec.NumRows()
			return w.add(rec)
		})
	if err = errors.Join(err, w.finish()); err != nil {
		w.abort()
		return res, err
	}
	if w.stage == nil {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s has no label rows", in.LabelTable), ErrTypeBadInput, nil)
	}
	if w.stage.Done {
		res.SnapshotID = w.stage.SnapshotID()
		res.Rows, _ = strconv.ParseInt(w.stage.Summary()[rowsSummary], 10, 64)
		return res, nil
	}
	summary := map[string]string{rowsSummary: strconv.FormatInt(res.Rows, 10)}
	for t, id := range res.Read {
		summary[ReadSnapshotPrefix+t] = strconv.FormatInt(id, 10)
	}
	r, err := w.stage.Commit(ctx, lakehouse.CommitOptions{Replace: true, Summary: summary})
	if err != nil {
		return res, err
	}
	res.SnapshotID = r.SnapshotID
	return res, nil
}

// stagedSink writes batches of one schema to a table through a stage,
// creating the table from the first batch.
type stagedSink struct {
	a     *Features
	ctx   context.Context
	table string
	runID string
	ts    string
	stage *lakehouse.Stage
	feed  chan arrow.RecordBatch
	done  chan error
	once  sync.Once
}

func (w *stagedSink) add(rec arrow.RecordBatch) error {
	if w.stage == nil {
		if err := w.open(rec.Schema()); err != nil {
			return err
		}
	}
	if w.stage.Done {
		return nil // the run committed before: nothing to write
	}
	rec.Retain()
	select {
	case w.feed <- rec:
		return nil
	case err := <-w.done:
		rec.Release()
		if err == nil {
			err = errors.New("the writer stopped")
		}
		return err
	}
}

func (w *stagedSink) open(schema *arrow.Schema) error {
	if _, err := w.a.Catalog.EnsureTable(w.ctx, w.table, schema, w.ts); err != nil {
		return err
	}
	st, err := w.a.Catalog.Stage(w.ctx, w.table, schema, w.runID)
	if errors.Is(err, lakehouse.ErrSchemaDrift) {
		// A training set is derived data: a new feature list rebuilds
		// the table from scratch.
		if err = w.a.Catalog.Purge(w.ctx, w.table); err == nil {
			if _, err = w.a.Catalog.EnsureTable(w.ctx, w.table, schema, w.ts); err == nil {
				st, err = w.a.Catalog.Stage(w.ctx, w.table, schema, w.runID)
			}
		}
	}
	if err != nil {
		return err
	}
	w.stage = st
	if st.Done {
		return nil
	}
	w.feed, w.done = make(chan arrow.RecordBatch, 2), make(chan error, 1)
	go func() {
		_, err := w.stage.Write(w.ctx, func(yield func(arrow.RecordBatch, error) bool) {
			for rec := range w.feed {
				if !yield(rec, nil) {
					return
				}
			}
		})
		w.done <- err
	}()
	return nil
}

// finish waits for the writer.
func (w *stagedSink) finish() error {
	if w.feed == nil {
		return nil
	}
	var err error
	w.once.Do(func() {
		close(w.feed)
		err = <-w.done
	})
	return err
}

func (w *stagedSink) abort() {
	w.finish()
	if w.stage != nil {
		w.stage.Abort(context.WithoutCancel(w.ctx))
	}
}

func appendNew(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// badInputIfMissing marks a missing table as bad input: retrying will not
// create it.
func badInputIfMissing(err error) error {
	if errors.Is(err, lakehouse.ErrNoSuchTable) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
	}
	return err
}
