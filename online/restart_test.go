package online_test

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
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestUpsertSurvivesAPostgresRestart restarts a private PostgreSQL server
// in the middle of an online load: between two of its COPY batches, and
// while its upsert statement runs (seen in pg_stat_activity). The load
// fails and changes nothing (every entity keeps the previous load's
// values); the retry gives every entity the new values, once.
func TestUpsertSurvivesAPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts PostgreSQL")
	}
	const entities = 200_000
	cluster := testenv.PrivatePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db, err := metastore.Open(ctx, cluster.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &online.Store{DB: db}
	load := func(sum float64) []arrow.RecordBatch {
		var recs []arrow.RecordBatch
		for half := range 2 {
			b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			for i := half * entities / 2; i < (half+1)*entities/2; i++ {
				b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("C%07d", i))
				b.Field(1).(*array.Float64Builder).Append(sum)
				b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("plan-%v", sum))
			}
			recs = append(recs, b.NewRecordBatch())
			b.Release()
		}
		return recs
	}
	day1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	for _, point := range []string{"between-copies", "during-upsert"} {
		t.Run(point, func(t *testing.T) {
			view := map[string]string{"between-copies": "restart_copy", "during-upsert": "restart_upsert"}[point]
			first, second := load(1), load(2)
			if _, err := s.Upsert(ctx, view, "customer_id", schema, records(first, nil), day1); err != nil {
				t.Fatal(err)
			}
			restarted := make(chan error, 1)
			between := func() {}
			switch point {
			case "between-copies":
				between = func() { restarted <- cluster.Restart(ctx) }
			case "during-upsert":
				go func() { restarted <- testenv.RestartDuring(ctx, cluster, "INSERT INTO") }()
			}
			n, err := s.Upsert(ctx, view, "customer_id", schema, records(second, between), day2)
			if rerr := <-restarted; rerr != nil {
				t.Fatalf("restarting PostgreSQL: %v", rerr)
			}
			if err == nil {
				t.Fatalf("the load across the restart loaded %d rows and no error", n)
			}
			t.Logf("the load across the restart: %v", err)
			check := func(want float64, wantAsOf time.Time) {
				t.Helper()
				var rows, distinct, matching int
				q := fmt.Sprintf(`SELECT count(*), count(DISTINCT customer_id), count(*) FILTER (WHERE txn__amount_sum_7d = $1 AND txn__plan = $2 AND %s = $3) FROM %s`,
					pgx.Identifier{online.EventTime}.Sanitize(), pgx.Identifier{"sluice_online", view}.Sanitize())
				if err := db.QueryRow(ctx, q, want, fmt.Sprintf("plan-%v", want), wantAsOf).Scan(&rows, &distinct, &matching); err != nil {
					t.Fatal(err)
				}
				if rows != entities || distinct != entities || matching != entities {
					t.Fatalf("%d rows, %d entities, %d with the values of load %v; want %d of each", rows, distinct, matching, want, entities)
				}
			}
			check(1, day1)
			if n, err := s.Upsert(ctx, view, "customer_id", schema, records(second, nil), day2); err != nil || n != entities {
				t.Fatalf("the retry: %d rows, %v", n, err)
			}
			check(2, day2)
		})
	}
}

// records yields recs, calling between after the first.
func records(recs []arrow.RecordBatch, between func()) func(func(arrow.RecordBatch, error) bool) {
	return func(yield func(arrow.RecordBatch, error) bool) {
		for i, r := range recs {
			if i == 1 && between != nil {
				between()
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}
