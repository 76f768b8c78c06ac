package features

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/naming"
)

// MaterializeRequest asks for a view's features as of a time.
type MaterializeRequest struct {
	View SourcedView
	// AsOf is the time the features are computed at.
	AsOf time.Time
	// RunID stamps the snapshot: materializing the same time twice under
	// the same id writes once.
	RunID string
	// Online also upserts the rows into the online store.
	Online bool
	// Incremental computes only the entities whose features may have
	// changed since the stored watermark; otherwise every entity.
	Incremental bool
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
	// Reused says the as-of time was materialized before from the same
	// source snapshot: nothing was computed or written.
	Reused bool
	// Rolled says the run rolled the state stored with the watermark
	// forward by the rows that changed since, instead of reading every
	// window again.
	Rolled bool `json:",omitempty"`
	// EmptyWindows says every window of every entity was empty (counts 0,
	// sums null): the as-of time is likely before or after the source's
	// data, such as now for historical data.
	EmptyWindows bool
	// Seconds is the activity's time; Phases is where it went, in seconds
	// by phase (PhasePlan…).
	Seconds float64            `json:",omitempty"`
	Phases  map[string]float64 `json:",omitempty"`
}

// Materialize computes a view's features for its entities as of a time
// and appends them to features.<view> (partitioned by the as-of day) in
// one snapshot that also moves the watermark; with Online it then upserts
// that snapshot's rows into the online store, so the two agree. An entity
// needs a source row at or before the as-of time to get a row; progress
// is called as partitions come out.
//
// Incremental runs keep exactly the entities whose values can differ from
// the watermark's: a row entered (watermark, t], or left a window w
// ((watermark−w, t−w]), or a plain column aged past the ttl. With a lake
// for states (Store.Lake) and a view without min or max, every run also
// stores its per-entity state, and the next incremental run rolls it
// forward (Roll) by reading only those rows and the rows appended since
// with earlier event times (late data), not every window; a state that
// does not fit (another view definition, an overwritten or expired source
// snapshot) makes the run read every row and store a new one. Without
// one, the change rule goes by event time alone, so late rows reach only
// entities recomputed for another reason until a full run.
func (s *Store) Materialize(ctx context.Context, req MaterializeRequest, progress func()) (MaterializeResult, error) {
	tm, begin := &Timings{}, time.Now()
	res, err := s.materialize(ctx, req, progress, tm)
	res.Phases, res.Seconds = tm.Seconds(), time.Since(begin).Seconds()
	return res, err
}

func (s *Store) materialize(ctx context.Context, req MaterializeRequest, progress func(), tm *Timings) (MaterializeResult, error) {
	v := req.View.View
	res := MaterializeResult{Table: naming.Table(naming.Features, v.Name)}
	if v.Name == "" || req.View.Table == "" || req.RunID == "" || req.AsOf.IsZero() {
		return res, permanent.Errorf(permanent.BadInput, "materialize needs a view, its source table, a run id and an as-of time")
	}
	t := req.AsOf.UTC()
	if req.Incremental {
		var err error
		if res.Since, _, err = s.materializedThrough(ctx, res.Table); err != nil {
			return res, err
		}
	}
	start := time.Now()
	roll, err := s.planRoll(ctx, req.View, res.Table, res.Since, t)
	if err != nil {
		return res, permanent.WrapIf(permanent.BadInput, err, lakehouse.ErrNoSuchTable)
	}
	var src snapshotScans
	// A run that stores its state reads every row: the state is of every
	// entity.
	keep := s.Lake != nil && Rollable(v)
	if roll == nil {
		if src, err = s.snapshotScans(ctx, req.View, res.Since, t, keep); err != nil {
			return res, permanent.WrapIf(permanent.BadInput, err, lakehouse.ErrNoSuchTable)
		}
		res.SourceSnapshot = src.snapshotID
	} else {
		defer roll.state.Release()
		res.SourceSnapshot, res.Rolled = roll.snapshotID, true
	}
	tm.Since(PhasePlan, start)
	// The same as-of time from the same source snapshot: the run's
	// snapshot holds the answer already.
	if id, sum, ok, err := s.Catalog.RunSnapshot(ctx, res.Table, req.RunID); err != nil {
		return res, err
	} else if ok && sum[ReadSnapshotPrefix+req.View.Table] == strconv.FormatInt(res.SourceSnapshot, 10) {
		res.SnapshotID, res.Reused = id, true
		res.Entities, _ = strconv.ParseInt(sum[RowsSummary], 10, 64)
		res.EmptyWindows = sum[emptyWindowsSummary] == "true"
		// The online store still gets the snapshot's rows: a run that
		// crashed between the two is finished here (upserts keep the
		// newer values, so loading them again changes nothing).
		if req.Online && s.Online != nil {
			if res.Online, err = s.upsertOnline(ctx, res, v, t); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	w := &sink{s: s, table: res.Table, runID: req.RunID, ts: AsOfColumn, timings: tm}
	windows := newWindowTally(v)
	// A run that keeps states and cannot roll hands out every entity: the
	// change rule goes by event time and would miss rows that arrived
	// late since the state it could not use.
	var changed func(time.Time) bool
	if !keep {
		changed = ChangedBetween(v, res.Since, t)
	}
	var state *State
	res.Entities, err = w.run(ctx, progress, func(emit func(arrow.RecordBatch) error) error {
		tallied := func(rec arrow.RecordBatch) error {
			windows.add(rec)
			return emit(rec)
		}
		var err error
		if roll != nil {
			if state, err = Roll(ctx, roll.state, roll.rows, v, t, tm, tallied); !IsRecompute(err) {
				return err
			}
			res.Rolled = false
			if src, err = s.snapshotScans(ctx, req.View, time.Time{}, t, true); err != nil {
				return err
			}
			if src.snapshotID != res.SourceSnapshot {
				return fmt.Errorf("the source of %s changed during the run; run it again", v.Name)
			}
		}
		state, err = snapshot(ctx, src.rows, v, t, changed, tm, tallied, keep && src.complete)
		return err
	})
	defer func() { state.Release() }() // the state at the end, not now
	// A run that computed no entity (an incremental run with nothing
	// changed) says nothing about the windows.
	res.EmptyWindows = res.Entities > 0 && windows.allEmpty()
	if err != nil {
		return res, err
	}
	if w.stage == nil {
		return res, nil // no entity has a row at or before t
	}
	if w.stage.Done {
		res.SnapshotID = w.stage.SnapshotID()
		res.Entities, _ = strconv.ParseInt(w.stage.Summary()[RowsSummary], 10, 64)
	} else if res.SnapshotID, err = s.commitRun(ctx, w.stage, res, req, t, state, tm); err != nil {
		return res, err
	}
	if req.Online && s.Online != nil {
		start := time.Now()
		res.Online, err = s.upsertOnline(ctx, res, v, t)
		tm.Since(PhaseOnline, start)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// snapshotScans are the scans of one source snapshot a materialization
// reads.
type snapshotScans struct {
	rows       SnapshotRows
	snapshotID int64
	// complete says every row at or before t is read (the state of every
	// entity can be kept).
	complete bool
}

// snapshotScans plans the reads of a snapshot as of t, pruned by event
// time: no row after t; for an incremental run since a watermark that
// keeps no complete state, no row before the earliest that ChangedBetween
// can accept; otherwise the rows past the view's horizon read with just
// the key (they only make their entities count: such a run hands out
// every entity).
func (s *Store) snapshotScans(ctx context.Context, sv SourcedView, since, t time.Time, complete bool) (snapshotScans, error) {
	v := sv.View
	ts := iceberg.Reference(v.Timestamp)
	micros := func(t time.Time) iceberg.Timestamp { return iceberg.Timestamp(t.UnixMicro()) }
	upTo := iceberg.LessThanEqual(ts, micros(t))
	h, all := v.Horizon()
	var rows, older iceberg.BooleanExpression
	incremental := !since.IsZero() && since.Before(t)
	switch {
	case incremental && !complete:
		rows = iceberg.NewAnd(iceberg.GreaterThanEqual(ts, micros(v.changedFrom(since))), upTo)
	case all:
		rows = upTo
	default:
		rows = iceberg.NewAnd(iceberg.GreaterThan(ts, micros(t.Add(-h))), upTo)
		older = iceberg.LessThanEqual(ts, micros(t.Add(-h)))
	}
	rd, err := s.Catalog.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: sv.columns(), Filter: rows})
	if err != nil {
		return snapshotScans{}, err
	}
	out := snapshotScans{rows: SnapshotRows{Rows: rd.Records, Schema: rd.Schema}, snapshotID: rd.SnapshotID, complete: older != nil || all || !incremental}
	if older != nil && rd.SnapshotID != 0 {
		rd, err := s.Catalog.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: []string{v.Key}, Filter: older, SnapshotID: out.snapshotID})
		if err != nil {
			return snapshotScans{}, err
		}
		out.rows.Older = rd.Records
	}
	return out, nil
}

// commitRun stores the run's state when the run moves the watermark (a
// backfill of an earlier day does not), commits the snapshot with it, and
// deletes the state it replaced.
func (s *Store) commitRun(ctx context.Context, st *lakehouse.Stage, res MaterializeResult, req MaterializeRequest, t time.Time, state *State, tm *Timings) (int64, error) {
	var props map[string]string
	var old stateRef
	if state != nil {
		start := time.Now()
		wm, ok, err := s.materializedThrough(ctx, res.Table)
		if err == nil && (!ok || t.After(wm)) {
			if old, _, err = s.stateOf(ctx, res.Table); err == nil {
				props, err = s.saveState(ctx, state, res.Table, req.RunID, res.SourceSnapshot)
			}
		}
		tm.Since(PhaseWrite, start)
		if err != nil {
			return 0, err
		}
	}
	start := time.Now()
	id, err := s.commitSnapshot(ctx, st, res, req.View.Table, t, props)
	tm.Since(PhaseCommit, start)
	if err == nil && props != nil && old.Key != "" && old.Key != stateKey(res.Table, req.RunID, res.SourceSnapshot) {
		_ = s.Lake.Delete(ctx, old.Key) // no longer pointed at
	}
	return id, err
}

// materializedThrough is the table's watermark; ok is false before the
// first run.
func (s *Store) materializedThrough(ctx context.Context, table string) (wm time.Time, ok bool, err error) {
	v, ok, err := s.Catalog.Property(ctx, table, WatermarkMaterialized)
	if err != nil || !ok {
		return wm, false, err
	}
	if wm, err = time.Parse(time.RFC3339Nano, v); err != nil {
		return wm, false, fmt.Errorf("reading the watermark of %s: %w", table, err)
	}
	return wm, true, nil
}

// commitSnapshot commits a materialization, moving the watermark forward
// (never back: a backfill of an earlier day leaves it) and with it the
// state property, when given.
func (s *Store) commitSnapshot(ctx context.Context, st *lakehouse.Stage, res MaterializeResult, source string, t time.Time, state map[string]string) (int64, error) {
	props := map[string]string{}
	if cur, ok, err := s.Catalog.Property(ctx, res.Table, WatermarkMaterialized); err != nil {
		return 0, err
	} else if prev, perr := time.Parse(time.RFC3339Nano, cur); !ok || perr != nil || t.After(prev) {
		// The state moves with the watermark: the next incremental run
		// rolls forward from it.
		props[WatermarkMaterialized] = t.Format(time.RFC3339Nano)
		maps.Copy(props, state)
	}
	r, err := st.Commit(ctx, lakehouse.CommitOptions{TableProperties: props, Summary: map[string]string{
		RowsSummary: strconv.FormatInt(res.Entities, 10), ReadSnapshotPrefix + source: strconv.FormatInt(res.SourceSnapshot, 10),
		emptyWindowsSummary: strconv.FormatBool(res.EmptyWindows)}})
	return r.SnapshotID, err
}

// upsertOnline loads the rows of the run's snapshot as of t.
func (s *Store) upsertOnline(ctx context.Context, res MaterializeResult, v View, t time.Time) (int64, error) {
	rd, err := s.Catalog.Read(ctx, res.Table, lakehouse.ScanOptions{SnapshotID: res.SnapshotID,
		Filter: iceberg.EqualTo(iceberg.Reference(AsOfColumn), iceberg.Timestamp(t.UnixMicro()))})
	if err != nil {
		return 0, err
	}
	// The online row holds the key and the features; its event time is
	// the as-of time.
	keep := append([]string{v.Key}, v.OutputNames()...)
	schema, project, err := projection(rd.Schema, keep)
	if err != nil {
		return 0, err
	}
	return s.Online.Upsert(ctx, v.Name, v.Key, schema, func(yield func(arrow.RecordBatch, error) bool) {
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

// emptyWindowsSummary records in a materialization's snapshot that every
// window was empty.
const emptyWindowsSummary = "sluice.empty-windows"

// windowTally watches a materialization's aggregation columns for one
// value from a non-empty window: a count above 0, or any other
// aggregation not null.
type windowTally struct {
	cols     []string
	counts   map[string]bool
	nonEmpty bool
}

func newWindowTally(v View) *windowTally {
	t := &windowTally{counts: map[string]bool{}}
	for _, a := range v.Aggregations {
		name := a.Name(v)
		t.cols = append(t.cols, name)
		t.counts[name] = a.Function == "count"
	}
	return t
}

func (t *windowTally) add(rec arrow.RecordBatch) {
	if t.nonEmpty {
		return
	}
	for _, name := range t.cols {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			continue
		}
		col := rec.Column(idx[0])
		if !t.counts[name] {
			if col.NullN() < col.Len() {
				t.nonEmpty = true
				return
			}
			continue
		}
		if ints, ok := col.(*array.Int64); ok {
			for i := range ints.Len() {
				if ints.IsValid(i) && ints.Value(i) > 0 {
					t.nonEmpty = true
					return
				}
			}
		}
	}
}

// allEmpty says the view has windows and every one of them was empty.
func (t *windowTally) allEmpty() bool { return len(t.cols) > 0 && !t.nonEmpty }
