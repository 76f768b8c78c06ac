package activities_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

func day(d int, h int) arrow.Timestamp {
	return arrow.Timestamp(time.Date(2026, 11, d, h, 0, 0, 0, time.UTC).UnixMicro())
}

// lakeTable creates a table and appends rows built by fill.
func lakeTable(t *testing.T, cat *lakehouse.Catalog, name string, schema *arrow.Schema, ts string, fill func(b *array.RecordBuilder)) {
	t.Helper()
	ctx := context.Background()
	if _, err := cat.EnsureTable(ctx, name, schema, ts); err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	fill(b)
	rec := b.NewRecordBatch()
	defer rec.Release()
	if _, err := cat.Append(ctx, name, []arrow.RecordBatch{rec}, "load-"+name); err != nil {
		t.Fatal(err)
	}
}

func runTrainingSet(t *testing.T, a *activities.Features, in activities.TrainingSetInput) activities.TrainingSetResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.TrainingSet, in)
	if err != nil {
		t.Fatal(err)
	}
	var res activities.TrainingSetResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTrainingSetIsPointInTimeAndReproducible(t *testing.T) {
	cat := newIngest(t).Loader.Catalog
	ctx := context.Background()
	lakeTable(t, cat, "raw.txn", arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: tsType},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil), "ts", func(b *array.RecordBuilder) {
		b.Field(0).(*array.StringBuilder).AppendValues([]string{"C1", "C1", "C1", "C2"}, nil)
		b.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{day(1, 10), day(5, 10), day(9, 10), day(2, 0)}, nil)
		b.Field(2).(*array.Float64Builder).AppendValues([]float64{10, 20, 40, 7}, nil)
	})
	lakeTable(t, cat, "raw.labels", arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "label_at", Type: tsType},
		{Name: "churned", Type: arrow.FixedWidthTypes.Boolean},
	}, nil), "label_at", func(b *array.RecordBuilder) {
		b.Field(0).(*array.StringBuilder).AppendValues([]string{"C1", "C1", "C2", "C3"}, nil)
		b.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{day(5, 10), day(8, 0), day(3, 0), day(3, 0)}, nil)
		b.Field(2).(*array.BooleanBuilder).AppendValues([]bool{false, true, false, true}, nil)
	})
	view := features.View{Name: "customer_txn", Key: "customer_id", Timestamp: "ts", Aggregations: []features.Aggregation{
		{Column: "amount", Function: "sum", Window: 7 * 24 * time.Hour}, {Column: "amount", Function: "count", Window: 24 * time.Hour}}}
	in := activities.TrainingSetInput{Model: "churn", RunID: "ts-1", LabelTable: "raw.labels", Key: "customer_id", LabelTime: "label_at", LabelColumn: "churned",
		Views: []activities.SourcedView{{View: activities.ViewOf(view), Table: "raw.txn"}}, Partitions: 3}
	a := &activities.Features{Store: &features.Store{Catalog: cat, TempDir: t.TempDir()}}
	res := runTrainingSet(t, a, in)
	if res.Rows != 4 || res.Read["raw.txn"] == 0 || res.Read["raw.labels"] == 0 {
		t.Fatalf("result %+v", res)
	}
	got, err := cat.Scan(ctx, "training.churn", lakehouse.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		sum   float64
		valid bool
		count int64
	}
	rows := map[string]row{}
	for _, r := range got.Records {
		keys, at := r.Column(0).(*array.String), r.Column(1).(*array.Timestamp)
		sums, counts := r.Column(3).(*array.Float64), r.Column(4).(*array.Int64)
		for i := range keys.Len() {
			g := row{valid: sums.IsValid(i), count: counts.Value(i)}
			if g.valid {
				g.sum = sums.Value(i)
			}
			rows[keys.Value(i)+"@"+at.Value(i).ToTime(arrow.Microsecond).Format("02T15")] = g
		}
		r.Release()
	}
	// C1 on the 5th at 10:00 sees the events of the 1st and the 5th (that
	// one exactly at the label time); the 9th's is in its future. On the
	// 8th at 00:00 the 7-day window (1st 00:00, 8th 00:00] still holds
	// the 1st's 10:00 event.
	want := map[string]row{"C1@05T10": {30, true, 1}, "C1@08T00": {30, true, 0}, "C2@03T00": {7, true, 0}, "C3@03T00": {0, false, 0}}
	for k, w := range want {
		if g := rows[k]; g != w {
			t.Errorf("%s: %+v, want %+v", k, g, w)
		}
	}
	info, err := cat.Describe(ctx, "training.churn")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(info.Snapshots); n != 1 {
		t.Fatalf("%d snapshots", n)
	}

	// A retry writes nothing; a new run replaces the content.
	if again := runTrainingSet(t, a, in); again.SnapshotID != res.SnapshotID || again.Rows != 4 {
		t.Errorf("retry %+v, first %+v", again, res)
	}
	in.RunID = "ts-2"
	runTrainingSet(t, a, in)
	if n := countRows(t, cat, "training.churn"); n != 4 {
		t.Errorf("after a second run training.churn has %d rows, want 4", n)
	}
	// Another feature list rebuilds the table.
	in.RunID = "ts-3"
	in.Views[0].View.Aggregations = in.Views[0].View.Aggregations[:1]
	runTrainingSet(t, a, in)
	if info, err := cat.Describe(ctx, "training.churn"); err != nil || len(info.Snapshots) != 1 {
		t.Errorf("after a new feature list: %+v, %v", info, err)
	}
}

func runMaterialize(t *testing.T, a *activities.Features, in activities.MaterializeInput) activities.MaterializeResult {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.Materialize, in)
	if err != nil {
		t.Fatal(err)
	}
	var res activities.MaterializeResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// newestOffline reads features.<view>: each entity's newest row's sum.
func newestOffline(t *testing.T, cat *lakehouse.Catalog, table string) map[string]float64 {
	t.Helper()
	res, err := cat.Scan(context.Background(), table, lakehouse.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		at  arrow.Timestamp
		sum float64
	}
	newest := map[string]row{}
	for _, r := range res.Records {
		keys, at, sums := r.Column(0).(*array.String), r.Column(1).(*array.Timestamp), r.Column(2).(*array.Float64)
		for i := range keys.Len() {
			if old, ok := newest[keys.Value(i)]; !ok || at.Value(i) > old.at {
				r := row{at: at.Value(i)}
				if sums.IsValid(i) {
					r.sum = sums.Value(i)
				}
				newest[keys.Value(i)] = r
			}
		}
		r.Release()
	}
	out := map[string]float64{}
	for k, r := range newest {
		out[k] = r.sum
	}
	return out
}

// TestMaterializeOfflineOnlineAndIncremental runs materializations twice:
// with a lake for states, so the incremental run rolls the first run's
// state forward, and without, so it reads the changed entities' windows.
func TestMaterializeOfflineOnlineAndIncremental(t *testing.T) {
	lake, err := lakehouse.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("rolled", func(t *testing.T) { testMaterialize(t, "spend", lake) })
	t.Run("scanned", func(t *testing.T) { testMaterialize(t, "spend_scan", nil) })
}

func testMaterialize(t *testing.T, name string, lake lakehouse.ObjectStore) {
	cat := newIngest(t).Loader.Catalog
	ctx := context.Background()
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec(ctx, "DROP TABLE IF EXISTS sluice_online."+name)
	txnSchema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: tsType},
		{Name: "amount", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	add := func(run string, keys []string, at []arrow.Timestamp, amounts []float64) {
		b := array.NewRecordBuilder(memory.DefaultAllocator, txnSchema)
		b.Field(0).(*array.StringBuilder).AppendValues(keys, nil)
		b.Field(1).(*array.TimestampBuilder).AppendValues(at, nil)
		b.Field(2).(*array.Float64Builder).AppendValues(amounts, nil)
		rec := b.NewRecordBatch()
		if _, err := cat.Append(ctx, "raw."+name, []arrow.RecordBatch{rec}, run); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cat.EnsureTable(ctx, "raw."+name, txnSchema, "ts"); err != nil {
		t.Fatal(err)
	}
	// C1 spends on the 1st and 3rd, C2 on the 2nd, C3 on the 1st; C4 only
	// after the first as-of time.
	add("load-1", []string{"C1", "C1", "C2", "C3", "C4"}, []arrow.Timestamp{day(1, 10), day(3, 10), day(2, 10), day(1, 12), day(9, 0)}, []float64{1, 2, 4, 8, 16})
	view := features.View{Name: name, Key: "customer_id", Timestamp: "ts",
		Aggregations: []features.Aggregation{{Column: "amount", Function: "sum", Window: 48 * time.Hour}}}
	a := &activities.Features{Store: &features.Store{Catalog: cat, Online: &online.Store{DB: db}, Lake: lake, TempDir: t.TempDir()}}
	t1 := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	in := activities.MaterializeInput{View: activities.SourcedView{View: activities.ViewOf(view), Table: "raw." + name}, AsOf: t1, RunID: "m/t1", Online: true, Incremental: true}
	res := runMaterialize(t, a, in)
	// As of the 4th: the 2-day window (2nd 00:00, 4th 00:00] holds C1's 2
	// and C2's 4; C3's spend of the 1st is outside; C4 has nothing yet.
	if res.Entities != 3 || res.Online != 3 || !res.Since.IsZero() {
		t.Fatalf("first run %+v", res)
	}
	want := map[string]float64{"C1": 2, "C2": 4, "C3": 0}
	check := func(when string) {
		t.Helper()
		got := newestOffline(t, cat, "features."+name)
		r := online.NewReader(db, online.CacheOptions{})
		rows, err := r.Get(ctx, name, []string{"C1", "C2", "C3", "C4"})
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range []string{"C1", "C2", "C3", "C4"} {
			w, ok := want[k]
			if !ok {
				if _, in := got[k]; in || rows[i] != nil {
					t.Errorf("%s: %s has a row (offline %v, online %v)", when, k, got[k], rows[i])
				}
				continue
			}
			var on float64
			if rows[i] != nil && rows[i][name+"__amount_sum_2d"] != nil {
				on = rows[i][name+"__amount_sum_2d"].(float64)
			}
			if got[k] != w || on != w {
				t.Errorf("%s: %s offline %v online %v, want %v", when, k, got[k], on, w)
			}
		}
	}
	check("after the first run")
	// The same as-of time again, from the same source snapshot, computes
	// and writes nothing.
	if again := runMaterialize(t, a, in); again.SnapshotID != res.SnapshotID || !again.Reused || again.Entities != 3 || again.EmptyWindows {
		t.Errorf("rerun %+v; want snapshot %d reused", again, res.SnapshotID)
	}

	// Incremental: a day later, only entities whose values can change
	// are recomputed: C2 (its spend of the 2nd leaves the window), C3 (it
	// spent on the 4th) and C1, whose spend of the 3rd at noon arrived
	// late, after the first run; its spend of the 3rd at 10:00 stays in
	// the window. C4 is still in the future.
	// (Without a stored state the change rule goes by event time alone,
	// so the scanned run gets no late row.)
	keys, times, amounts := []string{"C3"}, []arrow.Timestamp{day(4, 12)}, []float64{32}
	if lake != nil {
		keys, times, amounts = append(keys, "C1"), append(times, day(3, 12)), append(amounts, 64)
	}
	add("load-2", keys, times, amounts)
	t2 := t1.Add(24 * time.Hour)
	in.AsOf, in.RunID = t2, "m/t2"
	res2 := runMaterialize(t, a, in)
	if !res2.Since.Equal(t1) || res2.Rolled != (lake != nil) {
		t.Errorf("incremental run started from %v (want %v), rolled %v", res2.Since, t1, res2.Rolled)
	}
	// (3rd, 5th]: C1 has 2 (+ 64), C2 has nothing, C3 has 32.
	want = map[string]float64{"C1": 2, "C2": 0, "C3": 32}
	if lake != nil {
		want["C1"] = 66
	}
	if res2.Entities != int64(len(keys)+1) {
		t.Errorf("incremental run computed %d entities, want %d", res2.Entities, len(keys)+1)
	}
	check("after the incremental run")
	// A day later again, from the second run's state: C1's spends of the
	// 3rd leave the window (4th, 6th]; C3's of the 4th stays.
	in.AsOf, in.RunID = t2.Add(24*time.Hour), "m/t3"
	if res3 := runMaterialize(t, a, in); res3.Rolled != (lake != nil) || res3.Entities != 1 {
		t.Errorf("second incremental run: %+v, want C1 alone, rolled %v", res3, lake != nil)
	}
	want = map[string]float64{"C1": 0, "C2": 0, "C3": 32}
	check("after the second incremental run")

	// As of a month later every window is empty, and the run says so.
	late := in
	late.AsOf, late.RunID, late.Online, late.Incremental = t1.Add(30*24*time.Hour), "m/late", false, false
	if r := runMaterialize(t, a, late); !r.EmptyWindows || r.Entities != 4 {
		t.Errorf("a month after the data: %+v, want 4 entities and every window empty", r)
	}
}

// TestRebuiltTrainingSetsAreReclaimed: every rebuild expires the sets it
// replaced and deletes their files, except the set a model version holds
// (tagged when it registered).
func TestRebuiltTrainingSetsAreReclaimed(t *testing.T) {
	cat := newIngest(t).Loader.Catalog
	ctx := context.Background()
	lakeTable(t, cat, "raw.rtxn", arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: tsType}, {Name: "amount", Type: arrow.PrimitiveTypes.Float64}}, nil), "ts", func(b *array.RecordBuilder) {
		b.Field(0).(*array.StringBuilder).AppendValues([]string{"C1", "C2"}, nil)
		b.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{day(1, 10), day(2, 10)}, nil)
		b.Field(2).(*array.Float64Builder).AppendValues([]float64{10, 20}, nil)
	})
	lakeTable(t, cat, "raw.rlabels", arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "label_at", Type: tsType}, {Name: "churned", Type: arrow.FixedWidthTypes.Boolean}}, nil), "label_at", func(b *array.RecordBuilder) {
		b.Field(0).(*array.StringBuilder).AppendValues([]string{"C1", "C2"}, nil)
		b.Field(1).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{day(5, 0), day(5, 0)}, nil)
		b.Field(2).(*array.BooleanBuilder).AppendValues([]bool{false, true}, nil)
	})
	view := features.View{Name: "rtxn", Key: "customer_id", Timestamp: "ts", Aggregations: []features.Aggregation{{Column: "amount", Function: "sum", Window: 7 * 24 * time.Hour}}}
	in := activities.TrainingSetInput{Model: "reclaim", RunID: "r-1", LabelTable: "raw.rlabels", Key: "customer_id", LabelTime: "label_at", LabelColumn: "churned",
		Views: []activities.SourcedView{{View: activities.ViewOf(view), Table: "raw.rtxn"}}, Partitions: 2}
	a := &activities.Features{Store: &features.Store{Catalog: cat, TempDir: t.TempDir(), TrainingSetRetention: time.Nanosecond}}
	first := runTrainingSet(t, a, in)
	v1 := registry.Version{Model: "reclaim", Version: 1, TrainingSnapshots: map[string]int64{"training.reclaim": first.SnapshotID}}
	if err := registry.TagTrainingData(ctx, cat, v1); err != nil {
		t.Fatal(err)
	}
	dataFiles := func() int {
		info, err := cat.Describe(ctx, "training.reclaim")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		filepath.WalkDir(strings.TrimPrefix(info.Location, "file://")+"/data", func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	one := dataFiles()
	var last activities.TrainingSetResult
	for i := range 4 {
		in.RunID, in.Rebuild = fmt.Sprintf("r-%d", i+2), true
		last = runTrainingSet(t, a, in)
	}
	info, err := cat.Describe(ctx, "training.reclaim")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, s := range info.Snapshots {
		ids = append(ids, s.ID)
	}
	if len(ids) != 2 || !slices.Contains(ids, first.SnapshotID) || !slices.Contains(ids, last.SnapshotID) {
		t.Errorf("after 4 rebuilds the snapshots are %v; want the tagged %d and the current %d", ids, first.SnapshotID, last.SnapshotID)
	}
	if n := dataFiles(); n > 2*one {
		t.Errorf("%d data files after 4 rebuilds, %d after one: the replaced sets' files stayed", n, one)
	}
	if res, err := cat.Scan(ctx, "training.reclaim", lakehouse.ScanOptions{SnapshotID: first.SnapshotID}); err != nil || len(res.Records) == 0 {
		t.Errorf("the tagged set no longer reads: %v", err)
	}
}
