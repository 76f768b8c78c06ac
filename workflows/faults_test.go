package workflows_test

import (
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/testenv"
	"github.com/sluice-ml/sluice/workflows"
)

// TestBatchScoreSurvivesS3OutageMidPublication scores into a lake on S3
// and stops the S3 server for 20 s in the middle of the publication's
// commit (its files and metadata written, the commit waiting on the
// catalog row when S3 stops). Once the row is released the catalog moves,
// PostgreSQL's partition is published (it needs no S3), and PostgreSQL and
// the lake hold one row per entity. (Removing the run's feature parts
// fails while S3 is down; that is logged and left: see the issue note.)
func TestBatchScoreSurvivesS3OutageMidPublication(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s outage")
	}
	s3 := testenv.S3(t)
	w := newWorldOn(t, s3, s3)
	ctx, db := w.ctx, w.db
	model, req, _ := champion(t, w, "outage")
	start := func(asOf time.Time) client.WorkflowRun {
		t.Helper()
		run, err := w.srv.GetDefaultClient().ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "score/" + model + asOf.Format("/0102"), TaskQueue: workflows.QueueControl},
			workflows.BatchScore, workflows.ScoreRequest{Model: model, AsOf: asOf, Population: "raw.customers", Key: "customer_id",
				Views: req.TrainingSet.Views, Parts: 4, Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	run := start(time.Date(2026, 7, 31, 0, 0, 0, 0, time.UTC))
	// The run makes predictions.<model> before scoring its parts; the
	// parts write files and only the publication commits.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
		var made bool
		if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = 'predictions' AND table_name = $2)`,
			w.catalog, model).Scan(&made); err != nil {
			t.Fatal(err)
		}
		if made {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never made its lake table")
		}
	}
	hold := testenv.HoldCatalogRow(t, w.dbURL, w.catalog, "predictions", model)
	hold.WaitBlocked()
	back := testenv.StopS3For(t, 20*time.Second)
	hold.Release()
	var res workflows.ScoreResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("the run: %v", err)
	}
	if err := <-back; err != nil {
		t.Fatalf("restarting S3: %v", err)
	}
	var rows, distinct int
	if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT customer_id) FROM predictions.`+model).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	sr, err := w.cat.Scan(ctx, "predictions."+model, lakehouse.ScanOptions{Columns: []string{"customer_id"}})
	if err != nil {
		t.Fatal(err)
	}
	lakeRows, seen := 0, map[string]bool{}
	for _, r := range sr.Records {
		for i := range int(r.NumRows()) {
			seen[r.Column(0).ValueStr(i)] = true
		}
		lakeRows += int(r.NumRows())
		r.Release()
	}
	if res.Rows != 402 || rows != 402 || distinct != 402 || lakeRows != 402 || len(seen) != 402 {
		t.Fatalf("run rows %d; PostgreSQL %d rows of %d entities; the lake %d of %d; want 402 each", res.Rows, rows, distinct, lakeRows, len(seen))
	}
	attempts := 0
	it := w.srv.GetDefaultClient().GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() > 1 {
			attempts++
		}
	}
	t.Logf("%d activity retries across the outage", attempts)

	// Removing the run's feature parts failed while S3 was down; they stay
	// listed, and the next publication removes them.
	leftover := func() (objects []string, listed int) {
		t.Helper()
		objects, err := w.lake.List(ctx, "scoring/"+model+"/")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `SELECT count(*) FROM sluice.score_cleanup WHERE run LIKE '%' || $1 || '%'`, model).Scan(&listed); err != nil {
			t.Fatal(err)
		}
		return objects, listed
	}
	if objects, listed := leftover(); len(objects) == 0 || listed != 1 {
		t.Logf("after the outage: %d feature part objects, %d listed for removal (the removal ran after S3 was back)", len(objects), listed)
	}
	if err := start(time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)).Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if objects, listed := leftover(); len(objects) != 0 || listed != 0 {
		t.Errorf("after the next run: %d feature part objects left (%v), %d listed for removal; want none", len(objects), objects, listed)
	}
}
