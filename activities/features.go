package activities

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
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/online"
)

// Features computes feature values from the lake: training sets now,
// materialization next.
type Features struct {
	Catalog *lakehouse.Catalog
	// Online is the online store; nil skips online loads.
	Online *online.Store
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
	// Rebuild builds the set even when the table already holds one of
	// the same definition made from the tables as they are now.
	Rebuild bool
}

// definition fingerprints what a training set is made of (labels and
// views), not the data: equal definitions over equal snapshots give
// equal sets.
func (in TrainingSetInput) definition() (string, error) {
	b, err := json.Marshal(struct {
		LabelTable, Key, LabelTime, LabelColumn string
		Views                                   []SourcedView
	}{in.LabelTable, in.Key, in.LabelTime, in.LabelColumn, in.Views})
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
	// Seconds is the attempt's compute time.
	Seconds float64
	// Reused says the table already held this set; nothing was built.
	Reused bool
}

// ReadSnapshotPrefix prefixes the training snapshot's summary keys that
// record the snapshot of each table read.
const ReadSnapshotPrefix = "sluice.read."

// definitionSummary is the training snapshot's summary key holding the
// set's definition fingerprint.
const definitionSummary = "sluice.definition"

// reusable finds the set already in the table: same definition, and
// every table it read still at the snapshot it read.
func (a *Features) reusable(ctx context.Context, res TrainingSetResult, def string) (TrainingSetResult, bool, error) {
	id, summary, ok, err := a.Catalog.Current(ctx, res.Table)
	if err != nil || !ok || summary[definitionSummary] != def {
		return res, false, err
	}
	for k, v := range summary {
		t, found := strings.CutPrefix(k, ReadSnapshotPrefix)
		if !found {
			continue
		}
		read, _ := strconv.ParseInt(v, 10, 64)
		now, _, ok, err := a.Catalog.Current(ctx, t)
		if err != nil || !ok || now != read {
			return res, false, err
		}
		res.Read[t] = read
	}
	res.SnapshotID, res.Reused = id, true
	res.Rows, _ = strconv.ParseInt(summary[rowsSummary], 10, 64)
	return res, true, nil
}

// TrainingSet builds training.<model>: every label row with each view's
// features as of its label time, joined a hash partition at a time, and
// replaces the table's content in one snapshot that records the snapshot
// of every table read. A retry of a committed run writes nothing.
func (a *Features) TrainingSet(ctx context.Context, in TrainingSetInput) (TrainingSetResult, error) {
	res := TrainingSetResult{Table: "training." + in.Model, Read: map[string]int64{}}
	begin := time.Now()
	if in.Model == "" || in.RunID == "" || in.LabelTable == "" || in.Key == "" || in.LabelTime == "" || in.LabelColumn == "" || len(in.Views) == 0 {
		return res, temporal.NewNonRetryableApplicationError("a training set needs a model, a run id, a label table with key, time and label columns, and views", ErrTypeBadInput, nil)
	}
	def, err := in.definition()
	if err != nil {
		return res, err
	}
	if !in.Rebuild {
		if r, ok, err := a.reusable(ctx, res, def); err != nil || ok {
			return r, err
		}
	}
	labels, err := a.Catalog.Read(ctx, in.LabelTable, lakehouse.ScanOptions{Columns: []string{in.Key, in.LabelTime, in.LabelColumn}})
	if err != nil {
		return res, badInputIfMissing(err)
	}
	res.Read[in.LabelTable] = labels.SnapshotID
	views, err := readViews(ctx, a.Catalog, in.Views, res.Read)
	if err != nil {
		return res, err
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
	res.Seconds = time.Since(begin).Seconds()
	if w.stage.Done {
		res.SnapshotID = w.stage.SnapshotID()
		res.Rows, _ = strconv.ParseInt(w.stage.Summary()[rowsSummary], 10, 64)
		return res, nil
	}
	summary := map[string]string{rowsSummary: strconv.FormatInt(res.Rows, 10), definitionSummary: def}
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

// readViews opens each view's source rows for streaming (the columns the
// view reads), recording in read the snapshot each table is read at.
func readViews(ctx context.Context, cat *lakehouse.Catalog, svs []SourcedView, read map[string]int64) ([]features.Labeled, error) {
	var views []features.Labeled
	for _, sv := range svs {
		cols := []string{sv.View.Key, sv.View.Timestamp}
		for _, c := range sv.View.Columns {
			cols = appendNew(cols, c)
		}
		for _, ag := range sv.View.Aggregations {
			cols = appendNew(cols, ag.Column)
		}
		rd, err := cat.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: cols})
		if err != nil {
			return nil, badInputIfMissing(err)
		}
		if old, ok := read[sv.Table]; ok && old != rd.SnapshotID {
			return nil, fmt.Errorf("%s changed while it was read; retrying", sv.Table)
		}
		read[sv.Table] = rd.SnapshotID
		views = append(views, features.Labeled{View: sv.View, Events: rd.Records})
	}
	return views, nil
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
	if slices.Contains(xs, x) {
		return xs
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

// WatermarkMaterialized is the property of features.<view> holding the
// newest as-of time materialized: an incremental run recomputes only the
// entities whose features may have changed since.
const WatermarkMaterialized = "sluice.materialized-through"

// AsOfColumn is the as-of time column of features.<view>.
const AsOfColumn = features.AsOfColumn

// MaterializeInput asks for a view's features as of a time.
type MaterializeInput struct {
	View SourcedView
	// AsOf is the time the features are computed at.
	AsOf time.Time
	// RunID stamps the snapshot; the workflow derives it from the view
	// and the as-of time, so materializing the same time twice writes
	// once.
	RunID string
	// Online also upserts the rows into sluice_online.<view>.
	Online bool
	// Incremental computes only the entities whose features may have
	// changed since the stored watermark; otherwise every entity.
	Incremental bool
	Partitions  int
}

// MaterializeResult says what a run wrote.
type MaterializeResult struct {
	Table      string
	Entities   int64
	SnapshotID int64
	// SourceSnapshot is the snapshot of the source read.
	SourceSnapshot int64
	// Since is the watermark an incremental run started from (zero: all).
	Since time.Time
	// Online counts the rows upserted into the online store.
	Online int64
}

// Materialize computes a view's features for its entities as of a time
// and appends them to features.<view> (partitioned by the as-of day) in
// one snapshot that also moves the watermark; with Online it then upserts
// that snapshot's rows into the online store, so the two agree. An entity
// needs a source row at or before the as-of time to get a row.
//
// Incremental runs keep exactly the entities whose values can differ from
// the watermark's: a row entered (watermark, t], or left a window w
// ((watermark−w, t−w]), or a plain column aged past the ttl.
func (a *Features) Materialize(ctx context.Context, in MaterializeInput) (MaterializeResult, error) {
	v := in.View.View
	res := MaterializeResult{Table: "features." + v.Name}
	if v.Name == "" || in.View.Table == "" || in.RunID == "" || in.AsOf.IsZero() {
		return res, temporal.NewNonRetryableApplicationError("materialize needs a view, its source table, a run id and an as-of time", ErrTypeBadInput, nil)
	}
	t := in.AsOf.UTC()
	if in.Incremental {
		if wm, ok, err := a.Catalog.Property(ctx, res.Table, WatermarkMaterialized); err != nil {
			return res, err
		} else if ok {
			if res.Since, err = time.Parse(time.RFC3339Nano, wm); err != nil {
				return res, fmt.Errorf("reading the watermark of %s: %w", res.Table, err)
			}
		}
	}
	cols := []string{v.Key, v.Timestamp}
	for _, c := range v.Columns {
		cols = appendNew(cols, c)
	}
	for _, ag := range v.Aggregations {
		cols = appendNew(cols, ag.Column)
	}
	src, err := a.Catalog.Read(ctx, in.View.Table, lakehouse.ScanOptions{Columns: cols})
	if err != nil {
		return res, badInputIfMissing(err)
	}
	res.SourceSnapshot = src.SnapshotID
	changed := features.ChangedBetween(v, res.Since, t)
	w := &stagedSink{a: a, ctx: ctx, table: res.Table, runID: in.RunID, ts: AsOfColumn}
	err = features.Snapshot(ctx, src.Records, v, t, changed,
		features.TrainingSetOptions{Partitions: in.Partitions, Dir: a.TempDir}, func(rec arrow.RecordBatch) error {
			activity.RecordHeartbeat(ctx, nil)
			res.Entities += rec.NumRows()
			return w.add(rec)
		})
	if err = errors.Join(err, w.finish()); err != nil {
		w.abort()
		return res, err
	}
	if w.stage == nil {
		return res, nil // no entity has a row at or before t
	}
	if w.stage.Done {
		res.SnapshotID = w.stage.SnapshotID()
		res.Entities, _ = strconv.ParseInt(w.stage.Summary()[rowsSummary], 10, 64)
	} else {
		props := map[string]string{}
		if cur, ok, err := a.Catalog.Property(ctx, res.Table, WatermarkMaterialized); err != nil {
			return res, err
		} else if prev, perr := time.Parse(time.RFC3339Nano, cur); !ok || perr != nil || t.After(prev) {
			props[WatermarkMaterialized] = t.Format(time.RFC3339Nano)
		}
		r, err := w.stage.Commit(ctx, lakehouse.CommitOptions{TableProperties: props, Summary: map[string]string{
			rowsSummary: strconv.FormatInt(res.Entities, 10), ReadSnapshotPrefix + in.View.Table: strconv.FormatInt(src.SnapshotID, 10)}})
		if err != nil {
			return res, err
		}
		res.SnapshotID = r.SnapshotID
	}
	if in.Online && a.Online != nil {
		if res.Online, err = a.upsertOnline(ctx, res, v, t); err != nil {
			return res, err
		}
	}
	return res, nil
}

// upsertOnline loads the rows of the run's snapshot as of t.
func (a *Features) upsertOnline(ctx context.Context, res MaterializeResult, v features.View, t time.Time) (int64, error) {
	rd, err := a.Catalog.Read(ctx, res.Table, lakehouse.ScanOptions{SnapshotID: res.SnapshotID,
		Filter: iceberg.EqualTo(iceberg.Reference(AsOfColumn), iceberg.Timestamp(t.UnixMicro()))})
	if err != nil {
		return 0, err
	}
	// The online row holds the key and the features; its event time is
	// the as-of time.
	keep := []string{v.Key}
	keep = append(keep, v.OutputNames()...)
	schema, project, err := projection(rd.Schema, keep)
	if err != nil {
		return 0, err
	}
	return a.Online.Upsert(ctx, v.Name, v.Key, schema, func(yield func(arrow.RecordBatch, error) bool) {
		for rec, err := range rd.Records {
			if err != nil {
				yield(nil, err)
				return
			}
			p := project(rec)
			ok := yield(p, nil)
			p.Release()
			if !ok {
				return
			}
		}
	}, t)
}

// projection keeps the named columns of a schema.
func projection(s *arrow.Schema, names []string) (*arrow.Schema, func(arrow.RecordBatch) arrow.RecordBatch, error) {
	idx := make([]int, len(names))
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		found := s.FieldIndices(n)
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("the table has no column %s", n)
		}
		idx[i], fields[i] = found[0], s.Field(found[0])
	}
	out := arrow.NewSchema(fields, nil)
	return out, func(rec arrow.RecordBatch) arrow.RecordBatch {
		cols := make([]arrow.Array, len(idx))
		for i, j := range idx {
			cols[i] = rec.Column(j)
		}
		return array.NewRecordBatch(out, cols, rec.NumRows())
	}, nil
}

// RowsProcessed is the label rows joined (workers' metrics).
func (r TrainingSetResult) RowsProcessed() int64 { return r.Rows }

// RowsProcessed is the entities computed (workers' metrics).
func (r MaterializeResult) RowsProcessed() int64 { return r.Entities }
