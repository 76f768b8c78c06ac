package features

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/online"
)

// Store is the feature store's product path: training sets built into
// training.<model>, views materialized into features.<view> and the
// online store, each read from the lake's tables and written back in one
// snapshot per run.
type Store struct {
	Catalog *lakehouse.Catalog
	// Online is the online store; nil skips online loads.
	Online *online.Store
	// Lake keeps each materialization's per-entity state, from which
	// the next incremental run rolls forward (see Roll) instead of
	// reading every window again; nil recomputes every run.
	Lake lakehouse.ObjectStore
	// TempDir holds spill files; empty means the system's.
	TempDir string
	// SpillMemory bounds the bytes of rows the store's training sets,
	// together, keep in memory rather than in spill files; 0 means
	// DefaultSpillMemory and a negative value keeps none.
	// (Materializations aggregate in one pass and spill nothing.)
	SpillMemory int64

	memOnce sync.Once
	memory  *Memory
	// TrainingSetRetention is how long a training set's replaced
	// snapshots stay readable (trials in flight read theirs) before a
	// rebuild expires them and deletes their files; 0 means an hour.
	// Snapshots a model version holds are tagged and never expire.
	TrainingSetRetention time.Duration
}

// DefaultSpillMemory is Store.SpillMemory's default: 1 GiB.
const DefaultSpillMemory = 1 << 30

// spillMemory is the budget every run of the store shares, so training
// sets at once hold SpillMemory between them, not each.
func (s *Store) spillMemory() *Memory {
	s.memOnce.Do(func() {
		switch {
		case s.SpillMemory < 0:
		case s.SpillMemory == 0:
			s.memory = NewMemory(DefaultSpillMemory)
		default:
			s.memory = NewMemory(s.SpillMemory)
		}
	})
	return s.memory
}

// Snapshot summary and property keys of the tables the store writes.
const (
	// ReadSnapshotPrefix prefixes the summary keys that record the
	// snapshot of each table read.
	ReadSnapshotPrefix = "sluice.read."
	// RowsSummary is the summary key holding the rows a run wrote.
	RowsSummary = "sluice.rows"
	// definitionSummary holds a training set's definition fingerprint.
	definitionSummary = "sluice.definition"
	// WatermarkMaterialized is the property of features.<view> holding
	// the newest as-of time materialized: an incremental run recomputes
	// only the entities whose features may have changed since.
	WatermarkMaterialized = "sluice.materialized-through"
)

// SourcedView is a feature view and the lake table it reads.
type SourcedView struct {
	View  View
	Table string
}

// columns are the source columns the view reads.
func (sv SourcedView) columns() []string {
	cols := []string{sv.View.Key, sv.View.Timestamp}
	for _, c := range sv.View.Columns {
		cols = appendNew(cols, c)
	}
	for _, ag := range sv.View.Aggregations {
		cols = appendNew(cols, ag.Column)
	}
	return cols
}

// TrainingSetRequest asks for a model's point-in-time training set.
type TrainingSetRequest struct {
	Model string
	// RunID stamps the training table's snapshot.
	RunID string
	// LabelTable holds the labels: the entity key, the label time and
	// the label column.
	LabelTable, Key, LabelTime, LabelColumn string
	Views                                   []SourcedView
	// Partitions bounds memory (see TrainingSet); 0 means 16.
	Partitions int
	// Rebuild builds the set even when the table already holds one of
	// the same definition made from the tables as they are now.
	Rebuild bool
}

// definition fingerprints what a training set is made of (labels and
// views), not the data: equal definitions over equal snapshots give
// equal sets.
func (r TrainingSetRequest) definition() (string, error) {
	b, err := json.Marshal(struct {
		LabelTable, Key, LabelTime, LabelColumn string
		Views                                   []SourcedView
	}{r.LabelTable, r.Key, r.LabelTime, r.LabelColumn, r.Views})
	if err != nil {
		return "", fmt.Errorf("fingerprinting the training set: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// TrainingSetResult says what was built from what.
type TrainingSetResult struct {
	Table      string
	Rows       int64
	SnapshotID int64
	// Read maps each table read to the snapshot read, so the set can be
	// rebuilt exactly.
	Read map[string]int64
	// Seconds is the activity's time, from the reuse check to the commit.
	Seconds float64
	// Reused says the table already held this set; nothing was built.
	Reused bool
	// Phases is where the time went, in seconds by phase (PhasePlan…).
	Phases map[string]float64 `json:",omitempty"`
}

// BuildTrainingSet builds training.<model>: every label row with each
// view's features as of its label time, joined a hash partition at a
// time, and replaces the table's content in one snapshot that records the
// snapshot of every table read. A retry of a committed run writes
// nothing; progress is called as partitions come out.
func (s *Store) BuildTrainingSet(ctx context.Context, req TrainingSetRequest, progress func()) (TrainingSetResult, error) {
	tm, begin := &Timings{}, time.Now()
	res, err := s.buildTrainingSet(ctx, req, progress, tm)
	res.Phases, res.Seconds = tm.Seconds(), time.Since(begin).Seconds()
	return res, err
}

func (s *Store) buildTrainingSet(ctx context.Context, req TrainingSetRequest, progress func(), tm *Timings) (TrainingSetResult, error) {
	res := TrainingSetResult{Table: naming.Table(naming.Training, req.Model), Read: map[string]int64{}}
	if req.Model == "" || req.RunID == "" || req.LabelTable == "" || req.Key == "" || req.LabelTime == "" || req.LabelColumn == "" || len(req.Views) == 0 {
		return res, permanent.Errorf(permanent.BadInput, "a training set needs a model, a run id, a label table with key, time and label columns, and views")
	}
	def, err := req.definition()
	if err != nil {
		return res, err
	}
	if !req.Rebuild {
		if r, ok, err := s.reusable(ctx, res, def); err != nil || ok {
			return r, err
		}
	}
	start := time.Now()
	labels, err := s.Catalog.Read(ctx, req.LabelTable, lakehouse.ScanOptions{Columns: []string{req.Key, req.LabelTime, req.LabelColumn}})
	if err != nil {
		return res, permanent.WrapIf(permanent.BadInput, err, lakehouse.ErrNoSuchTable)
	}
	res.Read[req.LabelTable] = labels.SnapshotID
	views, err := s.ReadViews(ctx, req.Views, res.Read)
	if err != nil {
		return res, err
	}
	tm.Since(PhasePlan, start)
	// The set streams to a staged write as partitions come out.
	w := &sink{s: s, table: res.Table, runID: req.RunID, ts: req.LabelTime, timings: tm}
	res.Rows, err = w.run(ctx, progress, func(emit func(arrow.RecordBatch) error) error {
		return TrainingSet(ctx, labels.Records, views, TrainingSetOptions{Key: req.Key, Time: req.LabelTime, Partitions: req.Partitions, Dir: s.TempDir,
			Memory: s.spillMemory(), Timings: tm}, emit)
	})
	if err != nil {
		return res, err
	}
	if w.stage == nil {
		return res, permanent.Errorf(permanent.BadInput, "%s has no label rows", req.LabelTable)
	}
	if w.stage.Done {
		res.SnapshotID = w.stage.SnapshotID()
		res.Rows, _ = strconv.ParseInt(w.stage.Summary()[RowsSummary], 10, 64)
		return res, nil
	}
	summary := map[string]string{RowsSummary: strconv.FormatInt(res.Rows, 10), definitionSummary: def}
	for t, id := range res.Read {
		summary[ReadSnapshotPrefix+t] = strconv.FormatInt(id, 10)
	}
	start = time.Now()
	r, err := w.stage.Commit(ctx, lakehouse.CommitOptions{Replace: true, Summary: summary})
	tm.Since(PhaseCommit, start)
	if err != nil {
		return res, err
	}
	res.SnapshotID = r.SnapshotID
	// A rebuild replaces the whole set: the sets it replaced go, unless a
	// model version holds them or trials may still read them.
	keep := s.TrainingSetRetention
	if keep == 0 {
		keep = time.Hour
	}
	if _, err := s.Catalog.ExpireReplaced(ctx, res.Table, keep); err != nil {
		return res, fmt.Errorf("expiring the training sets %s replaced: %w", res.Table, err)
	}
	return res, nil
}

// reusable finds the set already in the table: same definition, and
// every table it read still at the snapshot it read.
func (s *Store) reusable(ctx context.Context, res TrainingSetResult, def string) (TrainingSetResult, bool, error) {
	id, summary, ok, err := s.Catalog.Current(ctx, res.Table)
	if err != nil || !ok || summary[definitionSummary] != def {
		return res, false, err
	}
	for k, v := range summary {
		t, found := strings.CutPrefix(k, ReadSnapshotPrefix)
		if !found {
			continue
		}
		read, _ := strconv.ParseInt(v, 10, 64)
		now, _, ok, err := s.Catalog.Current(ctx, t)
		if err != nil || !ok || now != read {
			return res, false, err
		}
		res.Read[t] = read
	}
	res.SnapshotID, res.Reused = id, true
	res.Rows, _ = strconv.ParseInt(summary[RowsSummary], 10, 64)
	return res, true, nil
}

// ReadViews opens each view's source rows for streaming (the columns the
// view reads), recording in read the snapshot each table is read at. A
// missing table is bad input.
func (s *Store) ReadViews(ctx context.Context, svs []SourcedView, read map[string]int64) ([]Labeled, error) {
	var views []Labeled
	for _, sv := range svs {
		rd, err := s.Catalog.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: sv.columns()})
		if err != nil {
			return nil, permanent.WrapIf(permanent.BadInput, err, lakehouse.ErrNoSuchTable)
		}
		if old, ok := read[sv.Table]; ok && old != rd.SnapshotID {
			return nil, fmt.Errorf("%s changed while it was read; retrying", sv.Table)
		}
		read[sv.Table] = rd.SnapshotID
		views = append(views, Labeled{View: sv.View, Events: rd.Records})
	}
	return views, nil
}

// sink writes batches of one schema to a table through a stage,
// creating the table from the first batch.
type sink struct {
	s       *Store
	table   string
	runID   string
	ts      string
	timings *Timings // counts PhaseWrite: the time spent adding batches and closing
	stage   *lakehouse.Stage
	w       *lakehouse.Writer
}

// run writes what compute emits, calling progress for each batch, and
// counts the rows; on failure nothing the run wrote stays.
func (k *sink) run(ctx context.Context, progress func(), compute func(emit func(arrow.RecordBatch) error) error) (int64, error) {
	var rows int64
	err := compute(func(rec arrow.RecordBatch) error {
		progress()
		rows += rec.NumRows()
		defer k.timings.Since(PhaseWrite, time.Now())
		return k.add(ctx, rec)
	})
	start := time.Now()
	err = errors.Join(err, k.close())
	k.timings.Since(PhaseWrite, start)
	if err != nil {
		k.abort(ctx)
	}
	return rows, err
}

func (k *sink) add(ctx context.Context, rec arrow.RecordBatch) error {
	if k.stage == nil {
		if err := k.open(ctx, rec.Schema()); err != nil {
			return err
		}
	}
	if k.stage.Done {
		return nil // the run committed before: nothing to write
	}
	rec.Retain()
	return k.w.Add(rec)
}

func (k *sink) open(ctx context.Context, schema *arrow.Schema) error {
	if _, err := k.s.Catalog.EnsureTable(ctx, k.table, schema, k.ts); err != nil {
		return err
	}
	st, err := k.s.Catalog.Stage(ctx, k.table, schema, k.runID)
	if errors.Is(err, lakehouse.ErrSchemaDrift) {
		// Derived data: a new feature list rebuilds the table from
		// scratch.
		if err = k.s.Catalog.Purge(ctx, k.table); err == nil {
			if _, err = k.s.Catalog.EnsureTable(ctx, k.table, schema, k.ts); err == nil {
				st, err = k.s.Catalog.Stage(ctx, k.table, schema, k.runID)
			}
		}
	}
	if err != nil {
		return err
	}
	k.stage = st
	if !st.Done {
		k.w = st.NewWriter(ctx, lakehouse.WriterOptions{Writers: 1, Buffer: 2})
	}
	return nil
}

// close waits for the writer.
func (k *sink) close() error {
	if k.w == nil {
		return nil
	}
	_, err := k.w.Close()
	return err
}

func (k *sink) abort(ctx context.Context) {
	k.close()
	if k.stage != nil {
		k.stage.Abort(context.WithoutCancel(ctx))
	}
}

func appendNew(xs []string, x string) []string {
	if slices.Contains(xs, x) {
		return xs
	}
	return append(xs, x)
}
