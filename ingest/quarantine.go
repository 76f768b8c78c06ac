package ingest

import (
	"context"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/sources"
)

// quarantineSchema is the schema of quarantine.<source>.
var quarantineSchema = arrow.NewSchema([]arrow.Field{
	{Name: "run_id", Type: arrow.BinaryTypes.String},
	{Name: "line", Type: arrow.PrimitiveTypes.Int64},
	{Name: "reason", Type: arrow.BinaryTypes.String},
	{Name: "raw", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "rejected_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

// rejectRecord holds rejects as quarantine rows.
func rejectRecord(runID string, rejects []sources.Reject, at time.Time) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, quarantineSchema)
	defer b.Release()
	ts := arrow.Timestamp(at.UTC().UnixMicro())
	for _, r := range rejects {
		b.Field(0).(*array.StringBuilder).Append(runID)
		b.Field(1).(*array.Int64Builder).Append(r.Line)
		b.Field(2).(*array.StringBuilder).Append(r.Reason)
		b.Field(3).(*array.StringBuilder).Append(r.Raw)
		b.Field(4).(*array.TimestampBuilder).Append(ts)
	}
	return b.NewRecordBatch()
}

// quarantine commits rejects to a quarantine table as one snapshot.
func (l *Loader) quarantine(ctx context.Context, table, commitID, runID string, rejects []sources.Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	rec := rejectRecord(runID, rejects, l.now())
	defer rec.Release()
	_, err := l.Catalog.Append(ctx, table, []arrow.RecordBatch{rec}, commitID)
	return err
}
