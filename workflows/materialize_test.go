package workflows_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/workflows"
)

// dump lists a table's rows as sorted text, to compare whole tables.
func dump(t *testing.T, cat *lakehouse.Catalog, table string) []string {
	t.Helper()
	res, err := cat.Scan(context.Background(), table, lakehouse.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, r := range res.Records {
		for i := range int(r.NumRows()) {
			var cells []string
			for c := range int(r.NumCols()) {
				cells = append(cells, r.Column(c).ValueStr(i))
			}
			rows = append(rows, strings.Join(cells, ","))
		}
		r.Release()
	}
	sort.Strings(rows)
	return rows
}

// TestBackfillTwiceGivesIdenticalTables backfills 30 days on a real
// server, then again, then a range overlapping it: each day is written
// once, so the tables are identical and a resumed or repeated backfill
// adds only the days it lacks.
func TestBackfillTwiceGivesIdenticalTables(t *testing.T) {
	ctx := testenv.Context(t)
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: testenv.PostgresURL(t),
		Lake: lakehouse.Options{URL: "file://" + t.TempDir() + "/lake"}, Name: fmt.Sprintf("backfill_%d", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	if _, err := cat.EnsureTable(ctx, "raw.spend", schema, "ts"); err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for i := range 600 {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%d", i%17))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start.Add(time.Duration(i) * 71 * time.Minute).UnixMicro()))
		b.Field(2).(*array.Float64Builder).Append(float64(i%13) / 4)
	}
	rec := b.NewRecordBatch()
	if _, err := cat.Append(ctx, "raw.spend", []arrow.RecordBatch{rec}, "load"); err != nil {
		t.Fatal(err)
	}

	srv := temporaltest.NewServer(temporaltest.WithT(t))
	srv.NewWorker(workflows.QueueControl, func(r worker.Registry) { r.RegisterWorkflow(workflows.Materialize) })
	srv.NewWorker(workflows.QueueIO, func(r worker.Registry) {
		r.RegisterActivity(&activities.Features{Store: &features.Store{Catalog: cat, TempDir: t.TempDir()}})
	})
	view := activities.SourcedView{Table: "raw.spend", View: activities.View{Name: "spend", Key: "customer_id", Timestamp: "ts",
		Aggregations: []activities.Aggregation{{Column: "amount", Function: "sum", Window: 7 * 24 * time.Hour}, {Column: "amount", Function: "count", Window: 24 * time.Hour}}}}
	backfill := func(id string, from, to time.Time) workflows.MaterializeResult {
		t.Helper()
		run, err := srv.GetDefaultClient().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl},
			workflows.Materialize, workflows.MaterializeRequest{View: view, Start: from, End: to, Concurrency: 3})
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.MaterializeResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := backfill("backfill-1", start, start.AddDate(0, 0, 30))
	if len(first.Runs) != 30 {
		t.Fatalf("%d runs, want 30", len(first.Runs))
	}
	rows := dump(t, cat, "features.spend")
	info, err := cat.Describe(ctx, "features.spend")
	if err != nil {
		t.Fatal(err)
	}
	snapshots := len(info.Snapshots)
	if snapshots != 30 || len(rows) == 0 {
		t.Fatalf("%d snapshots and %d rows after one backfill", snapshots, len(rows))
	}
	second := backfill("backfill-2", start, start.AddDate(0, 0, 30))
	for i := range second.Runs {
		if second.Runs[i].SnapshotID != first.Runs[i].SnapshotID {
			t.Errorf("day %d: the second backfill wrote snapshot %d, the first %d", i, second.Runs[i].SnapshotID, first.Runs[i].SnapshotID)
		}
	}
	if again := dump(t, cat, "features.spend"); strings.Join(again, "\n") != strings.Join(rows, "\n") {
		t.Errorf("the second backfill changed the table: %d rows, then %d", len(rows), len(again))
	}
	// A backfill that overlaps (as one resumed after a crash would) writes
	// only the days it lacks.
	backfill("backfill-3", start.AddDate(0, 0, 28), start.AddDate(0, 0, 32))
	info, err = cat.Describe(ctx, "features.spend")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Snapshots) != 32 {
		t.Errorf("%d snapshots after the overlapping backfill, want 32", len(info.Snapshots))
	}

	// A backfill killed part way (its workflow and children terminated,
	// as when the whole run dies) and started again ends with the same
	// table as one that ran through.
	killed, through := view, view
	killed.View.Name, through.View.Name = "spend_killed", "spend_through"
	run, err := srv.GetDefaultClient().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "backfill-killed", TaskQueue: workflows.QueueControl},
		workflows.Materialize, workflows.MaterializeRequest{View: killed, Start: start, End: start.AddDate(0, 0, 30), Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if info, err := cat.Describe(ctx, "features.spend_killed"); err == nil && len(info.Snapshots) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backfill to kill made no progress")
		}
	}
	if err := srv.GetDefaultClient().TerminateWorkflow(ctx, run.GetID(), run.GetRunID(), "killed by the test"); err != nil {
		t.Fatal(err)
	}
	view = killed
	backfill("backfill-killed-again", start, start.AddDate(0, 0, 30))
	view = through
	backfill("backfill-through", start, start.AddDate(0, 0, 30))
	gotRows, wantRows := dump(t, cat, "features.spend_killed"), dump(t, cat, "features.spend_through")
	if strings.Join(gotRows, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("the resumed backfill has %d rows, the uninterrupted one %d, or their values differ", len(gotRows), len(wantRows))
	}
	if info, err := cat.Describe(ctx, "features.spend_killed"); err != nil || len(info.Snapshots) != 30 {
		t.Errorf("the resumed backfill: %v, want 30 snapshots (%v)", len(info.Snapshots), err)
	}
}
