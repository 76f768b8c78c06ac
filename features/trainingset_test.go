package features

import (
	"context"
	"fmt"
	"iter"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func seq(recs []arrow.RecordBatch) iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// TestTrainingSetPartitionedEqualsWhole builds a training set a partition
// at a time and checks every row against the as-of join over all the data
// at once (itself checked against the oracle).
func TestTrainingSetPartitionedEqualsWhole(t *testing.T) {
	const hour = int64(time.Hour / time.Microsecond)
	r := rand.New(rand.NewPCG(11, 12))
	var evs []event
	for range 3000 {
		evs = append(evs, event{key: fmt.Sprintf("K%d", r.IntN(60)), hasKey: true, at: int64(r.IntN(24*30)) * hour, hasAt: true,
			amount: float64(r.IntN(100)) / 4, hasAmt: r.IntN(10) > 0, plan: "p", hasPln: true})
	}
	v := View{Name: "txn", Key: "customer_id", Timestamp: "ts", Columns: []string{"plan"}, TTL: 72 * time.Hour,
		Aggregations: []Aggregation{{Column: "amount", Function: "sum", Window: 7 * 24 * time.Hour}, {Column: "amount", Function: "count", Window: 24 * time.Hour}}}
	labelSchema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "label_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "row", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	lb := array.NewRecordBuilder(memory.DefaultAllocator, labelSchema)
	const n = 2000
	keys, times := make([]string, n), make([]int64, n)
	for i := range n {
		keys[i], times[i] = fmt.Sprintf("K%d", r.IntN(70)), int64(r.IntN(24*32))*hour
		lb.Field(0).(*array.StringBuilder).Append(keys[i])
		lb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(times[i]))
		lb.Field(2).(*array.Int64Builder).Append(int64(i))
	}
	labels := lb.NewRecordBatch()
	evRecs := batches(evs, 500)

	kb := array.NewStringBuilder(memory.DefaultAllocator)
	kb.AppendValues(keys, nil)
	whole, err := v.AsOf(context.Background(), evRecs, Queries{Keys: kb.NewArray(), Times: times})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = TrainingSet(context.Background(), seq([]arrow.RecordBatch{labels}), []Labeled{{View: v, Events: seq(evRecs)}},
		TrainingSetOptions{Key: "customer_id", Time: "label_at", Partitions: 5, Dir: t.TempDir()}, func(rec arrow.RecordBatch) error {
			if rec.NumCols() != 3+3 || rec.ColumnName(3) != "txn__plan" {
				return fmt.Errorf("columns %v", rec.Schema())
			}
			rows := rec.Column(2).(*array.Int64)
			for i := range rows.Len() {
				row := int(rows.Value(i))
				for c := range 3 {
					got, gok := cell(rec.Column(3+c), i)
					want, wok := cell(whole.Column(c), row)
					if got != want || gok != wok {
						return fmt.Errorf("label row %d, %s: %v, want %v", row, rec.ColumnName(3+c), got, want)
					}
				}
				seen++
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Errorf("%d rows out, want %d", seen, n)
	}
}
