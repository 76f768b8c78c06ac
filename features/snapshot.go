package features

import (
	"context"
	"fmt"
	"hash/maphash"
	"iter"
	"os"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// AsOfColumn names the as-of time column of a snapshot's rows.
const AsOfColumn = "as_of"

// Snapshot computes the view's features as of t for every entity with a
// source row at or before t, a hash partition at a time, and hands emit
// batches of the key, the as-of time and the features. When changed is
// set, an entity only counts if one of its rows has an event time that
// changed accepts (see Materialize's incremental runs).
func Snapshot(ctx context.Context, events iter.Seq2[arrow.RecordBatch, error], v View, t time.Time, changed func(time.Time) bool,
	o TrainingSetOptions, emit func(arrow.RecordBatch) error) error {
	parts := o.Partitions
	if parts <= 0 {
		parts = 16
	}
	dir, err := os.MkdirTemp(o.Dir, "sluice-snapshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sp := NewSpill(dir, v.Key, parts, maphash.MakeSeed(), o.Memory)
	defer sp.Release()
	for rec, err := range o.Timings.timed(PhaseRead, events) {
		if err == nil {
			start := time.Now()
			err = sp.Add(ctx, rec)
			o.Timings.Since(PhaseSpill, start)
		}
		if err != nil {
			sp.Close() // the deferred Release frees what it kept
			return fmt.Errorf("features: view %s: %w", v.Name, err)
		}
	}
	if err := sp.Close(); err != nil {
		return err
	}
	at := t.UTC().UnixMicro()
	emit = serialized(emit)
	return eachPartition(ctx, parts, func(p int) error {
		defer sp.Drop(p)
		start := time.Now()
		recs, err := sp.Read(p)
		o.Timings.Since(PhaseUnspill, start)
		if err != nil || len(recs) == 0 {
			return err
		}
		defer releaseAll(recs)
		return snapshotPartition(ctx, recs, v, at, changed, o.Timings, emit)
	})
}

func snapshotPartition(ctx context.Context, recs []arrow.RecordBatch, v View, at int64, changed func(time.Time) bool, tm *Timings, emit func(arrow.RecordBatch) error) error {
	start := time.Now()
	// The entities: a row at or before t, and a changed row if asked.
	seen := map[any]bool{}
	keyType := recs[0].Schema().Field(recs[0].Schema().FieldIndices(v.Key)[0]).Type
	kb := array.NewBuilder(memory.DefaultAllocator, keyType)
	defer kb.Release()
	for _, r := range recs {
		keys := r.Column(r.Schema().FieldIndices(v.Key)[0])
		times, ok := r.Column(r.Schema().FieldIndices(v.Timestamp)[0]).(*array.Timestamp)
		if !ok {
			return fmt.Errorf("features: view %s: the event time %s is not a timestamp", v.Name, v.Timestamp)
		}
		for i := range keys.Len() {
			if keys.IsNull(i) || times.IsNull(i) || int64(times.Value(i)) > at {
				continue
			}
			if changed != nil && !changed(time.UnixMicro(int64(times.Value(i))).UTC()) {
				continue
			}
			var k any
			switch c := keys.(type) {
			case *array.String:
				k = c.Value(i)
			case *array.Int64:
				k = c.Value(i)
			default:
				return fmt.Errorf("features: entity keys must be strings or int64, not %s", keys.DataType())
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			switch b := kb.(type) {
			case *array.StringBuilder:
				b.Append(k.(string))
			case *array.Int64Builder:
				b.Append(k.(int64))
			}
		}
	}
	if len(seen) == 0 {
		return nil
	}
	keys := kb.NewArray()
	defer keys.Release()
	times := make([]int64, keys.Len())
	for i := range times {
		times[i] = at
	}
	feats, err := v.AsOf(ctx, recs, Queries{Keys: keys, Times: times})
	if err != nil {
		return err
	}
	defer feats.Release()
	tb := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"})
	defer tb.Release()
	for range times {
		tb.Append(arrow.Timestamp(at))
	}
	asOf := tb.NewArray()
	defer asOf.Release()
	fields := append([]arrow.Field{{Name: v.Key, Type: keyType}, {Name: AsOfColumn, Type: asOf.DataType()}}, feats.Schema().Fields()...)
	cols := append([]arrow.Array{keys, asOf}, feats.Columns()...)
	out := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(times)))
	defer out.Release()
	tm.Since(PhaseCompute, start)
	return emit(out)
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
