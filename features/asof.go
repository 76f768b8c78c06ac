package features

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Queries are the points a view is computed at: an entity key and an
// as-of time (microseconds since the epoch, UTC) per row.
type Queries struct {
	Keys  arrow.Array
	Times []int64
}

// AsOf computes the view's features at every query, in the queries'
// order, from the view's source rows (any order; together they must hold
// every row of the queried entities). It is a sort-merge as-of join: both
// sides are grouped by entity and ordered by time, then each entity's
// queries walk its rows once per window.
func (v View) AsOf(ctx context.Context, events []arrow.RecordBatch, q Queries) (arrow.RecordBatch, error) {
	if q.Keys.Len() != len(q.Times) {
		return nil, fmt.Errorf("features: %d query keys but %d times", q.Keys.Len(), len(q.Times))
	}
	src, err := v.gather(events)
	if err != nil {
		return nil, err
	}
	defer src.release()
	k := newKeyer(src.key.DataType())
	evID, err := k.ids(src.key, true)
	if err != nil {
		return nil, fmt.Errorf("features: view %s: %w", v.Name, err)
	}
	qID, err := k.ids(q.Keys, false)
	if err != nil {
		return nil, fmt.Errorf("features: view %s queries: %w", v.Name, err)
	}
	evTime := src.ts.(*array.Timestamp).TimestampValues()
	evOrder, evStart := groupByKey(evID, k.n, func(i int32) bool { return src.ts.IsValid(int(i)) }, evTime)
	qOrder, qStart := groupByKey(qID, k.n, func(int32) bool { return true }, q.Times)

	out := newOutputs(v, src, len(q.Times))
	groups := windowGroups(v)
	pointers := make([]int, len(groups))
	for id := range k.n {
		evs := evOrder[evStart[id]:evStart[id+1]]
		qs := qOrder[qStart[id]:qStart[id+1]]
		if len(qs) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := 0
		clear(pointers)
		for _, qi := range qs {
			t := q.Times[qi]
			for hi < len(evs) && evTime[evs[hi]] <= arrow.Timestamp(t) {
				hi++
			}
			for c := range v.Columns {
				out.plain(c, qi, evs[:hi], evTime, t, v.TTL)
			}
			for g, grp := range groups {
				from := arrow.Timestamp(t - grp.window.Microseconds())
				lo := pointers[g]
				for lo < hi && evTime[evs[lo]] <= from {
					lo++
				}
				pointers[g] = lo
				out.aggregate(grp, qi, evs[lo:hi])
			}
		}
	}
	return out.record(ctx, v)
}

// source is a view's columns, concatenated across batches.
type source struct {
	key, ts arrow.Array
	cols    map[string]arrow.Array
	nums    map[string][]float64 // numeric columns as float64, for aggregation
}

func (s *source) release() {
	s.key.Release()
	s.ts.Release()
	for _, c := range s.cols {
		c.Release()
	}
}

func (v View) gather(events []arrow.RecordBatch) (*source, error) {
	if len(events) == 0 {
		return nil, fmt.Errorf("features: view %s: no source rows given (pass an empty batch for none)", v.Name)
	}
	schema := events[0].Schema()
	column := func(name string) (arrow.Array, error) {
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("features: view %s: the source has no column %q", v.Name, name)
		}
		parts := make([]arrow.Array, len(events))
		for i, b := range events {
			parts[i] = b.Column(idx[0])
		}
		return array.Concatenate(parts, memory.DefaultAllocator)
	}
	s := &source{cols: map[string]arrow.Array{}, nums: map[string][]float64{}}
	var err error
	if s.key, err = column(v.Key); err != nil {
		return nil, err
	}
	if s.ts, err = column(v.Timestamp); err != nil {
		s.key.Release()
		return nil, err
	}
	if s.ts.DataType().ID() != arrow.TIMESTAMP || s.ts.DataType().(*arrow.TimestampType).Unit != arrow.Microsecond {
		s.release()
		return nil, fmt.Errorf("features: view %s: the event time %s is %s, want timestamp[us]", v.Name, v.Timestamp, s.ts.DataType())
	}
	need := append([]string(nil), v.Columns...)
	for _, a := range v.Aggregations {
		need = append(need, a.Column)
	}
	for _, name := range need {
		if _, ok := s.cols[name]; ok {
			continue
		}
		c, err := column(name)
		if err != nil {
			s.release()
			return nil, err
		}
		s.cols[name] = c
	}
	for _, a := range v.Aggregations {
		if a.Function == "count" || a.Function == "last" {
			continue
		}
		if _, ok := s.nums[a.Column]; ok {
			continue
		}
		nums, ok := asFloats(s.cols[a.Column])
		if !ok {
			err := fmt.Errorf("features: view %s: %s of column %s needs numbers; it is %s", v.Name, a.Function, a.Column, s.cols[a.Column].DataType())
			s.release()
			return nil, err
		}
		s.nums[a.Column] = nums
	}
	return s, nil
}

func asFloats(a arrow.Array) ([]float64, bool) { return floatsInto(nil, a) }

// floatsInto converts a numeric column to float64s, reusing buf's room.
func floatsInto(buf []float64, a arrow.Array) ([]float64, bool) {
	out := buf[:0]
	if cap(out) < a.Len() {
		out = make([]float64, 0, a.Len())
	}
	switch c := a.(type) {
	case *array.Float64:
		out = append(out, c.Float64Values()...)
	case *array.Float32:
		for _, x := range c.Float32Values() {
			out = append(out, float64(x))
		}
	case *array.Int64:
		for _, x := range c.Int64Values() {
			out = append(out, float64(x))
		}
	case *array.Int32:
		for _, x := range c.Int32Values() {
			out = append(out, float64(x))
		}
	case *array.Boolean:
		for i := range a.Len() {
			out = append(out, 0)
			if c.Value(i) {
				out[i] = 1
			}
		}
	default:
		return nil, false
	}
	return out, true
}

// keyer numbers entity keys densely, in order of first appearance.
type keyer struct {
	strs map[string]int32
	ints map[int64]int32
	// direct numbers int64 keys in [0, directKeys) without hashing: the
	// key's id plus one at the key, 0 for none. Ids are often small
	// and dense, and a hash lookup per row is most of an aggregation.
	direct []int32
	n      int
}

// directKeys bounds the int64 keys numbered by direct indexing (16 MiB).
const directKeys = 1 << 22

func newKeyer(t arrow.DataType) *keyer {
	if t.ID() == arrow.INT64 {
		return &keyer{ints: map[int64]int32{}}
	}
	return &keyer{strs: map[string]int32{}}
}

// ids numbers each row's key: -1 for a null key, and, unless add is set,
// for a key not seen before.
func (k *keyer) ids(a arrow.Array, add bool) ([]int32, error) {
	out := make([]int32, a.Len())
	lookup := func(i int, found int32, ok bool, insert func(int32)) {
		switch {
		case a.IsNull(i):
			out[i] = -1
		case ok:
			out[i] = found
		case add:
			insert(int32(k.n))
			out[i] = int32(k.n)
			k.n++
		default:
			out[i] = -1
		}
	}
	switch c := a.(type) {
	case *array.String:
		if k.strs == nil {
			return nil, fmt.Errorf("keys are strings here but int64 elsewhere")
		}
		for i := range out {
			s := c.Value(i)
			id, ok := k.strs[s]
			lookup(i, id, ok, func(id int32) { k.strs[string([]byte(s))] = id })
		}
	case *array.Int64:
		if k.ints == nil {
			return nil, fmt.Errorf("keys are int64 here but strings elsewhere")
		}
		nulls := c.NullN() > 0
		for i := range out {
			x := c.Value(i)
			if uint64(x) < directKeys && !(nulls && c.IsNull(i)) {
				if int(x) >= len(k.direct) && !add {
					out[i] = -1 // past every key added
					continue
				}
				if int(x) >= len(k.direct) {
					n := min(max(int(x)+1, 2*len(k.direct)), directKeys)
					k.direct = slices.Grow(k.direct, n-len(k.direct))[:n]
				}
				switch id := k.direct[x]; {
				case id > 0:
					out[i] = id - 1
				case add:
					k.n++
					k.direct[x] = int32(k.n)
					out[i] = int32(k.n - 1)
				default:
					out[i] = -1
				}
				continue
			}
			id, ok := k.ints[x]
			lookup(i, id, ok, func(id int32) { k.ints[x] = id })
		}
	default:
		return nil, fmt.Errorf("entity keys must be strings or int64, not %s", a.DataType())
	}
	return out, nil
}

// groupByKey orders rows by key id (a counting sort, so rows keep their
// order within a key) and then by time, stably; rows with a key id of -1
// or that keep rejects are left out. It returns the order and where each
// key's rows start.
func groupByKey[T ~int64](ids []int32, n int, keep func(int32) bool, times []T) (order []int32, start []int) {
	start = make([]int, n+1)
	for i, id := range ids {
		if id >= 0 && keep(int32(i)) {
			start[id+1]++
		}
	}
	for i := range n {
		start[i+1] += start[i]
	}
	order = make([]int32, start[n])
	next := slices.Clone(start[:n])
	for i, id := range ids {
		if id >= 0 && keep(int32(i)) {
			order[next[id]] = int32(i)
			next[id]++
		}
	}
	for id := range n {
		rows := order[start[id]:start[id+1]]
		sorted := true
		for j := 1; j < len(rows); j++ {
			if times[rows[j]] < times[rows[j-1]] {
				sorted = false
				break
			}
		}
		if !sorted {
			slices.SortStableFunc(rows, func(a, b int32) int { return cmp.Compare(times[a], times[b]) })
		}
	}
	return order, start
}

// outputs holds the computed features until they become arrays.
type outputs struct {
	src *source
	// take holds, per plain column and per last aggregation, the source
	// row whose value each query gets (-1: null).
	take  [][]int64
	nums  [][]float64
	valid [][]bool
	count [][]int64
	v     View
	n     int
}

func newOutputs(v View, src *source, n int) *outputs {
	o := &outputs{src: src, v: v, n: n}
	for range v.Columns {
		o.take = append(o.take, fill(n, int64(-1)))
	}
	for _, a := range v.Aggregations {
		switch a.Function {
		case "last":
			o.take = append(o.take, fill(n, int64(-1)))
		case "count":
			o.count = append(o.count, make([]int64, n))
		default:
			o.nums = append(o.nums, make([]float64, n))
			o.valid = append(o.valid, make([]bool, n))
		}
	}
	return o
}

func fill[T any](n int, v T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// plain sets plain column c of query qi: the newest row, within the ttl.
func (o *outputs) plain(c int, qi int32, rows []int32, times []arrow.Timestamp, t int64, ttl time.Duration) {
	if len(rows) == 0 {
		return
	}
	r := rows[len(rows)-1]
	if ttl > 0 && t-int64(times[r]) > ttl.Microseconds() {
		return
	}
	o.take[c][qi] = int64(r)
}

// windowGroup is the aggregations of one column over one window: one
// pass over the window's rows serves them all.
type windowGroup struct {
	column string
	window time.Duration
	aggs   []int
	// numeric is set when a function needs the values as numbers;
	// extremes when one needs the minimum or maximum.
	numeric, extremes bool
}

func windowGroups(v View) []windowGroup {
	var groups []windowGroup
	for a, agg := range v.Aggregations {
		i := slices.IndexFunc(groups, func(g windowGroup) bool { return g.column == agg.Column && g.window == agg.Window })
		if i < 0 {
			groups = append(groups, windowGroup{column: agg.Column, window: agg.Window})
			i = len(groups) - 1
		}
		groups[i].aggs = append(groups[i].aggs, a)
		if agg.Function != "count" && agg.Function != "last" {
			groups[i].numeric = true
		}
		if agg.Function == "min" || agg.Function == "max" {
			groups[i].extremes = true
		}
	}
	return groups
}

// aggregate sets a window group's aggregations of query qi over the
// window's rows, in one pass: values are taken in time order (ties in
// read order), nulls skipped.
func (o *outputs) aggregate(g windowGroup, qi int32, rows []int32) {
	col := o.src.cols[g.column]
	nulls := col.NullN() > 0
	var nums []float64
	if g.numeric {
		nums = o.src.nums[g.column]
	}
	n, last := 0, int32(-1)
	var sum, lo, hi float64
	for _, r := range rows {
		if nulls && col.IsNull(int(r)) {
			continue
		}
		last = r
		if nums != nil {
			x := nums[r]
			switch {
			case n == 0:
				sum, lo, hi = x, x, x
			case g.extremes:
				sum += x
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			default:
				sum += x
			}
		}
		n++
	}
	for _, a := range g.aggs {
		slot := o.slot(a)
		var x float64
		switch o.v.Aggregations[a].Function {
		case "count":
			o.count[slot][qi] = int64(n)
			continue
		case "last":
			if last >= 0 {
				o.take[len(o.v.Columns)+slot][qi] = int64(last)
			}
			continue
		case "sum":
			x = sum
		case "mean":
			x = sum / float64(n)
		case "min":
			x = lo
		case "max":
			x = hi
		}
		if n > 0 {
			o.nums[slot][qi], o.valid[slot][qi] = x, true
		}
	}
}

// slot is the index of aggregation a among those of its output kind.
func (o *outputs) slot(a int) int {
	kind := func(fn string) string {
		switch fn {
		case "count", "last":
			return fn
		}
		return "num"
	}
	k, n := kind(o.v.Aggregations[a].Function), 0
	for _, b := range o.v.Aggregations[:a] {
		if kind(b.Function) == k {
			n++
		}
	}
	return n
}

// record builds the output arrays, named by the view's conventions.
func (o *outputs) record(ctx context.Context, v View) (arrow.RecordBatch, error) {
	var fields []arrow.Field
	var cols []arrow.Array
	release := func() {
		for _, c := range cols {
			c.Release()
		}
	}
	takeFrom := func(src arrow.Array, idx []int64) (arrow.Array, error) {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		defer b.Release()
		for _, i := range idx {
			if i < 0 {
				b.AppendNull()
			} else {
				b.Append(i)
			}
		}
		ia := b.NewInt64Array()
		defer ia.Release()
		return compute.TakeArray(ctx, src, ia)
	}
	for c, name := range v.Columns {
		a, err := takeFrom(o.src.cols[name], o.take[c])
		if err != nil {
			release()
			return nil, fmt.Errorf("features: view %s column %s: %w", v.Name, name, err)
		}
		fields = append(fields, arrow.Field{Name: v.ColumnName(name), Type: a.DataType(), Nullable: true})
		cols = append(cols, a)
	}
	for i, agg := range v.Aggregations {
		slot := o.slot(i)
		var a arrow.Array
		switch agg.Function {
		case "last":
			var err error
			if a, err = takeFrom(o.src.cols[agg.Column], o.take[len(v.Columns)+slot]); err != nil {
				release()
				return nil, fmt.Errorf("features: view %s: %w", v.Name, err)
			}
		case "count":
			b := array.NewInt64Builder(memory.DefaultAllocator)
			b.AppendValues(o.count[slot], nil)
			a = b.NewArray()
			b.Release()
		default:
			b := array.NewFloat64Builder(memory.DefaultAllocator)
			b.AppendValues(o.nums[slot], o.valid[slot])
			a = b.NewArray()
			b.Release()
		}
		fields = append(fields, arrow.Field{Name: agg.Name(v), Type: a.DataType(), Nullable: true})
		cols = append(cols, a)
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(o.n))
	release()
	return rec, nil
}
