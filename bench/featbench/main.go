// Command featbench times Sluice's feature engine on the feature-store
// benchmark's Parquet files (generated here when missing): windowed
// aggregations over 7 and 30 days at every event, and a point-in-time
// join of labels against the events. It prints JSON; bench/features.sh
// sets it beside DuckDB.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/sources"
)

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func main() {
	dir := flag.String("data", "bench/data", "folder of the Parquet files")
	events := flag.Int("events", 10_000_000, "events")
	entities := flag.Int("entities", 100_000, "entities")
	labels := flag.Int("labels", 1_000_000, "label rows")
	profile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	evPath := filepath.Join(*dir, fmt.Sprintf("events-%d.parquet", *events))
	labPath := filepath.Join(*dir, fmt.Sprintf("labels-%d.parquet", *labels))
	if err := generate(evPath, labPath, *events, *entities, *labels); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	res := map[string]any{"events_file": evPath, "labels_file": labPath}

	// Windowed aggregations at every event: the events are their own
	// label rows.
	start := time.Now()
	evs, err := sources.ReadFile(ctx, evPath, sources.Options{})
	if err != nil {
		log.Fatal(err)
	}
	view := features.View{Name: "txn", Key: "customer_id", Timestamp: "ts"}
	for _, fn := range []string{"sum", "count", "mean"} {
		for _, d := range []int{7, 30} {
			view.Aggregations = append(view.Aggregations, features.Aggregation{Column: "amount", Function: fn, Window: time.Duration(d) * 24 * time.Hour})
		}
	}
	var rows int64
	var check float64
	err = features.TrainingSet(ctx, seq(evs), []features.Labeled{{View: view, Events: seq(evs)}},
		features.TrainingSetOptions{Key: "customer_id", Time: "ts", Dir: *dir}, func(rec arrow.RecordBatch) error {
			rows += rec.NumRows()
			check += checksum(rec, evs[0].Schema().NumFields())
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	secs := time.Since(start).Seconds()
	res["windows_seconds"], res["windows_rows"], res["windows_checksum"] = secs, rows, check

	// A point-in-time join: each label gets its entity's newest amount.
	start = time.Now()
	evs, err = sources.ReadFile(ctx, evPath, sources.Options{})
	if err != nil {
		log.Fatal(err)
	}
	labs, err := sources.ReadFile(ctx, labPath, sources.Options{})
	if err != nil {
		log.Fatal(err)
	}
	last := features.View{Name: "txn", Key: "customer_id", Timestamp: "ts", Columns: []string{"amount"}}
	rows, check = 0, 0
	err = features.TrainingSet(ctx, seq(labs), []features.Labeled{{View: last, Events: seq(evs)}},
		features.TrainingSetOptions{Key: "customer_id", Time: "label_at", Dir: *dir}, func(rec arrow.RecordBatch) error {
			rows += rec.NumRows()
			check += checksum(rec, labs[0].Schema().NumFields())
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
	res["pit_seconds"], res["pit_rows"], res["pit_checksum"] = time.Since(start).Seconds(), rows, check
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Print(err)
	}
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

// checksum adds up a batch's feature columns (those after the label
// columns), so nothing is computed for nothing and the two engines'
// answers can be compared.
func checksum(rec arrow.RecordBatch, labelCols int) float64 {
	var s float64
	for _, c := range rec.Columns()[labelCols:] {
		switch a := c.(type) {
		case *array.Float64:
			for i := range a.Len() {
				if a.IsValid(i) {
					s += a.Value(i)
				}
			}
		case *array.Int64:
			for i := range a.Len() {
				s += float64(a.Value(i))
			}
		}
	}
	return s
}

// generate writes events (customer_id, ts over 90 days, amount with two
// decimals) and labels (customer_id, label_at) unless they exist.
func generate(evPath, labPath string, events, entities, labels int) error {
	if _, err := os.Stat(labPath); err == nil {
		if _, err := os.Stat(evPath); err == nil {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(evPath), 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	span := int64(90 * 24 * time.Hour / time.Microsecond)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: tsType},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	const batch = 1_000_000
	var recs []arrow.RecordBatch
	for done := 0; done < events; done += batch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for i := done; i < min(done+batch, events); i++ {
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", r.IntN(entities)))
			// Time-ordered, as event logs are; seconds resolution.
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start + int64(i)*(span/int64(events))/1_000_000*1_000_000))
			b.Field(2).(*array.Float64Builder).Append(float64(r.IntN(100_000)) / 100)
		}
		recs = append(recs, b.NewRecordBatch())
		b.Release()
	}
	if err := sources.WriteParquet(evPath, schema, seq(recs)); err != nil {
		return err
	}
	lschema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "label_at", Type: tsType},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, lschema)
	for range labels {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", r.IntN(entities)))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start + r.Int64N(span)/1_000_000*1_000_000))
	}
	rec := b.NewRecordBatch()
	return sources.WriteParquet(labPath, lschema, seq([]arrow.RecordBatch{rec}))
}
