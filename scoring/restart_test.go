package scoring_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/scoring"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestLoadSurvivesAPostgresRestart restarts a private PostgreSQL server in
// the middle of a part's COPY (seen running in pg_stat_activity) and
// between the COPY and the commit: the load fails and leaves nothing, not
// even its record; the retry loads every row once, a second retry loads
// nothing, and the published partition holds each entity once.
func TestLoadSurvivesAPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts PostgreSQL")
	}
	const rows = 1_000_000
	cluster := testenv.PrivatePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db, err := metastore.Open(ctx, cluster.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	kb := array.NewStringBuilder(memory.DefaultAllocator)
	scores := make([]float64, rows)
	for i := range rows {
		kb.Append(fmt.Sprintf("customer-%07d", i))
		scores[i] = float64(i%1000) / 1000
	}
	keys := kb.NewArray()
	defer keys.Release()
	asOf := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, point := range []string{"during-copy", "before-commit"} {
		t.Run(point, func(t *testing.T) {
			model := "restart_" + map[string]string{"during-copy": "copy", "before-commit": "commit"}[point]
			tbl := scoring.Table{Model: model, Key: "customer_id", KeyType: arrow.BinaryTypes.String}
			run := model + "-run"
			if err := tbl.Ensure(ctx, db); err != nil {
				t.Fatal(err)
			}
			if err := tbl.Stage(ctx, db, run, asOf); err != nil {
				t.Fatal(err)
			}
			b := &scoring.Batch{Run: scoring.Run{ID: run, Version: 1, ScoredAt: asOf, AsOf: asOf}, Keys: keys, Score: scores}
			part := scoring.Part{Part: 0, Rows: rows}
			var finish func(*scoring.Part) error
			restarted := make(chan error, 1)
			switch point {
			case "during-copy":
				go func() { restarted <- testenv.RestartDuring(ctx, cluster, "COPY ") }()
			case "before-commit":
				finish = func(*scoring.Part) error {
					restarted <- cluster.Restart(ctx)
					return nil
				}
			}
			_, loaded, err := tbl.Load(ctx, db, run, part, b, finish)
			if rerr := <-restarted; rerr != nil {
				t.Fatalf("restarting PostgreSQL: %v", rerr)
			}
			if err == nil || loaded {
				t.Fatalf("the load across the restart: loaded %v, err %v; want an error", loaded, err)
			}
			t.Logf("the load across the restart: %v", err)
			var recorded, staged int
			if err := db.QueryRow(ctx, `SELECT count(*) FROM sluice.score_parts WHERE run = $1`, run).Scan(&recorded); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{"predictions", tbl.StagingName(run)}.Sanitize()).Scan(&staged); err != nil {
				t.Fatal(err)
			}
			if recorded != 0 || staged != 0 {
				t.Fatalf("the failed load left %d part records and %d staged rows", recorded, staged)
			}
			for attempt := range 2 {
				rec, loaded, err := tbl.Load(ctx, db, run, part, b, nil)
				if err != nil || loaded != (attempt == 0) || rec.Rows != rows {
					t.Fatalf("retry %d: %+v loaded %v: %v", attempt+1, rec, loaded, err)
				}
			}
			if _, err := tbl.Publish(ctx, db, run, asOf); err != nil {
				t.Fatal(err)
			}
			var n, distinct int
			var sum float64
			if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT customer_id), sum(score) FROM predictions.`+model).Scan(&n, &distinct, &sum); err != nil {
				t.Fatal(err)
			}
			if want := float64(rows/1000) * 499.5; n != rows || distinct != rows || fmt.Sprintf("%.3f", sum) != fmt.Sprintf("%.3f", want) {
				t.Fatalf("published %d rows, %d entities, score sum %.3f; want %d once each, sum %.3f", n, distinct, sum, rows, want)
			}
		})
	}
}
