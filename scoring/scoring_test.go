package scoring_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/scoring"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func openDB(t testing.TB) (context.Context, *pgxpool.Pool) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return ctx, db
}

func stringKeys(keys ...string) arrow.Array {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(keys, nil)
	return b.NewArray()
}

// TestLoadPublishReplaceAndRetain: parts load once however often they
// are retried, nothing shows before publication, a second run of the
// same as-of time replaces the first, _latest keeps each entity's newest
// row, and retention drops old partitions.
func TestLoadPublishReplaceAndRetain(t *testing.T) {
	ctx, db := openDB(t)
	model := fmt.Sprintf("sc_%d", time.Now().UnixNano())
	tbl := scoring.Table{Model: model, Key: "customer_id", KeyType: arrow.BinaryTypes.String}
	if err := tbl.Ensure(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Ensure(ctx, db); err != nil {
		t.Fatalf("Ensure twice: %v", err)
	}
	day1 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	scored := time.Date(2026, 11, 2, 3, 4, 5, 123456000, time.UTC)
	run := func(id string, asOf time.Time, version int, keys []string, scores []float64) {
		t.Helper()
		if err := tbl.Stage(ctx, db, id, asOf); err != nil {
			t.Fatal(err)
		}
		half := len(keys) / 2
		for p, r := range [][2]int{{0, half}, {half, len(keys)}} {
			b := &scoring.Batch{Run: scoring.Run{ID: id, Version: version, ScoredAt: scored, AsOf: asOf}, Keys: stringKeys(keys[r[0]:r[1]]...),
				Score: scores[r[0]:r[1]], Label: make([]int32, r[1]-r[0]), Classes: []string{"no", "yes"}}
			for i, s := range b.Score {
				if s >= 0.5 {
					b.Label[i] = 1
				}
			}
			for attempt := range 2 {
				rec, loaded, err := tbl.Load(ctx, db, id, scoring.Part{Part: p, Rows: int64(r[1] - r[0])}, b, func(q *scoring.Part) error {
					q.LakeFiles = []string{fmt.Sprintf("f%d", p)}
					return nil
				})
				if err != nil || loaded != (attempt == 0) || rec.LakeFiles[0] != fmt.Sprintf("f%d", p) {
					t.Fatalf("load part %d attempt %d: %+v %v %v", p, attempt, rec, loaded, err)
				}
			}
		}
		var visible int
		db.QueryRow(ctx, `SELECT count(*) FROM predictions.`+model+` WHERE run_id = $1`, id).Scan(&visible)
		if visible != 0 {
			t.Fatalf("%d rows of %s visible before publication", visible, id)
		}
		if parts, err := scoring.Parts(ctx, db, id); err != nil || len(parts) != 2 {
			t.Fatalf("parts %+v %v", parts, err)
		}
		for attempt := range 2 {
			if pub, err := tbl.Publish(ctx, db, id, asOf); err != nil || pub != (attempt == 0) {
				t.Fatalf("publish attempt %d: %v %v", attempt, pub, err)
			}
		}
	}
	run("r1", day1, 1, []string{"a", "b", "c", "d"}, []float64{0.1, 0.9, 0.5, 0.2})
	run("r2", day2, 1, []string{"a", "b", "c", "d"}, []float64{0.3, 0.3, 0.3, 0.3})
	run("r2b", day2, 2, []string{"a", "b", "e", "f"}, []float64{0.7, 0.6, 0.2, 0.8})

	rows, err := db.Query(ctx, `SELECT run_id, model_version, customer_id, score, label, scored_at, as_of FROM predictions.`+model+` ORDER BY as_of, customer_id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		run      string
		version  int
		key      string
		score    float64
		label    *string
		scoredAt time.Time
		asOf     time.Time
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.run, &r.version, &r.key, &r.score, &r.label, &r.scoredAt, &r.asOf); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 8 {
		t.Fatalf("want 4 rows of r1 and 4 of r2b (r2 replaced), got %d: %+v", len(got), got)
	}
	if r := got[1]; r.run != "r1" || r.key != "b" || r.score != 0.9 || *r.label != "yes" || !r.scoredAt.Equal(scored) || !r.asOf.Equal(day1) || r.version != 1 {
		t.Errorf("row %+v", r)
	}
	for _, r := range got[4:] {
		if r.run != "r2b" || r.version != 2 {
			t.Errorf("as of day 2: %+v; want r2b's rows only", r)
		}
	}
	var latest []string
	lrows, _ := db.Query(ctx, `SELECT customer_id || ':' || run_id FROM predictions.`+model+`_latest ORDER BY customer_id`)
	for lrows.Next() {
		var s string
		lrows.Scan(&s)
		latest = append(latest, s)
	}
	if fmt.Sprint(latest) != "[a:r2b b:r2b c:r1 d:r1 e:r2b f:r2b]" {
		t.Errorf("latest: %v", latest)
	}
	dropped, err := tbl.Retain(ctx, db, day2)
	if err != nil || len(dropped) != 1 || dropped[0] != tbl.PartitionName(day1) {
		t.Fatalf("retain: %v %v", dropped, err)
	}
	var n int
	db.QueryRow(ctx, `SELECT count(*) FROM predictions.`+model).Scan(&n)
	if n != 4 {
		t.Errorf("after retention %d rows, want 4", n)
	}
	if err := (scoring.Table{Model: model, Key: "customer_id", KeyType: arrow.PrimitiveTypes.Int64}).Ensure(ctx, db); err == nil {
		t.Error("a key of another type was accepted")
	}
}

// TestCopyIntKeysAndNullLabels: a regression batch keyed by int64
// round-trips exactly, including extreme values.
func TestCopyIntKeysAndNullLabels(t *testing.T) {
	ctx, db := openDB(t)
	model := fmt.Sprintf("sc_int_%d", time.Now().UnixNano())
	tbl := scoring.Table{Model: model, Key: "id", KeyType: arrow.PrimitiveTypes.Int64}
	if err := tbl.Ensure(ctx, db); err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC) // before PostgreSQL's epoch
	ib := array.NewInt64Builder(memory.DefaultAllocator)
	keys := []int64{math.MinInt64, -1, 0, 42, math.MaxInt64}
	ib.AppendValues(keys, nil)
	scores := []float64{-1e308, math.Copysign(0, -1), 0, 3.25, math.Inf(1)}
	b := &scoring.Batch{Run: scoring.Run{ID: "r", Version: 7, ScoredAt: asOf, AsOf: asOf}, Keys: ib.NewArray(), Score: scores}
	if err := tbl.Stage(ctx, db, "r", asOf); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tbl.Load(ctx, db, "r", scoring.Part{Rows: 5}, b, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Publish(ctx, db, "r", asOf); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `SELECT id, score, label IS NULL, as_of FROM predictions.`+model+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var id int64
		var score float64
		var null bool
		var at time.Time
		if err := rows.Scan(&id, &score, &null, &at); err != nil {
			t.Fatal(err)
		}
		if id != keys[i] || score != scores[i] || !null || !at.Equal(asOf) {
			t.Errorf("row %d: %d %v %v %v", i, id, score, null, at)
		}
		i++
	}
	if i != 5 {
		t.Fatalf("%d rows", i)
	}
}
