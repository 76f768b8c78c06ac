package online_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

const benchEntities = 1_000_000

var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.BinaryTypes.String},
	{Name: "v__amount_sum_7d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "v__amount_count_7d", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "v__amount_mean_30d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "v__plan", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// entities builds the benchmark's rows in batches of 100k.
func entities() []arrow.RecordBatch {
	var recs []arrow.RecordBatch
	for start := 0; start < benchEntities; start += 100_000 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, benchSchema)
		for i := start; i < start+100_000; i++ {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", i))
			b.Field(1).(*array.Float64Builder).Append(float64(i%1000) / 4)
			b.Field(2).(*array.Int64Builder).Append(int64(i % 17))
			b.Field(3).(*array.Float64Builder).Append(float64(i%333) / 8)
			b.Field(4).(*array.StringBuilder).Append([]string{"basic", "pro", "max"}[i%3])
		}
		recs = append(recs, b.NewRecordBatch())
		b.Release()
	}
	return recs
}

func seq(recs []arrow.RecordBatch) func(func(arrow.RecordBatch, error) bool) {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// BenchmarkUpsert loads 1M entities' features into a view whose table
// already holds them (each op is a newer load: every row is updated).
func BenchmarkUpsert(b *testing.B) {
	ctx := testenv.Context(b)
	db, err := metastore.Open(ctx, testenv.PostgresURL(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.Exec(ctx, "DROP TABLE IF EXISTS sluice_online.bench")
	s := &online.Store{DB: db}
	recs := entities()
	at := time.Now()
	for b.Loop() {
		at = at.Add(time.Second)
		if _, err := s.Upsert(ctx, "bench", "customer_id", benchSchema, seq(recs), at); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchEntities)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGet100 reads 100 random keys of 1M: from the cache (every key
// cached) and from PostgreSQL (the cache off), reporting the p99.
func BenchmarkGet100(b *testing.B) {
	ctx := testenv.Context(b)
	db, err := metastore.Open(ctx, testenv.PostgresURL(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.Exec(ctx, "DROP TABLE IF EXISTS sluice_online.bench_get")
	if _, err := (&online.Store{DB: db}).Upsert(ctx, "bench_get", "customer_id", benchSchema, seq(entities()), time.Now()); err != nil {
		b.Fatal(err)
	}
	keys := make([][]string, 1000)
	for i := range keys {
		for j := range 100 {
			keys[i] = append(keys[i], fmt.Sprintf("C%d", (i*7919+j*104729)%benchEntities))
		}
	}
	for _, mode := range []string{"cache", "postgres"} {
		b.Run(mode, func(b *testing.B) {
			o := online.CacheOptions{Size: 200_000, TTL: time.Hour}
			if mode == "postgres" {
				o.TTL = time.Nanosecond // every read misses
			}
			r := online.NewReader(db, o)
			for _, k := range keys {
				if _, err := r.Get(ctx, "bench_get", k); err != nil {
					b.Fatal(err)
				}
			}
			var lat []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				rows, err := r.Get(ctx, "bench_get", keys[i%len(keys)])
				lat = append(lat, time.Since(start))
				if err != nil || rows[0] == nil {
					b.Fatal(err)
				}
				i++
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
