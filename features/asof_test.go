package features

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// event is one source row of the oracle's world.
type event struct {
	key    string
	hasKey bool
	at     int64 // microseconds
	hasAt  bool
	amount float64 // a multiple of 1/4, so every sum is exact in any order
	hasAmt bool
	plan   string
	hasPln bool
}

var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: true},
	{Name: "amount", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "plan", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// batches splits the events, in their order, into record batches.
func batches(evs []event, size int) []arrow.RecordBatch {
	var out []arrow.RecordBatch
	for start := 0; start == 0 || start < len(evs); start += size {
		b := array.NewRecordBuilder(memory.DefaultAllocator, eventSchema)
		for _, e := range evs[start:min(start+size, len(evs))] {
			b.Field(0).(*array.StringBuilder).AppendValues([]string{e.key}, []bool{e.hasKey})
			b.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{arrow.Timestamp(e.at)}, []bool{e.hasAt})
			b.Field(2).(*array.Float64Builder).AppendValues([]float64{e.amount}, []bool{e.hasAmt})
			b.Field(3).(*array.StringBuilder).AppendValues([]string{e.plan}, []bool{e.hasPln})
		}
		out = append(out, b.NewRecordBatch())
		b.Release()
	}
	return out
}

// oracle computes one feature for one query by brute force, straight from
// the package doc's definitions.
func oracle(v View, evs []event, key string, t int64, out string) (val any, ok bool) {
	newest := func(keep func(i int) bool) int {
		best := -1
		for i, e := range evs {
			if e.hasKey && e.key == key && e.hasAt && e.at <= t && keep(i) && (best < 0 || e.at >= evs[best].at) {
				best = i
			}
		}
		return best
	}
	for _, c := range v.Columns {
		if v.ColumnName(c) != out {
			continue
		}
		i := newest(func(int) bool { return true })
		if i < 0 || (v.TTL > 0 && t-evs[i].at > v.TTL.Microseconds()) || !evs[i].hasPln {
			return nil, false
		}
		return evs[i].plan, true
	}
	for _, a := range v.Aggregations {
		if a.Name(v) != out {
			continue
		}
		from := t - a.Window.Microseconds()
		if a.Function == "last" {
			i := newest(func(i int) bool { return evs[i].at > from && evs[i].hasAmt })
			if i < 0 {
				return nil, false
			}
			return evs[i].amount, true
		}
		var vals []float64
		for _, e := range evs {
			if e.hasKey && e.key == key && e.hasAt && e.at > from && e.at <= t && e.hasAmt {
				vals = append(vals, e.amount)
			}
		}
		if a.Function == "count" {
			return int64(len(vals)), true
		}
		if len(vals) == 0 {
			return nil, false
		}
		acc := vals[0]
		for _, x := range vals[1:] {
			switch a.Function {
			case "min":
				acc = math.Min(acc, x)
			case "max":
				acc = math.Max(acc, x)
			default:
				acc += x
			}
		}
		if a.Function == "mean" {
			acc /= float64(len(vals))
		}
		return acc, true
	}
	panic("unknown output " + out)
}

func cell(a arrow.Array, i int) (any, bool) {
	if a.IsNull(i) {
		return nil, false
	}
	switch c := a.(type) {
	case *array.String:
		return c.Value(i), true
	case *array.Float64:
		return c.Value(i), true
	case *array.Int64:
		return c.Value(i), true
	}
	panic(fmt.Sprintf("unexpected %T", a))
}

// TestAsOfMatchesBruteForce compares the sort-merge join with the oracle on
// random event streams: ties in time, late (out-of-order) events, null
// values, null keys and times, queries exactly on window edges and the
// ttl boundary, keys with no events.
func TestAsOfMatchesBruteForce(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	v := View{Name: "txn", Key: "customer_id", Timestamp: "ts", Columns: []string{"plan"}, TTL: 48 * time.Hour}
	for _, fn := range Functions {
		for _, w := range []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
			v.Aggregations = append(v.Aggregations, Aggregation{Column: "amount", Function: fn, Window: w})
		}
	}
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 99))
		nkeys := 1 + r.IntN(12)
		var evs []event
		for range r.IntN(400) {
			e := event{key: fmt.Sprintf("K%d", r.IntN(nkeys)), hasKey: r.IntN(30) > 0,
				at: int64(r.IntN(24*14)) * hour / int64(1+r.IntN(2)), hasAt: r.IntN(40) > 0,
				amount: float64(r.IntN(400)-100) / 4, hasAmt: r.IntN(6) > 0,
				plan: []string{"basic", "pro", "max"}[r.IntN(3)], hasPln: r.IntN(8) > 0}
			evs = append(evs, e)
			if r.IntN(5) == 0 { // a tie: the same key and time again
				e.amount, e.plan = e.amount+1, "tie"
				evs = append(evs, e)
			}
		}
		// Queries: random times, and times exactly on event times, on a
		// window's far edge and on the ttl's edge.
		var keys []string
		var times []int64
		for range 200 {
			k := fmt.Sprintf("K%d", r.IntN(nkeys+2)) // some keys have no events
			tq := int64(r.IntN(24*16)) * hour
			if len(evs) > 0 && r.IntN(2) == 0 {
				e := evs[r.IntN(len(evs))]
				k = e.key
				tq = e.at + []int64{0, hour, 24 * hour, 7 * 24 * hour, 48 * hour, 48*hour + 1, -1}[r.IntN(7)]
			}
			keys = append(keys, k)
			times = append(times, tq)
		}
		kb := array.NewStringBuilder(memory.DefaultAllocator)
		kb.AppendValues(keys, nil)
		qk := kb.NewArray()
		recs := batches(evs, 1+r.IntN(64))
		got, err := v.AsOf(context.Background(), recs, Queries{Keys: qk, Times: times})
		if err != nil {
			t.Fatal(err)
		}
		for c, name := range v.OutputNames() {
			if got.ColumnName(c) != name {
				t.Fatalf("column %d is %s, want %s", c, got.ColumnName(c), name)
			}
			for i := range keys {
				want, wok := oracle(v, evs, keys[i], times[i], name)
				have, hok := cell(got.Column(c), i)
				if wok != hok || want != have {
					t.Fatalf("seed %d: %s for %s at %d: got %v (%v), oracle %v (%v)", seed, name, keys[i], times[i], have, hok, want, wok)
				}
			}
		}
		got.Release()
		qk.Release()
		for _, b := range recs {
			b.Release()
		}
	}
}

func TestAsOfIntKeysAndErrors(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "label", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{7, 7, 8}, nil)
	b.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{10, 20, 10}, nil)
	b.Field(2).(*array.StringBuilder).AppendValues([]string{"a", "b", "c"}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	qb := array.NewInt64Builder(memory.DefaultAllocator)
	qb.AppendValues([]int64{7, 7, 8, 9}, nil)
	qk := qb.NewArray()
	defer qk.Release()
	v := View{Name: "v", Key: "id", Timestamp: "ts", Columns: []string{"label"},
		Aggregations: []Aggregation{{Column: "label", Function: "count", Window: time.Hour}}}
	out, err := v.AsOf(context.Background(), []arrow.RecordBatch{rec}, Queries{Keys: qk, Times: []int64{15, 20, 9, 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	labels, counts := out.Column(0).(*array.String), out.Column(1).(*array.Int64)
	if labels.Value(0) != "a" || labels.Value(1) != "b" || labels.IsValid(2) || labels.IsValid(3) ||
		counts.Value(0) != 1 || counts.Value(1) != 2 || counts.Value(2) != 0 || counts.Value(3) != 0 {
		t.Errorf("got %v and %v", labels, counts)
	}
	bad := View{Name: "v", Key: "id", Timestamp: "ts", Aggregations: []Aggregation{{Column: "label", Function: "sum", Window: time.Hour}}}
	if _, err := bad.AsOf(context.Background(), []arrow.RecordBatch{rec}, Queries{Keys: qk, Times: []int64{1, 2, 3, 4}}); err == nil {
		t.Error("a sum of strings was accepted")
	}
	if got := FormatWindow(36 * time.Hour); got != "36h" {
		t.Errorf("FormatWindow(36h) = %s", got)
	}
}

// TestChangedBetweenMissesNoChange checks incremental materialization's
// rule on random worlds: an entity with no row ChangedBetween accepts has
// the same value of every feature at the watermark and at t.
func TestChangedBetweenMissesNoChange(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	v := View{Name: "txn", Key: "customer_id", Timestamp: "ts", Columns: []string{"plan"}, TTL: 30 * time.Hour}
	for _, fn := range Functions {
		v.Aggregations = append(v.Aggregations, Aggregation{Column: "amount", Function: fn, Window: 24 * time.Hour})
	}
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		var evs []event
		for range 300 {
			evs = append(evs, event{key: fmt.Sprintf("K%d", r.IntN(40)), hasKey: true, at: int64(r.IntN(24*10)) * hour, hasAt: true,
				amount: float64(r.IntN(40)) / 4, hasAmt: r.IntN(5) > 0, plan: "p", hasPln: r.IntN(5) > 0})
		}
		wm := int64(r.IntN(24*8)) * hour
		at := wm + int64(1+r.IntN(24*3))*hour
		changed := ChangedBetween(v, time.UnixMicro(wm).UTC(), time.UnixMicro(at).UTC())
		touched := map[string]bool{}
		for _, e := range evs {
			if changed(time.UnixMicro(e.at).UTC()) {
				touched[e.key] = true
			}
		}
		for k := range 40 {
			key := fmt.Sprintf("K%d", k)
			if touched[key] {
				continue
			}
			for _, name := range v.OutputNames() {
				a, aok := oracle(v, evs, key, wm, name)
				b, bok := oracle(v, evs, key, at, name)
				if a != b || aok != bok {
					t.Fatalf("seed %d: %s of untouched %s changed from %v to %v between %d and %d", seed, name, key, a, b, wm, at)
				}
			}
		}
	}
}
