package features

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randomWorld is a stream of events with ties, late rows, nulls and keys
// that come and go; every amount is a multiple of 1/4, so sums are exact
// in any order.
func randomWorld(r *rand.Rand, nkeys, n int) []event {
	const hour = int64(time.Hour / time.Microsecond)
	var evs []event
	for range n {
		e := event{key: fmt.Sprintf("K%d", r.IntN(nkeys)), hasKey: r.IntN(30) > 0,
			at: int64(r.IntN(24*14)) * hour / int64(1+r.IntN(2)), hasAt: r.IntN(40) > 0,
			amount: float64(r.IntN(400)-100) / 4, hasAmt: r.IntN(6) > 0,
			plan: []string{"basic", "pro", "max"}[r.IntN(3)], hasPln: r.IntN(8) > 0}
		evs = append(evs, e)
		if r.IntN(5) == 0 {
			e.amount, e.plan = e.amount+1, "tie"
			evs = append(evs, e)
		}
	}
	return evs
}

func allFunctionsView(r *rand.Rand) View {
	// A plain column with a ttl inside the windows or past them, without
	// one, or none at all.
	v := []View{{Columns: []string{"plan"}, TTL: 48 * time.Hour}, {Columns: []string{"plan"}, TTL: 240 * time.Hour},
		{Columns: []string{"plan"}}, {}}[r.IntN(4)]
	v.Name, v.Key, v.Timestamp = "txn", "customer_id", "ts"
	for _, fn := range Functions {
		for _, w := range []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
			v.Aggregations = append(v.Aggregations, Aggregation{Column: "amount", Function: fn, Window: w})
		}
	}
	return v
}

// snapshotRows runs Snapshot and returns every entity's outputs by name.
func snapshotRows(t *testing.T, v View, recs []arrow.RecordBatch, at int64, changed func(time.Time) bool) map[string]map[string]any {
	return snapshotOf(t, v, SnapshotRows{Rows: seq(recs)}, at, changed)
}

// splitAtHorizon splits events as Materialize's scans do: the rows the
// view can see as of at, and the older ones with just the key (and the
// event time when withTime is set, for a change rule).
func splitAtHorizon(v View, evs []event, at int64, size int, withTime bool) (rows, older []arrow.RecordBatch) {
	h, all := v.Horizon()
	var recent, old []event
	for _, e := range evs {
		if !all && e.hasAt && e.at <= at-h.Microseconds() {
			old = append(old, e)
		} else {
			recent = append(recent, e)
		}
	}
	n := 1
	if withTime {
		n = 2
	}
	keyOnly := arrow.NewSchema(eventSchema.Fields()[:n], nil)
	for _, b := range batches(old, size) {
		older = append(older, array.NewRecordBatch(keyOnly, b.Columns()[:n], b.NumRows()))
		b.Release()
	}
	return batches(recent, size), older
}

func snapshotOf(t *testing.T, v View, in SnapshotRows, at int64, changed func(time.Time) bool) map[string]map[string]any {
	t.Helper()
	rows := map[string]map[string]any{}
	if err := Snapshot(context.Background(), in, v, time.UnixMicro(at).UTC(), changed, &Timings{}, collect(t, v, rows)); err != nil {
		t.Fatal(err)
	}
	return rows
}

// collect gathers emitted rows by key: every output by name.
func collect(t *testing.T, v View, rows map[string]map[string]any) func(arrow.RecordBatch) error {
	return func(rec arrow.RecordBatch) error {
		keys := rec.Column(0).(*array.String)
		asOf := rec.Column(1).(*array.Timestamp)
		for i := range keys.Len() {
			if i > 0 && asOf.Value(i) != asOf.Value(0) {
				t.Fatalf("as_of %d and %d in one batch", asOf.Value(i), asOf.Value(0))
			}
			if _, dup := rows[keys.Value(i)]; dup {
				t.Fatalf("entity %s twice", keys.Value(i))
			}
			row := map[string]any{}
			for c, name := range v.OutputNames() {
				if rec.ColumnName(c+2) != name {
					t.Fatalf("column %d is %s, want %s", c+2, rec.ColumnName(c+2), name)
				}
				if val, ok := cell(rec.Column(c+2), i); ok {
					row[name] = val
				}
			}
			rows[keys.Value(i)] = row
		}
		return nil
	}
}

// sortedState is a state's rows in key order.
func sortedState(t *testing.T, st *State) arrow.RecordBatch {
	t.Helper()
	keys := st.rec.Column(0).(*array.String)
	idx := make([]int64, keys.Len())
	for i := range idx {
		idx[i] = int64(i)
	}
	slices.SortFunc(idx, func(a, b int64) int { return strings.Compare(keys.Value(int(a)), keys.Value(int(b))) })
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	ib.AppendValues(idx, nil)
	ia := ib.NewArray()
	defer ia.Release()
	out, err := compute.TakeArray(context.Background(), st.rec.Column(0), ia)
	if err != nil {
		t.Fatal(err)
	}
	cols := []arrow.Array{out}
	for c := 1; c < int(st.rec.NumCols()); c++ {
		a, err := compute.TakeArray(context.Background(), st.rec.Column(c), ia)
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, a)
	}
	return array.NewRecordBatch(st.rec.Schema(), cols, st.rec.NumRows())
}

// TestSnapshotMatchesBruteForce compares the one-pass aggregation with the
// oracle: every entity with a row at or before t, and no other, gets
// every feature's oracle value; with a change rule, exactly the entities
// with a changed row do.
func TestSnapshotMatchesBruteForce(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 5))
		v := allFunctionsView(r)
		nkeys := 1 + r.IntN([]int{30, 1000}[r.IntN(2)]) // many keys: most have one row
		evs := randomWorld(r, nkeys, r.IntN(500))
		recs := batches(evs, 1+r.IntN(64))
		at := int64(r.IntN(24*16)) * hour
		if len(evs) > 0 && r.IntN(2) == 0 {
			at = evs[r.IntN(len(evs))].at + []int64{0, hour, 24 * hour, 48 * hour, 240 * hour, -1}[r.IntN(6)]
		}
		var changed func(time.Time) bool
		if r.IntN(2) == 0 {
			changed = ChangedBetween(v, time.UnixMicro(at-int64(1+r.IntN(72))*hour).UTC(), time.UnixMicro(at).UTC())
		}
		got := snapshotRows(t, v, recs, at, changed)
		if r.IntN(2) == 0 { // rows past the horizon as keys alone
			rows, older := splitAtHorizon(v, evs, at, 1+r.IntN(64), changed != nil)
			got = snapshotOf(t, v, SnapshotRows{Rows: seq(rows), Older: seq(older)}, at, changed)
			releaseAll(rows)
			releaseAll(older)
		}
		want := map[string]bool{}
		for _, e := range evs {
			if e.hasKey && e.hasAt && e.at <= at && (changed == nil || changed(time.UnixMicro(e.at).UTC())) {
				want[e.key] = true
			}
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d entities, want %d", seed, len(got), len(want))
		}
		for key := range want {
			row, ok := got[key]
			if !ok {
				t.Fatalf("seed %d: no row for %s", seed, key)
			}
			for _, name := range v.OutputNames() {
				w, wok := oracle(v, evs, key, at, name)
				h, hok := row[name]
				if wok != hok || w != h {
					t.Fatalf("seed %d: %s of %s at %d: got %v (%v), oracle %v (%v)", seed, name, key, at, h, hok, w, wok)
				}
			}
		}
		releaseAll(recs)
	}
}

// TestIncrementalEqualsFull: a full snapshot at the watermark, overlaid
// with an incremental one at t (entities ChangedBetween accepts), gives
// every entity the values of a full snapshot at t.
func TestIncrementalEqualsFull(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 11))
		v := allFunctionsView(r)
		evs := randomWorld(r, 1+r.IntN(40), 100+r.IntN(400))
		recs := batches(evs, 1+r.IntN(64))
		wm := int64(r.IntN(24*12)) * hour
		at := wm + int64(1+r.IntN(24*3))*hour
		merged := snapshotRows(t, v, recs, wm, nil)
		// The incremental run reads only the rows Materialize's scan
		// keeps: from changedFrom on.
		from := v.changedFrom(time.UnixMicro(wm).UTC()).UnixMicro()
		var late []event
		for _, e := range evs {
			if e.hasAt && e.at >= from {
				late = append(late, e)
			}
		}
		lateRecs := batches(late, 1+r.IntN(64))
		inc := snapshotRows(t, v, lateRecs, at, ChangedBetween(v, time.UnixMicro(wm).UTC(), time.UnixMicro(at).UTC()))
		releaseAll(lateRecs)
		for k, row := range inc {
			merged[k] = row
		}
		full := snapshotRows(t, v, recs, at, nil)
		if len(merged) != len(full) {
			t.Fatalf("seed %d: %d entities after the incremental run, %d in a full one", seed, len(merged), len(full))
		}
		for k, want := range full {
			got := merged[k]
			for _, name := range v.OutputNames() {
				if got[name] != want[name] {
					t.Fatalf("seed %d: %s of %s: incremental %v, full %v", seed, name, k, got[name], want[name])
				}
			}
		}
		releaseAll(recs)
	}
}

// TestKeyerNumbersMixedIntKeys: small keys (numbered by direct indexing)
// and negative or large ones (hashed) share one dense numbering in order
// of first appearance, across batches; nulls get -1.
func TestKeyerNumbersMixedIntKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	k := newKeyer(arrow.PrimitiveTypes.Int64)
	want := map[int64]int32{}
	for range 20 {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		var keys []int64
		for range 200 {
			x := []int64{r.Int64N(50), -1 - r.Int64N(50), directKeys - 5 + r.Int64N(10), r.Int64N(1 << 40)}[r.IntN(4)]
			keys = append(keys, x)
			if r.IntN(20) == 0 {
				b.AppendNull()
				keys[len(keys)-1] = 0
				continue
			}
			b.Append(x)
		}
		a := b.NewInt64Array()
		ids, err := k.ids(a, true)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if a.IsNull(i) {
				if id != -1 {
					t.Fatalf("a null key got id %d", id)
				}
				continue
			}
			w, seen := want[keys[i]]
			if !seen {
				w = int32(len(want))
				want[keys[i]] = w
			}
			if id != w {
				t.Fatalf("key %d got id %d, want %d", keys[i], id, w)
			}
		}
		a.Release()
		b.Release()
	}
	if k.n != len(want) {
		t.Errorf("%d ids handed out for %d keys", k.n, len(want))
	}
	// Lookups (add=false) find the keys added and nothing else, and do
	// not grow the direct index.
	k, want = newKeyer(arrow.PrimitiveTypes.Int64), map[int64]int32{2: 0, -7: 1}
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues([]int64{2, -7}, nil)
	added := b.NewInt64Array()
	if _, err := k.ids(added, true); err != nil {
		t.Fatal(err)
	}
	added.Release()
	size := len(k.direct)
	b.AppendValues([]int64{2, 1000, directKeys - 1, 3, -7, 1 << 40}, nil)
	a := b.NewInt64Array()
	defer a.Release()
	b.Release()
	ids, err := k.ids(a, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range a.Int64Values() {
		if w, ok := want[x]; (ok && ids[i] != w) || (!ok && ids[i] != -1) {
			t.Errorf("lookup of %d: id %d, want %d (known %v)", x, ids[i], w, ok)
		}
	}
	if len(k.direct) != size {
		t.Errorf("a lookup grew the direct index from %d to %d", size, len(k.direct))
	}
}

// fullState is a full snapshot's state as of at.
func fullState(t *testing.T, v View, recs []arrow.RecordBatch, at int64) *State {
	t.Helper()
	s := newSnapshotter(v, at, nil)
	defer s.release()
	for _, r := range recs {
		if err := s.add(context.Background(), r, false); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.state(context.Background())
	if err != nil || st == nil {
		t.Fatalf("state: %v", err)
	}
	return st
}

// TestRollEqualsFull: a full snapshot's state at wm, written out and read
// back, rolled forward to t by the rows entering (wm, t], the rows
// appended late (event times at or before wm, not in the state) and the
// rows leaving windows, hands out every entity whose values changed; over
// the snapshot at wm that equals a full snapshot at t, and so does the
// rolled state.
func TestRollEqualsFull(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 21))
		v := allFunctionsView(r)
		v.Aggregations = slices.DeleteFunc(v.Aggregations, func(a Aggregation) bool { return a.Function == "min" || a.Function == "max" })
		if r.IntN(3) == 0 {
			v.Aggregations = append(v.Aggregations, Aggregation{Column: "plan", Function: "count", Window: 30 * time.Hour})
		}
		all := randomWorld(r, 1+r.IntN([]int{30, 300}[r.IntN(2)]), 100+r.IntN(400))
		wm := int64(r.IntN(24*12)) * hour
		at := wm + int64(1+r.IntN(24*9))*hour
		// Some rows arrive after the state was built, and are read after
		// the others (ties: the last read wins).
		var known, arrived, late, entering, leaving []event
		for _, e := range all {
			if r.IntN(8) == 0 {
				arrived = append(arrived, e)
				if e.hasAt && e.at <= wm {
					late = append(late, e)
				}
			} else {
				known = append(known, e)
			}
		}
		all = append(slices.Clone(known), arrived...)
		for _, e := range all {
			if e.hasAt && e.at > wm && e.at <= at {
				entering = append(entering, e)
			}
		}
		longest, shortest := time.Duration(0), time.Duration(1<<62)
		for _, a := range v.Aggregations {
			longest, shortest = max(longest, a.Window), min(shortest, a.Window)
		}
		for _, e := range known {
			if e.hasAt && e.at > wm-longest.Microseconds() && e.at <= min(wm, at-shortest.Microseconds()) {
				leaving = append(leaving, e)
			}
		}
		size := 1 + r.IntN(64)
		knownRecs, allRecs := batches(known, size), batches(all, size)
		st := fullState(t, v, knownRecs, wm)
		var buf bytes.Buffer
		if _, err := st.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		st.Release()
		back, err := ReadState(&buf)
		if err != nil {
			t.Fatal(err)
		}
		merged := snapshotRows(t, v, knownRecs, wm, nil)
		enterRecs, lateRecs, leaveRecs := batches(entering, size), batches(late, size), batches(leaving, size)
		rolled := map[string]map[string]any{}
		next, err := Roll(context.Background(), back, RollRows{Entering: seq(enterRecs), Late: seq(lateRecs), Leaving: seq(leaveRecs)}, v,
			time.UnixMicro(at).UTC(), &Timings{}, collect(t, v, rolled))
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		back.Release()
		for k, row := range rolled {
			merged[k] = row
		}
		full := snapshotRows(t, v, allRecs, at, nil)
		if len(merged) != len(full) {
			t.Fatalf("seed %d: %d entities after the roll, %d in a full snapshot", seed, len(merged), len(full))
		}
		for k, want := range full {
			for _, name := range v.OutputNames() {
				if got := merged[k][name]; got != want[name] {
					t.Fatalf("seed %d: %s of %s: rolled %v, full %v (wm %d, t %d)", seed, name, k, got, want[name], wm, at)
				}
			}
		}
		want := fullState(t, v, allRecs, at)
		if !array.RecordEqual(sortedState(t, next), sortedState(t, want)) {
			t.Fatalf("seed %d: the rolled state differs from a full one", seed)
		}
		next.Release()
		want.Release()
		for _, rs := range [][]arrow.RecordBatch{knownRecs, allRecs, enterRecs, lateRecs, leaveRecs} {
			releaseAll(rs)
		}
	}
}

// TestRollKeepsSmallValuesAndRefusesNonFinite: a large value leaving a
// window does not take a small one with it (the sums are compensated),
// and an infinite one cannot leave at all: the roll asks to recompute.
func TestRollKeepsSmallValuesAndRefusesNonFinite(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	v := View{Name: "txn", Key: "customer_id", Timestamp: "ts",
		Aggregations: []Aggregation{{Column: "amount", Function: "sum", Window: 2 * time.Hour}}}
	for _, c := range []struct {
		big     float64
		recompt bool
	}{{1e17, false}, {math.Inf(1), true}} {
		evs := []event{{key: "K", hasKey: true, at: hour, hasAt: true, amount: c.big, hasAmt: true},
			{key: "K", hasKey: true, at: 2 * hour, hasAt: true, amount: 1, hasAmt: true}}
		recs := batches(evs, 10)
		st := fullState(t, v, recs, 2*hour)
		leaving := batches(evs[:1], 10)
		got := map[string]map[string]any{}
		next, err := Roll(context.Background(), st, RollRows{Leaving: seq(leaving)}, v, time.UnixMicro(3*hour).UTC(), &Timings{}, collect(t, v, got))
		if c.recompt {
			if !IsRecompute(err) {
				t.Errorf("an infinite value left the window: %v, want a recompute", err)
			}
		} else if err != nil || got["K"]["txn__amount_sum_2h"] != 1.0 {
			t.Errorf("after %g left: %v (%v), want 1", c.big, got["K"], err)
		}
		next.Release()
		st.Release()
		releaseAll(recs)
		releaseAll(leaving)
	}
}

// TestSnapshotOfOnlyOldRows: every row past the horizon (read as keys
// alone) still gives each entity a row, its plain and last columns null
// and typed by the source's schema.
func TestSnapshotOfOnlyOldRows(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	v := View{Name: "txn", Key: "customer_id", Timestamp: "ts", Columns: []string{"plan"}, TTL: 2 * time.Hour,
		Aggregations: []Aggregation{{Column: "amount", Function: "last", Window: time.Hour}, {Column: "amount", Function: "count", Window: time.Hour}}}
	evs := []event{{key: "K", hasKey: true, at: hour, hasAt: true, amount: 1, hasAmt: true, plan: "p", hasPln: true}}
	rows, older := splitAtHorizon(v, evs, 100*hour, 8, false)
	defer releaseAll(rows)
	defer releaseAll(older)
	got := map[string]map[string]any{}
	var types []arrow.DataType
	err := Snapshot(context.Background(), SnapshotRows{Rows: seq(nil), Older: seq(older), Schema: eventSchema}, v, time.UnixMicro(100*hour).UTC(), nil, &Timings{},
		func(rec arrow.RecordBatch) error {
			for _, f := range rec.Schema().Fields() {
				types = append(types, f.Type)
			}
			return collect(t, v, got)(rec)
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["K"]["txn__plan"] != nil || got["K"]["txn__amount_count_1h"] != int64(0) {
		t.Errorf("got %v", got)
	}
	if !arrow.TypeEqual(types[2], arrow.BinaryTypes.String) || !arrow.TypeEqual(types[3], arrow.PrimitiveTypes.Float64) {
		t.Errorf("column types %v", types)
	}
}
