package features

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkAsOf joins 100k label rows against 1M events of 10k entities
// over 90 days: sum, count and mean over 7d and 30d (the full-size
// comparison with DuckDB comes with the feature store's bench script).
func BenchmarkAsOf(b *testing.B) {
	const events, entities, labels = 1_000_000, 10_000, 100_000
	const span = int64(90 * 24 * time.Hour / time.Microsecond)
	r := rand.New(rand.NewPCG(1, 2))
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for i := range events {
		rb.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", r.IntN(entities)))
		rb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * (span / events)))
		rb.Field(2).(*array.Float64Builder).Append(r.Float64() * 100)
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	kb := array.NewStringBuilder(memory.DefaultAllocator)
	times := make([]int64, labels)
	for i := range labels {
		kb.Append(fmt.Sprintf("C%d", r.IntN(entities)))
		times[i] = r.Int64N(span)
	}
	keys := kb.NewArray()
	defer keys.Release()
	v := View{Name: "txn", Key: "customer_id", Timestamp: "ts"}
	for _, fn := range []string{"sum", "count", "mean"} {
		for _, d := range []int{7, 30} {
			v.Aggregations = append(v.Aggregations, Aggregation{Column: "amount", Function: fn, Window: time.Duration(d) * 24 * time.Hour})
		}
	}
	for b.Loop() {
		out, err := v.AsOf(context.Background(), []arrow.RecordBatch{rec}, Queries{Keys: keys, Times: times})
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	b.ReportMetric(float64(b.N*labels)/b.Elapsed().Seconds(), "labels/s")
}

// BenchmarkSnapshot aggregates 1M events of 10k int64-keyed entities as of
// their last day, in batches of 64k rows as a scan hands them out: base is
// sum, count and mean of one column over 7d and 30d; wide the sum of ten
// columns over five windows.
func BenchmarkSnapshot(b *testing.B) {
	const events, entities, batch = 1_000_000, 10_000, 1 << 16
	const span = int64(90 * 24 * time.Hour / time.Microsecond)
	r := rand.New(rand.NewPCG(1, 2))
	fields := []arrow.Field{
		{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}
	for c := range 10 {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("v%d", c), Type: arrow.PrimitiveTypes.Float64})
	}
	schema := arrow.NewSchema(fields, nil)
	var recs []arrow.RecordBatch
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for i := range events {
		rb.Field(0).(*array.Int64Builder).Append(r.Int64N(entities))
		rb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * (span / events)))
		for c := range 10 {
			rb.Field(2 + c).(*array.Float64Builder).Append(r.Float64() * 100)
		}
		if (i+1)%batch == 0 || i == events-1 {
			recs = append(recs, rb.NewRecordBatch())
		}
	}
	rb.Release()
	defer releaseAll(recs)
	base := View{Name: "txn", Key: "customer_id", Timestamp: "ts"}
	for _, fn := range []string{"sum", "count", "mean"} {
		for _, d := range []int{7, 30} {
			base.Aggregations = append(base.Aggregations, Aggregation{Column: "v0", Function: fn, Window: time.Duration(d) * 24 * time.Hour})
		}
	}
	wide := View{Name: "txn", Key: "customer_id", Timestamp: "ts"}
	for c := range 10 {
		for _, d := range []int{1, 3, 7, 14, 30} {
			wide.Aggregations = append(wide.Aggregations, Aggregation{Column: fmt.Sprintf("v%d", c), Function: "sum", Window: time.Duration(d) * 24 * time.Hour})
		}
	}
	at := time.UnixMicro(span - span/90).UTC()
	for _, c := range []struct {
		name string
		v    View
	}{{"base", base}, {"wide", wide}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := Snapshot(context.Background(), SnapshotRows{Rows: seq(recs)}, c.v, at, nil, &Timings{}, func(arrow.RecordBatch) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
