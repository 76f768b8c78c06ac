package features

import (
	"context"
	"fmt"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// AsOfColumn names the as-of time column of a snapshot's rows.
const AsOfColumn = "as_of"

// snapshotChunk is how many entities one emitted batch holds.
const snapshotChunk = 1 << 16

// SnapshotRows are the source rows a snapshot reads.
type SnapshotRows struct {
	// Rows holds the view's columns; it must hold every row that a
	// window or a plain column can see as of t (View.Horizon).
	Rows iter.Seq2[arrow.RecordBatch, error]
	// Older, if set, holds the other rows at or before t with just the
	// key (and the event time, for a change rule): they make their
	// entities count, and touched when the rule accepts them.
	Older iter.Seq2[arrow.RecordBatch, error]
	// Schema, if set, is Rows' schema: it types the plain and last
	// columns when no row of Rows reaches the as-of time.
	Schema *arrow.Schema
}

// Snapshot computes the view's features as of t for every entity with a
// source row at or before t and hands emit batches of the key, the as-of
// time and the features. It aggregates in one pass over the rows, in the
// order read, keeping a few values per entity: its memory grows with the
// entities, not with the rows. When changed is set, an entity only counts
// if one of its rows has an event time that changed accepts (see
// Materialize's incremental runs).
//
// The values are the package doc's; sums add in the order read, where a
// training set adds in time order, so the two can differ in the last bits.
func Snapshot(ctx context.Context, rows SnapshotRows, v View, t time.Time, changed func(time.Time) bool,
	tm *Timings, emit func(arrow.RecordBatch) error) error {
	_, err := snapshot(ctx, rows, v, t, changed, tm, emit, false)
	return err
}

// snapshot is Snapshot, returning its state when keep is set (and an
// entity had a row).
func snapshot(ctx context.Context, rows SnapshotRows, v View, t time.Time, changed func(time.Time) bool,
	tm *Timings, emit func(arrow.RecordBatch) error, keep bool) (*State, error) {
	agg := newSnapshotter(v, t.UTC().UnixMicro(), changed)
	defer agg.release()
	if rows.Schema != nil {
		agg.typeTakes(rows.Schema)
	}
	for _, part := range []struct {
		rows     iter.Seq2[arrow.RecordBatch, error]
		keysOnly bool
	}{{rows.Older, true}, {rows.Rows, false}} {
		if part.rows == nil {
			continue
		}
		for rec, err := range tm.timed(PhaseRead, part.rows) {
			if err == nil {
				err = ctx.Err()
			}
			if err == nil {
				start := time.Now()
				err = agg.add(ctx, rec, part.keysOnly)
				tm.Since(PhaseCompute, start)
			}
			if err != nil {
				return nil, fmt.Errorf("features: view %s: %w", v.Name, err)
			}
		}
	}
	if err := agg.emit(ctx, tm, emit); err != nil || !keep {
		return nil, err
	}
	return agg.state(ctx)
}

// Horizon is how far back a view's features as of t can see: a window
// covers (t−w, t], and a plain column's value is null past its ttl. All
// is set when a plain column has no ttl, so every row can matter.
func (v View) Horizon() (h time.Duration, all bool) {
	for _, a := range v.Aggregations {
		h = max(h, a.Window)
	}
	if len(v.Columns) > 0 {
		if v.TTL <= 0 {
			return 0, true
		}
		h = max(h, v.TTL+time.Microsecond) // t − event time ≤ ttl
	}
	return h, false
}

// snapshotter holds every entity's running aggregates as of one time.
type snapshotter struct {
	v       View
	at      int64
	changed func(time.Time) bool
	ids     *keyer
	keyType arrow.DataType
	// keys are the entities' keys, by id (first seen first).
	intKeys []int64
	strKeys []string
	// counted says an entity has a row at or before at (that changed
	// accepts).
	counted []bool
	// aggs holds the count, sum, mean, min and max aggregations, by
	// column: nested-window buckets for a scan, running window totals
	// when rolling state forward (see Roll).
	aggs []windowAggregates
	// touched says an entity has a row that changed accepts or, when
	// rolling, any row read; only touched entities are handed out then.
	touched []bool
	rolling bool
	// since is the rolled state's time (rolling only).
	since int64
	// newest is the plain columns' row: the newest at or before at.
	newest *takeSlot
	// lasts holds, per column of a last aggregation, its newest non-null
	// row at or before at.
	lasts []*takeSlot
	// rows lists a batch's rows to take, reused.
	rows []int32
}

func newSnapshotter(v View, at int64, changed func(time.Time) bool) *snapshotter {
	s := &snapshotter{v: v, at: at, changed: changed}
	for _, c := range columnWindowsOf(v, at) {
		s.aggs = append(s.aggs, c)
	}
	if len(v.Columns) > 0 {
		s.newest = newTakeSlot(v.Columns)
	}
	for _, a := range v.Aggregations {
		if a.Function == "last" && s.last(a.Column) == nil {
			s.lasts = append(s.lasts, newTakeSlot([]string{a.Column}))
		}
	}
	return s
}

func (s *snapshotter) release() {
	if s.newest != nil {
		s.newest.release()
	}
	for _, l := range s.lasts {
		l.release()
	}
}

// takeSlots are the plain columns' slot (if any) and the last ones.
func (s *snapshotter) takeSlots() []*takeSlot {
	if s.newest == nil {
		return s.lasts
	}
	return append([]*takeSlot{s.newest}, s.lasts...)
}

// typeTakes types the take slots' columns from the source's schema.
func (s *snapshotter) typeTakes(schema *arrow.Schema) {
	for _, t := range s.takeSlots() {
		for c, name := range t.cols {
			if idx := schema.FieldIndices(name); len(idx) > 0 && t.types[c] == nil {
				t.types[c] = schema.Field(idx[0]).Type
			}
		}
	}
}

// last is the take slot of a column's last aggregations.
func (s *snapshotter) last(col string) *takeSlot {
	for _, l := range s.lasts {
		if l.cols[0] == col {
			return l
		}
	}
	return nil
}

// grow makes room for entities up to n.
func (s *snapshotter) grow(n int) {
	for _, c := range s.aggs {
		c.grow(n)
	}
	for len(s.counted) < n {
		s.counted = append(s.counted, false)
		s.touched = append(s.touched, false)
		if s.newest != nil {
			s.newest.grow()
		}
		for _, l := range s.lasts {
			l.grow()
		}
	}
}

// column finds a named column of a batch.
func column(rec arrow.RecordBatch, name string) (arrow.Array, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("the source has no column %q", name)
	}
	return rec.Column(idx[0]), nil
}

// add folds a batch of source rows into the aggregates; keysOnly rows
// are past the horizon and only make their entities count.
func (s *snapshotter) add(ctx context.Context, rec arrow.RecordBatch, keysOnly bool) error {
	if rec.NumRows() == 0 {
		return nil
	}
	keys, err := column(rec, s.v.Key)
	if err != nil {
		return err
	}
	if keysOnly {
		return s.countAll(rec, keys)
	}
	tcol, err := column(rec, s.v.Timestamp)
	if err != nil {
		return err
	}
	ts, ok := tcol.(*array.Timestamp)
	if !ok || ts.DataType().(*arrow.TimestampType).Unit != arrow.Microsecond {
		return fmt.Errorf("the event time %s is %s, want timestamp[us]", s.v.Timestamp, tcol.DataType())
	}
	ids, err := s.number(keys)
	if err != nil {
		return err
	}
	lastVals := make([]arrow.Array, len(s.lasts))
	for l, slot := range s.lasts {
		if lastVals[l], err = column(rec, slot.cols[0]); err != nil {
			return err
		}
	}
	s.rows = s.fold(ids, ts, lastVals, s.rows[:0])
	for _, c := range s.aggs {
		vals, err := column(rec, c.name())
		if err == nil {
			err = c.fold(s.rows, ids, ts.TimestampValues(), vals)
		}
		if err != nil {
			return err
		}
	}
	if s.newest != nil {
		if err := s.newest.flush(ctx, rec); err != nil {
			return err
		}
	}
	for _, l := range s.lasts {
		if err := l.flush(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// fold takes a batch's rows at or before the as-of time: it counts
// their entities, offers them to the take slots (lastVals holds the
// columns of the last aggregations) and appends them to rows.
func (s *snapshotter) fold(ids []int32, ts *array.Timestamp, lastVals []arrow.Array, rows []int32) []int32 {
	times := ts.TimestampValues()
	timeNulls := ts.NullN() > 0
	for i, e := range ids {
		if e < 0 || (timeNulls && ts.IsNull(i)) {
			continue
		}
		at := int64(times[i])
		if at > s.at {
			continue
		}
		rows = append(rows, int32(i))
		s.counted[e] = true
		if !s.touched[e] && (s.rolling || (s.changed != nil && s.changed(time.UnixMicro(at).UTC()))) {
			s.touched[e] = true
		}
		if s.newest != nil {
			s.newest.offer(e, i, at)
		}
		for l, slot := range s.lasts {
			if lastVals[l].IsValid(i) {
				slot.offer(e, i, at)
			}
		}
	}
	return rows
}

// number gives a batch's keys their entities' ids, making room for new
// entities.
func (s *snapshotter) number(keys arrow.Array) ([]int32, error) {
	if s.ids == nil {
		s.ids, s.keyType = newKeyer(keys.DataType()), keys.DataType()
	}
	before := s.ids.n
	ids, err := s.ids.ids(keys, true)
	if err != nil {
		return nil, err
	}
	s.keep(keys, ids, before)
	s.grow(s.ids.n)
	return ids, nil
}

// countAll marks the entities of keys, from rows known to be at or
// before the as-of time; with a change rule, the batch's event times say
// which rows touch their entities.
func (s *snapshotter) countAll(rec arrow.RecordBatch, keys arrow.Array) error {
	ids, err := s.number(keys)
	if err != nil {
		return err
	}
	var ts *array.Timestamp
	if s.changed != nil {
		tcol, err := column(rec, s.v.Timestamp)
		if err != nil {
			return err
		}
		ts, _ = tcol.(*array.Timestamp)
		if ts == nil {
			return fmt.Errorf("the event time %s is %s, want timestamp[us]", s.v.Timestamp, tcol.DataType())
		}
	}
	for i, e := range ids {
		if e < 0 {
			continue
		}
		s.counted[e] = true
		if ts != nil && !s.touched[e] && ts.IsValid(i) && s.changed(time.UnixMicro(int64(ts.Value(i))).UTC()) {
			s.touched[e] = true
		}
	}
	return nil
}

// keep records the keys of the entities a batch saw first.
func (s *snapshotter) keep(keys arrow.Array, ids []int32, before int) {
	next := int32(before)
	for i, e := range ids {
		if e != next {
			continue
		}
		switch c := keys.(type) {
		case *array.Int64:
			s.intKeys = append(s.intKeys, c.Value(i))
		case *array.String:
			s.strKeys = append(s.strKeys, c.Value(i))
		}
		next++
	}
}

// handsOut says whether a counted entity's row goes out: every one of a
// plain snapshot; with a change rule, the touched ones; when rolling,
// the touched ones and those whose values aged since the state's time
// (a plain column past its ttl, a last value out of its window).
func (s *snapshotter) handsOut(e int32) bool {
	switch {
	case s.rolling:
		return s.touched[e] || s.aged(e)
	case s.changed != nil:
		return s.touched[e]
	}
	return true
}

// aged says a rolled entity's newest row crossed the ttl, or a last
// value its window, between the state's time and now.
func (s *snapshotter) aged(e int32) bool {
	crossed := func(t int64, d time.Duration) bool {
		return t != noTime && t <= s.at-d.Microseconds() && t > s.since-d.Microseconds()
	}
	if s.newest != nil && s.v.TTL > 0 && crossed(s.newest.time[e]+1, s.v.TTL) {
		return true
	}
	for _, a := range s.v.Aggregations {
		if a.Function == "last" && crossed(s.last(a.Column).time[e], a.Window) {
			return true
		}
	}
	return false
}

// emit hands out the counted entities' features, a chunk at a time.
func (s *snapshotter) emit(ctx context.Context, tm *Timings, emit func(arrow.RecordBatch) error) error {
	start := time.Now()
	var entities []int32
	for e, ok := range s.counted {
		if ok && s.handsOut(int32(e)) {
			entities = append(entities, int32(e))
		}
	}
	for _, t := range s.takeSlots() {
		if err := t.compact(ctx); err != nil {
			return err
		}
	}
	tm.Since(PhaseCompute, start)
	for from := 0; from < len(entities); from += snapshotChunk {
		start := time.Now()
		rec, err := s.chunk(ctx, entities[from:min(from+snapshotChunk, len(entities))])
		tm.Since(PhaseCompute, start)
		if err != nil {
			return err
		}
		err = emit(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// chunk builds the batch of some entities.
func (s *snapshotter) chunk(ctx context.Context, entities []int32) (arrow.RecordBatch, error) {
	n := len(entities)
	var out batchBuilder
	defer out.release()
	add := out.add
	add(s.v.Key, s.keyArray(entities))
	tb := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})
	for range n {
		tb.Append(arrow.Timestamp(s.at))
	}
	add(AsOfColumn, tb.NewArray())
	tb.Release()
	for c, name := range s.v.Columns {
		a, err := s.newest.take(ctx, c, entities, func(e int32) bool {
			return s.v.TTL <= 0 || s.at-s.newest.time[e] <= s.v.TTL.Microseconds()
		})
		if err != nil {
			return nil, fmt.Errorf("features: view %s column %s: %w", s.v.Name, name, err)
		}
		add(s.v.ColumnName(name), a)
	}
	for _, agg := range s.v.Aggregations {
		a, err := s.aggregation(ctx, agg, entities)
		if err != nil {
			return nil, fmt.Errorf("features: view %s: %w", s.v.Name, err)
		}
		add(agg.Name(s.v), a)
	}
	return out.record(n), nil
}

// aggregation is one aggregation's values for some entities.
func (s *snapshotter) aggregation(ctx context.Context, agg Aggregation, entities []int32) (arrow.Array, error) {
	if agg.Function == "last" {
		l, from := s.last(agg.Column), s.at-agg.Window.Microseconds()
		return l.take(ctx, 0, entities, func(e int32) bool { return l.time[e] > from })
	}
	c := s.aggs[slices.IndexFunc(s.aggs, func(c windowAggregates) bool { return c.name() == agg.Column })]
	if agg.Function == "count" {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		defer b.Release()
		for _, e := range entities {
			n, _, _, _ := c.window(e, agg.Window)
			b.Append(n)
		}
		return b.NewArray(), nil
	}
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	for _, e := range entities {
		n, sum, lo, hi := c.window(e, agg.Window)
		switch {
		case n == 0:
			b.AppendNull()
		case agg.Function == "sum":
			b.Append(sum)
		case agg.Function == "mean":
			b.Append(sum / float64(n))
		case agg.Function == "min":
			b.Append(lo)
		case agg.Function == "max":
			b.Append(hi)
		}
	}
	return b.NewArray(), nil
}

// batchBuilder collects named columns into a record batch.
type batchBuilder struct {
	fields []arrow.Field
	cols   []arrow.Array
}

// add takes a column; release (or record) gives it up.
func (b *batchBuilder) add(name string, a arrow.Array) {
	b.fields = append(b.fields, arrow.Field{Name: name, Type: a.DataType(), Nullable: true})
	b.cols = append(b.cols, a)
}

func (b *batchBuilder) record(rows int) arrow.RecordBatch {
	return array.NewRecordBatch(arrow.NewSchema(b.fields, nil), b.cols, int64(rows))
}

func (b *batchBuilder) release() {
	for _, c := range b.cols {
		c.Release()
	}
	b.cols = nil
}

// noTime marks an entity a take slot has no row for.
const noTime = math.MinInt64

// takeSlot follows, per entity, the newest row offered (ties: the last
// offered) and keeps its values of some columns. A batch's winners are
// copied out when the batch is done (flush), so no batch is held.
type takeSlot struct {
	cols []string
	time []int64 // per entity: the winner's event time, or noTime
	// row is, per entity, its winner in the current batch (-1: none);
	// dirty lists the entities that have one.
	row   []int32
	dirty []int32
	vals  []*takenValues   // per column
	types []arrow.DataType // per column, once a batch was seen
}

func newTakeSlot(cols []string) *takeSlot {
	t := &takeSlot{cols: cols, types: make([]arrow.DataType, len(cols))}
	for range cols {
		t.vals = append(t.vals, &takenValues{})
	}
	return t
}

func (t *takeSlot) grow() {
	t.time = append(t.time, noTime)
	t.row = append(t.row, -1)
	for _, v := range t.vals {
		v.pos = append(v.pos, -1)
	}
}

func (t *takeSlot) offer(e int32, row int, at int64) {
	if at < t.time[e] {
		return
	}
	t.time[e] = at
	if t.row[e] < 0 {
		t.dirty = append(t.dirty, e)
	}
	t.row[e] = int32(row)
}

// flush copies the batch's winners' values out of it.
func (t *takeSlot) flush(ctx context.Context, rec arrow.RecordBatch) error {
	for c, name := range t.cols {
		if t.types[c] == nil {
			if col, err := column(rec, name); err == nil {
				t.types[c] = col.DataType()
			}
		}
	}
	if len(t.dirty) == 0 {
		return nil
	}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for _, e := range t.dirty {
		b.Append(int64(t.row[e]))
	}
	rows := b.NewArray()
	b.Release()
	defer rows.Release()
	for c, name := range t.cols {
		col, err := column(rec, name)
		if err != nil {
			return err
		}
		piece, err := compute.TakeArray(ctx, col, rows)
		if err != nil {
			return fmt.Errorf("keeping the values of %s: %w", name, err)
		}
		t.vals[c].add(piece, t.dirty)
		if err := t.vals[c].maybeCompact(ctx); err != nil {
			return err
		}
	}
	for _, e := range t.dirty {
		t.row[e] = -1
	}
	t.dirty = t.dirty[:0]
	return nil
}

func (t *takeSlot) compact(ctx context.Context) error {
	for _, v := range t.vals {
		if err := v.compactAll(ctx); err != nil {
			return err
		}
	}
	return nil
}

// take is column c's values for some entities, null where keep says no
// or the entity has no row.
func (t *takeSlot) take(ctx context.Context, c int, entities []int32, keep func(e int32) bool) (arrow.Array, error) {
	v := t.vals[c]
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for _, e := range entities {
		if p := v.pos[e]; p >= 0 && keep(e) {
			b.Append(p)
		} else {
			b.AppendNull()
		}
	}
	idx := b.NewArray()
	defer idx.Release()
	if len(v.pieces) == 0 { // no entity had a value
		return array.MakeArrayOfNull(memory.DefaultAllocator, t.types[c], len(entities)), nil
	}
	return compute.TakeArray(ctx, v.pieces[0], idx)
}

func (t *takeSlot) release() {
	for _, v := range t.vals {
		v.release()
	}
}

// takenValues are values taken from batches: pieces that, end to end,
// hold every entity's value at pos.
type takenValues struct {
	pieces []arrow.Array
	pos    []int64 // per entity; -1: none
	size   int64
}

func (v *takenValues) add(piece arrow.Array, entities []int32) {
	for i, e := range entities {
		v.pos[e] = v.size + int64(i)
	}
	v.pieces = append(v.pieces, piece)
	v.size += int64(piece.Len())
}

// maybeCompact keeps the pieces within twice the entities (plus slack):
// rows that lost to newer ones are dropped.
func (v *takenValues) maybeCompact(ctx context.Context) error {
	if v.size <= 2*int64(len(v.pos))+snapshotChunk {
		return nil
	}
	return v.compactAll(ctx)
}

// compactAll rewrites the pieces as one array with an entity's value at
// its id.
func (v *takenValues) compactAll(ctx context.Context) error {
	if len(v.pieces) == 0 || (len(v.pieces) == 1 && v.size <= int64(len(v.pos))) {
		return nil
	}
	all, err := array.Concatenate(v.pieces, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	defer all.Release()
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for _, p := range v.pos {
		if p >= 0 {
			b.Append(p)
		} else {
			b.AppendNull()
		}
	}
	idx := b.NewArray()
	b.Release()
	defer idx.Release()
	one, err := compute.TakeArray(ctx, all, idx)
	if err != nil {
		return err
	}
	v.release()
	v.pieces, v.size = []arrow.Array{one}, int64(one.Len())
	for e, p := range v.pos {
		if p >= 0 {
			v.pos[e] = int64(e)
		}
	}
	return nil
}

func (v *takenValues) release() {
	for _, p := range v.pieces {
		p.Release()
	}
	v.pieces = nil
}

// changedFrom is the earliest event time ChangedBetween(v, wm, t) can
// accept, whatever t: an entity it keeps has a row this late or later,
// and so do the rows its features as of t see.
func (v View) changedFrom(wm time.Time) time.Time {
	back := time.Duration(0)
	for _, a := range v.Aggregations {
		back = max(back, a.Window)
	}
	if v.TTL > 0 && len(v.Columns) > 0 {
		back = max(back, v.TTL)
	}
	return wm.Add(-back)
}

// ChangedBetween says which source rows can make an entity's features as
// of t differ from its features as of an earlier time wm: a row that
// entered (wm, t], that left a window w ((wm−w, t−w]), or that aged past
// the ttl of a plain column ([wm−ttl, t−ttl): a value is null once
// t − event time > ttl). An entity with none of these rows has the same
// values at both times. It is nil (everything counts) when wm is zero or
// not before t.
func ChangedBetween(v View, wm, t time.Time) func(at time.Time) bool {
	if wm.IsZero() || !t.After(wm) {
		return nil
	}
	type span struct {
		from, to   time.Time
		closedFrom bool // [from, to) rather than (from, to]
	}
	spans := []span{{from: wm, to: t}}
	for _, ag := range v.Aggregations {
		spans = append(spans, span{from: wm.Add(-ag.Window), to: t.Add(-ag.Window)})
	}
	if v.TTL > 0 && len(v.Columns) > 0 {
		spans = append(spans, span{from: wm.Add(-v.TTL), to: t.Add(-v.TTL), closedFrom: true})
	}
	return func(at time.Time) bool {
		for _, s := range spans {
			if s.closedFrom {
				if !at.Before(s.from) && at.Before(s.to) {
					return true
				}
			} else if at.After(s.from) && !at.After(s.to) {
				return true
			}
		}
		return false
	}
}
