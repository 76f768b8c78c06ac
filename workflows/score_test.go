package workflows_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/workflows"
)

// customers writes raw.customers: each of the world's customers on a
// basic or pro plan, updated twice (two rows per customer), plus X1 with
// no spending (null and zero features) and X2 on a plan no training row
// had.
func customers(t *testing.T, w *world, n int, updated time.Time) {
	t.Helper()
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	schema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "updated_at", Type: ts}, {Name: "plan", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	add := func(id string, at time.Time, plan string) {
		b.Field(0).(*array.StringBuilder).Append(id)
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(at.UnixMicro()))
		b.Field(2).(*array.StringBuilder).Append(plan)
	}
	plans := []string{"basic", "pro"}
	for c := range n {
		add(fmt.Sprintf("C%d", c), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), plans[c%2])
		add(fmt.Sprintf("C%d", c), updated, plans[(c/2)%2])
	}
	add("X1", updated, "basic")
	add("X2", updated, "enterprise")
	rec := b.NewRecordBatch()
	defer rec.Release()
	if _, err := w.cat.EnsureTable(w.ctx, "raw.customers", schema, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.cat.Append(w.ctx, "raw.customers", []arrow.RecordBatch{rec}, "load"); err != nil {
		t.Fatal(err)
	}
}

// champion trains a model on the world's churn tables and 400 customers'
// profiles (raw.customers) and makes it the champion.
func champion(t *testing.T, w *world, prefix string) (string, workflows.TrainRequest, workflows.TrainResult) {
	t.Helper()
	customers(t, w, 400, time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC))
	model := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	profile := activities.SourcedView{Table: "raw.customers", View: activities.View{Name: "profile", Key: "customer_id", Timestamp: "updated_at", Columns: []string{"plan"}}}
	req := trainRequest(model, map[string]string{"trees": "20", "threads": "1"}, nil)
	req.TrainingSet.Views = append(req.TrainingSet.Views, profile)
	trained := w.train(t, "train/"+model, req)
	if _, err := (&registry.Registry{DB: w.db}).SetAlias(w.ctx, model, "champion", trained.Version.Version, "test", "first"); err != nil {
		t.Fatal(err)
	}
	return model, req, trained
}

// TestBatchScoreOnePerEntityEverywhere: the champion scores the
// population once per entity into the lake and PostgreSQL, with the
// scores of the model applied to the same features, unseen categories
// and null features included; running the as-of time again replaces its
// rows.
func TestBatchScoreOnePerEntityEverywhere(t *testing.T) {
	w := newWorld(t)
	ctx, db := w.ctx, w.db
	asOf := time.Date(2026, 7, 31, 0, 0, 0, 0, time.UTC)
	model, req, trained := champion(t, w, "score")

	sreq := workflows.ScoreRequest{Model: model, AsOf: asOf, Population: "raw.customers", Key: "customer_id",
		Views: req.TrainingSet.Views, Parts: 4, Concurrency: 2, Retention: 90 * 24 * time.Hour}
	score := func() workflows.ScoreResult {
		t.Helper()
		run, err := w.srv.GetDefaultClient().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "score/" + model, TaskQueue: workflows.QueueControl}, workflows.BatchScore, sreq)
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.ScoreResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := score()
	if res.Entities != 402 || res.Rows != 402 || res.Version != trained.Version.Version || res.Timings["predict"] <= 0 || res.Timings["commit"] <= 0 {
		t.Fatalf("result %+v; want 402 entities and rows", res)
	}
	// The population's drift was measured while scoring and stored.
	reports, err := (&monitor.Store{DB: db}).Latest(ctx, model, 5)
	if err != nil || len(reports) != 1 || res.Drift == "" || reports[0].Report.Level != res.Drift || reports[0].Report.Rows != 402 ||
		len(reports[0].Report.Features) != 3 || reports[0].Report.Score == nil || reports[0].RunID != "score/"+model {
		t.Fatalf("drift: %q, reports %+v (%v)", res.Drift, reports, err)
	}

	pg := map[string]float64{}
	labels := map[string]string{}
	rows, err := db.Query(ctx, `SELECT customer_id, score, label, run_id, model_version, as_of FROM predictions.`+model)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var key, label, run string
		var s float64
		var version int
		var at time.Time
		if err := rows.Scan(&key, &s, &label, &run, &version, &at); err != nil {
			t.Fatal(err)
		}
		if _, dup := pg[key]; dup {
			t.Fatalf("%s scored twice", key)
		}
		if run != "score/"+model || version != res.Version || !at.Equal(asOf) {
			t.Errorf("row of %s: run %s version %d as of %v", key, run, version, at)
		}
		pg[key], labels[key] = s, label
	}
	if len(pg) != 402 || labels["X2"] == "" || labels["X1"] == "" {
		t.Fatalf("%d rows in PostgreSQL; X1 %q, X2 %q", len(pg), labels["X1"], labels["X2"])
	}
	lake := lakeScores(t, w, "predictions."+model)
	if len(lake) != len(pg) {
		t.Fatalf("%d rows in the lake, %d in PostgreSQL", len(lake), len(pg))
	}
	for k, s := range pg {
		if lake[k] != s {
			t.Fatalf("%s: lake %v, PostgreSQL %v", k, lake[k], s)
		}
	}

	// The same features through the model directly, as `sluice ml
	// predict` scores a file.
	want := directScores(t, w, trained.Version.ArtifactKey, req.TrainingSet.Views, pg, asOf)
	for k, s := range want {
		if math.Abs(pg[k]-s) > 1e-6 {
			t.Errorf("%s: scored %v, the model says %v", k, pg[k], s)
		}
	}

	// Again: the as-of time's rows are replaced, not added to.
	again := score()
	var n, runs int
	db.QueryRow(ctx, `SELECT count(*), count(DISTINCT scored_at) FROM predictions.`+model).Scan(&n, &runs)
	if again.Rows != 402 || n != 402 || runs != 1 || len(lakeScores(t, w, "predictions."+model)) != 402 {
		t.Errorf("after a rerun: %d rows of %d runs in PostgreSQL, result %+v", n, runs, again)
	}
	var latest int
	db.QueryRow(ctx, `SELECT count(*) FROM predictions.`+model+`_latest`).Scan(&latest)
	if latest != 402 {
		t.Errorf("_latest holds %d rows", latest)
	}

	// Lake only: the lake gains the as-of time's rows, PostgreSQL not.
	sreq.LakeOnly, sreq.AsOf = true, asOf.Add(24*time.Hour)
	if res := score(); res.Rows != 402 || res.Wall["parts"] <= 0 {
		t.Errorf("lake-only result %+v", res)
	}
	db.QueryRow(ctx, `SELECT count(*) FROM predictions.`+model).Scan(&n)
	sr, err := w.cat.Scan(ctx, "predictions."+model, lakehouse.ScanOptions{Columns: []string{"customer_id"}})
	if err != nil {
		t.Fatal(err)
	}
	var lakeRows int64
	for _, r := range sr.Records {
		lakeRows += r.NumRows()
		r.Release()
	}
	if n != 402 || lakeRows != 804 {
		t.Errorf("after a lake-only run: %d rows in PostgreSQL (want 402), %d in the lake (want 804)", n, lakeRows)
	}

	// Realized performance: scored as of July 1st, the labels of July
	// (within 30 days) tell how the predictions did.
	sreq.LakeOnly, sreq.AsOf = false, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	if _, err := w.srv.GetDefaultClient().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "score/" + model + "/july", TaskQueue: workflows.QueueControl},
		workflows.BatchScore, sreq); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for n := 0; n != 804; time.Sleep(100 * time.Millisecond) {
		db.QueryRow(ctx, `SELECT count(*) FROM predictions.`+model).Scan(&n)
		if time.Now().After(deadline) {
			t.Fatalf("the July run never published: %d rows", n)
		}
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	mon := &activities.Monitoring{Meter: &monitor.Meter{Catalog: w.cat, DB: db}}
	env.RegisterActivity(mon)
	v, err := env.ExecuteActivity(mon.Performance, activities.PerformanceInput{Model: model, Task: "binary", LabelTable: "raw.labels",
		Key: "customer_id", LabelTime: "label_at", LabelColumn: "churned", Window: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var perf activities.PerformanceResult
	v.Get(&perf)
	if perf.Pairs < 300 || len(perf.Reports) != 1 || !perf.Reports[0].Day.Equal(sreq.AsOf) || perf.Reports[0].Metrics["auc"] < 0.6 {
		t.Fatalf("performance %+v", perf)
	}
	stored, err := (&monitor.Store{DB: db}).Performance(ctx, model, 10)
	if err != nil || len(stored) != 1 || stored[0].Rows != perf.Pairs {
		t.Errorf("stored performance %+v %v", stored, err)
	}
}

func lakeScores(t *testing.T, w *world, table string) map[string]float64 {
	t.Helper()
	sr, err := w.cat.Scan(w.ctx, table, lakehouse.ScanOptions{Columns: []string{"customer_id", "score"}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, r := range sr.Records {
		k, s := r.Column(0).(*array.String), r.Column(1).(*array.Float64)
		for i := range k.Len() {
			if _, dup := out[k.Value(i)]; dup {
				t.Fatalf("%s twice in the lake", k.Value(i))
			}
			out[k.Value(i)] = s.Value(i)
		}
		r.Release()
	}
	return out
}

// directScores computes each view's features for the keys with View.AsOf
// and scores them with the artifact.
func directScores(t *testing.T, w *world, artifactKey string, views []activities.SourcedView, keys map[string]float64, asOf time.Time) map[string]float64 {
	t.Helper()
	kb := array.NewStringBuilder(memory.DefaultAllocator)
	var order []string
	for k := range keys {
		kb.Append(k)
		order = append(order, k)
	}
	karr := kb.NewArray()
	times := make([]int64, len(order))
	for i := range times {
		times[i] = asOf.UnixMicro()
	}
	var fields []arrow.Field
	var cols []arrow.Array
	for _, sv := range views {
		sr, err := w.cat.Scan(w.ctx, sv.Table, lakehouse.ScanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := sv.View.Features().AsOf(w.ctx, sr.Records, features.Queries{Keys: karr, Times: times})
		if err != nil {
			t.Fatal(err)
		}
		fields = append(fields, f.Schema().Fields()...)
		cols = append(cols, f.Columns()...)
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(order)))
	r, err := w.lake.Get(w.ctx, artifactKey)
	if err != nil {
		t.Fatal(err)
	}
	art, err := artifact.Decode(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	categorical := false
	for _, f := range art.Features {
		if f.Name == "profile__plan" && f.Kind == "categorical" && fmt.Sprint(f.Categories) == "[basic pro]" {
			categorical = true
		}
	}
	if !categorical {
		t.Fatalf("the model lacks the categorical plan feature: %+v", art.Features)
	}
	d, err := ml.FromArrow([]arrow.RecordBatch{rec}, ml.ArrowOptions{Columns: trainer.ArtifactColumns(art)})
	if err != nil {
		t.Fatal(err)
	}
	preds, err := art.Predict(trainer.Columns2D(d), 1)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for i, k := range order {
		out[k] = preds[i]
	}
	return out
}
