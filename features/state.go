package features

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// State is every entity's running aggregates as of one time: what a
// materialization needs to roll forward to a later time (Roll) from the
// rows that changed since, instead of reading every window again. It
// holds, per entity with a row at or before its time, the newest row's
// time and plain values, each last aggregation's newest non-null time and
// value, and each window's count and sum.
type State struct {
	// AsOf is the state's time.
	AsOf time.Time
	// View fingerprints the view definition the state was built for.
	View string
	rec  arrow.RecordBatch
}

// Release frees the state's columns.
func (st *State) Release() {
	if st != nil && st.rec != nil {
		st.rec.Release()
	}
}

// Entities is how many entities the state holds.
func (st *State) Entities() int64 { return st.rec.NumRows() }

// Rollable says a view's features can roll forward from a state: min and
// max cannot, since a value leaving a window takes its extreme with it.
func Rollable(v View) bool {
	return !slices.ContainsFunc(v.Aggregations, func(a Aggregation) bool { return a.Function == "min" || a.Function == "max" })
}

// Fingerprint identifies a view's definition: a state built for another
// definition cannot be rolled forward.
func Fingerprint(v View) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// WriteTo writes the state as an Arrow IPC stream.
func (st *State) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	md := arrow.NewMetadata([]string{"as_of", "view"}, []string{strconv.FormatInt(st.AsOf.UnixMicro(), 10), st.View})
	schema := arrow.NewSchema(st.rec.Schema().Fields(), &md)
	wr := ipc.NewWriter(cw, ipc.WithSchema(schema), ipc.WithZstd())
	rec := array.NewRecordBatch(schema, st.rec.Columns(), st.rec.NumRows())
	defer rec.Release()
	if err := wr.Write(rec); err != nil {
		return cw.n, fmt.Errorf("writing the state: %w", err)
	}
	return cw.n, wr.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadState reads a state WriteTo wrote.
func ReadState(r io.Reader) (*State, error) {
	rd, err := ipc.NewReader(r, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, fmt.Errorf("reading the state: %w", err)
	}
	defer rd.Release()
	md := rd.Schema().Metadata()
	if md.FindKey("as_of") < 0 || md.FindKey("view") < 0 {
		return nil, fmt.Errorf("reading the state: no as-of time or view")
	}
	micros, err := strconv.ParseInt(md.Values()[md.FindKey("as_of")], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("reading the state: as-of time: %w", err)
	}
	var recs []arrow.RecordBatch
	for rd.Next() {
		rec := rd.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := rd.Err(); err != nil {
		releaseAll(recs)
		return nil, fmt.Errorf("reading the state: %w", err)
	}
	plain := arrow.NewSchema(rd.Schema().Fields(), nil)
	var rec arrow.RecordBatch
	if len(recs) == 1 {
		rec = array.NewRecordBatch(plain, recs[0].Columns(), recs[0].NumRows())
	} else {
		tbl := array.NewTableFromRecords(plain, recs)
		defer tbl.Release()
		cols := make([]arrow.Array, tbl.NumCols())
		for i := range cols {
			if cols[i], err = array.Concatenate(tbl.Column(i).Data().Chunks(), memory.DefaultAllocator); err != nil {
				releaseAll(recs)
				return nil, fmt.Errorf("reading the state: %w", err)
			}
			defer cols[i].Release()
		}
		rec = array.NewRecordBatch(plain, cols, tbl.NumRows())
	}
	releaseAll(recs)
	return &State{AsOf: time.UnixMicro(micros).UTC(), View: md.Values()[md.FindKey("view")], rec: rec}, nil
}

// State column names.
func stateNewest() string                           { return "newest_time" }
func statePlain(col string) string                  { return "plain:" + col }
func stateLastTime(col string) string               { return "last_time:" + col }
func stateLast(col string) string                   { return "last:" + col }
func stateCount(col string, w time.Duration) string { return "n:" + col + ":" + FormatWindow(w) }
func stateSum(col string, w time.Duration) string   { return "sum:" + col + ":" + FormatWindow(w) }
func stateComp(col string, w time.Duration) string  { return "comp:" + col + ":" + FormatWindow(w) }

// state is the snapshotter's running aggregates of its counted entities.
func (s *snapshotter) state(ctx context.Context) (*State, error) {
	var entities []int32
	for e, ok := range s.counted {
		if ok {
			entities = append(entities, int32(e))
		}
	}
	var out batchBuilder
	defer out.release()
	add := out.add
	if s.keyType == nil {
		return nil, nil // no entity
	}
	add(s.v.Key, s.keyArray(entities))
	times := func(t []int64) arrow.Array {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		defer b.Release()
		for _, e := range entities {
			if t[e] == noTime {
				b.AppendNull()
			} else {
				b.Append(t[e])
			}
		}
		return b.NewArray()
	}
	every := func(int32) bool { return true }
	for _, t := range s.takeSlots() {
		if err := t.compact(ctx); err != nil {
			return nil, err
		}
	}
	if s.newest != nil {
		add(stateNewest(), times(s.newest.time))
		for c, col := range s.v.Columns {
			a, err := s.newest.take(ctx, c, entities, every)
			if err != nil {
				return nil, err
			}
			add(statePlain(col), a)
		}
	}
	for _, l := range s.lasts {
		add(stateLastTime(l.cols[0]), times(l.time))
		a, err := l.take(ctx, 0, entities, every)
		if err != nil {
			return nil, err
		}
		add(stateLast(l.cols[0]), a)
	}
	for _, c := range s.aggs {
		for _, w := range windowsOf(s.v, c.name()) {
			nb := array.NewInt64Builder(memory.DefaultAllocator)
			sb := array.NewFloat64Builder(memory.DefaultAllocator)
			cb := array.NewFloat64Builder(memory.DefaultAllocator)
			for _, e := range entities {
				n, sum, comp := c.parts(e, w)
				nb.Append(n)
				sb.Append(sum)
				cb.Append(comp)
			}
			add(stateCount(c.name(), w), nb.NewArray())
			add(stateSum(c.name(), w), sb.NewArray())
			add(stateComp(c.name(), w), cb.NewArray())
			nb.Release()
			sb.Release()
			cb.Release()
		}
	}
	rec := out.record(len(entities))
	return &State{AsOf: time.UnixMicro(s.at).UTC(), View: Fingerprint(s.v), rec: rec}, nil
}

// keyArray is the keys of some entities.
func (s *snapshotter) keyArray(entities []int32) arrow.Array {
	kb := array.NewBuilder(memory.DefaultAllocator, s.keyType)
	defer kb.Release()
	for _, e := range entities {
		switch b := kb.(type) {
		case *array.Int64Builder:
			b.Append(s.intKeys[e])
		case *array.StringBuilder:
			b.Append(s.strKeys[e])
		}
	}
	return kb.NewArray()
}

// windowsOf lists the distinct windows of a column's count, sum and mean
// aggregations, ascending.
func windowsOf(v View, col string) []time.Duration {
	var ws []time.Duration
	for _, a := range v.Aggregations {
		if a.Column == col && a.Function != "last" && !slices.Contains(ws, a.Window) {
			ws = append(ws, a.Window)
		}
	}
	slices.Sort(ws)
	return ws
}

// RollRows are the rows a roll forward from a state's time wm to t reads.
type RollRows struct {
	// Entering holds the rows with event times in (wm, t].
	Entering iter.Seq2[arrow.RecordBatch, error]
	// Late holds the rows appended since the state was built with event
	// times at or before wm.
	Late iter.Seq2[arrow.RecordBatch, error]
	// Leaving holds the rows the state counted that leave a window w on
	// the way to t: event times in (wm − w, min(wm, t − w)] for some w
	// (rows outside these spans are ignored).
	Leaving iter.Seq2[arrow.RecordBatch, error]
}

// Roll computes the view's features as of t from a state as of an
// earlier time and the rows that changed since, handing emit the
// entities whose values may differ (a row read, a plain column past its
// ttl, a last value out of its window), and returns the state as of t.
// Its values equal a full Snapshot's up to rounding: a window's sum is
// kept compensated (Neumaier) through its additions and subtractions. An
// infinite or NaN value leaving a window cannot be subtracted; Roll then
// fails with an error IsRecompute recognizes.
func Roll(ctx context.Context, st *State, rows RollRows, v View, t time.Time, tm *Timings, emit func(arrow.RecordBatch) error) (*State, error) {
	if !Rollable(v) {
		return nil, fmt.Errorf("features: view %s has min or max aggregations, which cannot roll forward", v.Name)
	}
	if st.View != Fingerprint(v) || !t.After(st.AsOf) {
		return nil, fmt.Errorf("features: view %s: the state (as of %s) is not for this view or not before %s", v.Name, st.AsOf, t)
	}
	s, err := loadState(ctx, st, v, t.UTC().UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("features: view %s: %w", v.Name, err)
	}
	defer s.release()
	for _, part := range []iter.Seq2[arrow.RecordBatch, error]{rows.Entering, rows.Late} {
		if part == nil {
			continue
		}
		for rec, err := range tm.timed(PhaseRead, part) {
			if err == nil {
				err = ctx.Err()
			}
			if err == nil {
				start := time.Now()
				err = s.add(ctx, rec, false)
				tm.Since(PhaseCompute, start)
			}
			if err != nil {
				return nil, fmt.Errorf("features: view %s: %w", v.Name, err)
			}
		}
	}
	if rows.Leaving != nil {
		for rec, err := range tm.timed(PhaseRead, rows.Leaving) {
			if err == nil {
				err = ctx.Err()
			}
			if err == nil {
				start := time.Now()
				err = s.leave(rec)
				tm.Since(PhaseCompute, start)
			}
			if err != nil {
				return nil, fmt.Errorf("features: view %s: %w", v.Name, err)
			}
		}
	}
	if err := s.emit(ctx, tm, emit); err != nil {
		return nil, err
	}
	return s.state(ctx)
}

// IsRecompute says a Roll failed because the state cannot roll forward
// over these rows: the caller recomputes from every row.
func IsRecompute(err error) bool { return errors.Is(err, errNotFinite) }

// loadState makes a snapshotter as of at that starts from a state.
func loadState(ctx context.Context, st *State, v View, at int64) (*snapshotter, error) {
	s := &snapshotter{v: v, at: at, rolling: true, since: st.AsOf.UnixMicro()}
	if len(v.Columns) > 0 {
		s.newest = newTakeSlot(v.Columns)
	}
	for _, a := range v.Aggregations {
		if a.Function == "last" && s.last(a.Column) == nil {
			s.lasts = append(s.lasts, newTakeSlot([]string{a.Column}))
		}
	}
	rec := st.rec
	col := func(name string) (arrow.Array, error) { return column(rec, name) }
	for _, c := range columnWindowsOf(v, at) {
		r := &rollingWindows{column: c.column, windows: c.windows, from: c.from, numeric: c.numeric, since: s.since}
		for _, w := range c.windows {
			r.leaveFrom = append(r.leaveFrom, s.since-w.Microseconds())
		}
		s.aggs = append(s.aggs, r)
	}
	keys, err := col(v.Key)
	if err != nil {
		return nil, err
	}
	if _, err := s.number(keys); err != nil {
		return nil, err
	}
	n := int(rec.NumRows())
	for e := range n {
		s.counted[e] = true
	}
	restore := func(t *takeSlot, timeCol string, valCols []string) error {
		tc, err := col(timeCol)
		if err != nil {
			return err
		}
		times := tc.(*array.Int64)
		for e := range n {
			if times.IsValid(e) {
				t.time[e] = times.Value(e)
			}
		}
		for c, name := range valCols {
			vals, err := col(name)
			if err != nil {
				return err
			}
			vals.Retain()
			t.vals[c].pieces, t.vals[c].size, t.types[c] = []arrow.Array{vals}, int64(n), vals.DataType()
			for e := range n {
				if times.IsValid(e) {
					t.vals[c].pos[e] = int64(e)
				}
			}
		}
		return nil
	}
	if s.newest != nil {
		names := make([]string, len(v.Columns))
		for i, c := range v.Columns {
			names[i] = statePlain(c)
		}
		if err := restore(s.newest, stateNewest(), names); err != nil {
			s.release()
			return nil, err
		}
	}
	for _, l := range s.lasts {
		if err := restore(l, stateLastTime(l.cols[0]), []string{stateLast(l.cols[0])}); err != nil {
			s.release()
			return nil, err
		}
	}
	for _, a := range s.aggs {
		r := a.(*rollingWindows)
		for k, w := range r.windows {
			nc, err := col(stateCount(r.column, w))
			if err != nil {
				s.release()
				return nil, err
			}
			sc, err := col(stateSum(r.column, w))
			if err != nil {
				s.release()
				return nil, err
			}
			cc, err := col(stateComp(r.column, w))
			if err != nil {
				s.release()
				return nil, err
			}
			copy(r.n[k], nc.(*array.Int64).Int64Values())
			copy(r.sum[k], sc.(*array.Float64).Float64Values())
			copy(r.comp[k], cc.(*array.Float64).Float64Values())
		}
	}
	return s, nil
}

// leave subtracts the rows leaving windows between the state's time and
// now.
func (s *snapshotter) leave(rec arrow.RecordBatch) error {
	if rec.NumRows() == 0 {
		return nil
	}
	keys, err := column(rec, s.v.Key)
	if err != nil {
		return err
	}
	tcol, err := column(rec, s.v.Timestamp)
	if err != nil {
		return err
	}
	ts, ok := tcol.(*array.Timestamp)
	if !ok {
		return fmt.Errorf("the event time %s is %s, want timestamp[us]", s.v.Timestamp, tcol.DataType())
	}
	ids, err := s.number(keys)
	if err != nil {
		return err
	}
	times := ts.TimestampValues()
	for _, a := range s.aggs {
		vals, err := column(rec, a.name())
		if err != nil {
			return err
		}
		if err := a.(*rollingWindows).unfold(ids, ts, times, vals, s.touched); err != nil {
			return err
		}
	}
	return nil
}

// rollingWindows keeps one column's count and sum per window, added to
// as rows enter and subtracted from as they leave.
type rollingWindows struct {
	column  string
	windows []time.Duration
	// from and leaveFrom are, per window, its start now and at the
	// state's time: a window covers (from, at].
	from, leaveFrom []int64
	since           int64 // the state's time
	numeric         bool
	n               [][]int64 // per window, per entity
	// sum and comp are a compensated (Neumaier) sum: additions and
	// subtractions of values far apart in size keep the small ones.
	sum, comp [][]float64
	nums      []float64
}

// errNotFinite says a value leaving a window is infinite or NaN: it
// cannot be subtracted back out of a sum, so the run recomputes.
var errNotFinite = errors.New("features: an infinite or NaN value leaves a window")

func (r *rollingWindows) name() string { return r.column }

func (r *rollingWindows) grow(n int) {
	for len(r.n) < len(r.windows) {
		r.n, r.sum, r.comp = append(r.n, nil), append(r.sum, nil), append(r.comp, nil)
	}
	for k := range r.windows {
		r.n[k], r.sum[k], r.comp[k] = extend(r.n[k], n), extend(r.sum[k], n), extend(r.comp[k], n)
	}
}

func (r *rollingWindows) values(vals arrow.Array) ([]float64, error) {
	if !r.numeric {
		return nil, nil
	}
	var ok bool
	if r.nums, ok = floatsInto(r.nums, vals); !ok {
		return nil, fmt.Errorf("the aggregation of column %s needs numbers; it is %s", r.column, vals.DataType())
	}
	return r.nums, nil
}

func (r *rollingWindows) fold(rows, ids []int32, times []arrow.Timestamp, vals arrow.Array) error {
	nums, err := r.values(vals)
	if err != nil {
		return err
	}
	nulls := vals.NullN() > 0
	for _, i := range rows {
		if nulls && vals.IsNull(int(i)) {
			continue
		}
		t, e := int64(times[i]), ids[i]
		for k := range r.windows {
			if t > r.from[k] {
				r.n[k][e]++
				if nums != nil {
					r.sum[k][e], r.comp[k][e] = neumaier(r.sum[k][e], r.comp[k][e], nums[i])
				}
			}
		}
	}
	return nil
}

// unfold subtracts the rows that were in a window at the state's time
// and are not now: event time in (leaveFrom, from]. Their entities are
// touched.
func (r *rollingWindows) unfold(ids []int32, ts *array.Timestamp, times []arrow.Timestamp, vals arrow.Array, touched []bool) error {
	nums, err := r.values(vals)
	if err != nil {
		return err
	}
	nulls := vals.NullN() > 0
	for i, e := range ids {
		if e < 0 || ts.IsNull(i) || (nulls && vals.IsNull(i)) {
			continue
		}
		t := int64(times[i])
		if t > r.since {
			continue // not in the state: it entered after it
		}
		for k := range r.windows {
			if t > r.leaveFrom[k] && t <= r.from[k] {
				touched[e] = true
				if nums != nil && (math.IsInf(nums[i], 0) || math.IsNaN(nums[i])) {
					return errNotFinite
				}
				if r.n[k][e]--; r.n[k][e] == 0 {
					r.sum[k][e], r.comp[k][e] = 0, 0 // no residue once the window empties
				} else if nums != nil {
					r.sum[k][e], r.comp[k][e] = neumaier(r.sum[k][e], r.comp[k][e], -nums[i])
				}
			}
		}
	}
	return nil
}

func (r *rollingWindows) window(e int32, w time.Duration) (n int64, sum, lo, hi float64) {
	n, sum, comp := r.parts(e, w)
	return n, sum + comp, 0, 0
}

func (r *rollingWindows) parts(e int32, w time.Duration) (n int64, sum, comp float64) {
	k := slices.Index(r.windows, w)
	return r.n[k][e], r.sum[k][e], r.comp[k][e]
}
