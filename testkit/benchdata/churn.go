package benchdata

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/lakehouse"
)

// ChurnTables writes a learnable churn world to the lake, deterministically:
// <prefix>txn holds spending events (customer_id, ts, amount) over 60 days
// from June 1st 2026 and <prefix>labels one label per customer
// (customer_id, label_at, churned) between days 30 and 60; customers who
// spend rarely churn.
func ChurnTables(ctx context.Context, cat *lakehouse.Catalog, prefix string, customers int, seed uint64) error {
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	txn := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: ts}, {Name: "amount", Type: arrow.PrimitiveTypes.Float64}}, nil)
	labels := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "label_at", Type: ts}, {Name: "churned", Type: arrow.FixedWidthTypes.Boolean}}, nil)
	tb, lb := array.NewRecordBuilder(memory.DefaultAllocator, txn), array.NewRecordBuilder(memory.DefaultAllocator, labels)
	defer tb.Release()
	defer lb.Release()
	r := rand.New(rand.NewPCG(seed, seed+1))
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for c := range customers {
		id := fmt.Sprintf("C%d", c)
		rate := r.Float64()
		for d := range 60 {
			if r.Float64() < rate {
				tb.Field(0).(*array.StringBuilder).Append(id)
				tb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start.AddDate(0, 0, d).Add(time.Hour).UnixMicro()))
				tb.Field(2).(*array.Float64Builder).Append(10 + r.Float64()*5)
			}
		}
		lb.Field(0).(*array.StringBuilder).Append(id)
		lb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start.AddDate(0, 0, 30+c%30).UnixMicro()))
		lb.Field(2).(*array.BooleanBuilder).Append(rate+0.2*r.Float64() < 0.4)
	}
	for _, t := range []struct {
		name string
		b    *array.RecordBuilder
	}{{prefix + "txn", tb}, {prefix + "labels", lb}} {
		rec := t.b.NewRecordBatch()
		defer rec.Release()
		if _, err := cat.EnsureTable(ctx, t.name, rec.Schema(), ""); err != nil {
			return err
		}
		if _, err := cat.Append(ctx, t.name, []arrow.RecordBatch{rec}, "load"); err != nil {
			return err
		}
	}
	return nil
}
