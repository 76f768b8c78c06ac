package online_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "customer_id", Type: arrow.BinaryTypes.String},
	{Name: "txn__amount_sum_7d", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "txn__plan", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func batch(keys []string, sums []float64, plans []string) func(func(arrow.RecordBatch, error) bool) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.StringBuilder).AppendValues(keys, nil)
	b.Field(1).(*array.Float64Builder).AppendValues(sums, nil)
	b.Field(2).(*array.StringBuilder).AppendValues(plans, []bool{true, false, true}[:len(plans)])
	rec := b.NewRecordBatch()
	return func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }
}

func TestUpsertGetCacheAndNotify(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec(ctx, "DROP TABLE IF EXISTS sluice_online.txn")
	s := &online.Store{DB: db}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	n, err := s.Upsert(ctx, "txn", "customer_id", schema, batch([]string{"C1", "C2", "C3"}, []float64{1, 2, 3}, []string{"pro", "x", "max"}), day)
	if err != nil || n != 3 {
		t.Fatalf("upsert: %d, %v", n, err)
	}
	r := online.NewReader(db, online.CacheOptions{Size: 10, TTL: time.Hour})
	lctx, stop := context.WithCancel(ctx)
	watching, err := r.Watch(lctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop()
		if err := <-watching; err != nil {
			t.Error(err)
		}
	}()

	rows, err := r.Get(ctx, "txn", []string{"C2", "C9", "C1"})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0]["txn__amount_sum_7d"] != 2.0 || rows[0]["txn__plan"] != nil || rows[1] != nil || rows[2]["txn__plan"] != "pro" {
		t.Fatalf("rows %v", rows)
	}
	// An older load does not overwrite newer values; a newer one does,
	// and its NOTIFY empties the cache.
	if _, err := s.Upsert(ctx, "txn", "customer_id", schema, batch([]string{"C1"}, []float64{-1}, []string{"old"}), day.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Upsert(ctx, "txn", "customer_id", schema, batch([]string{"C2"}, []float64{20}, []string{"new"}), day.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err = r.Get(ctx, "txn", []string{"C1", "C2"})
		if err != nil {
			t.Fatal(err)
		}
		if rows[1]["txn__amount_sum_7d"] == 20.0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rows[0]["txn__amount_sum_7d"] != 1.0 || rows[1]["txn__amount_sum_7d"] != 20.0 || !rows[1][online.EventTime].(time.Time).Equal(day.Add(24*time.Hour)) {
		t.Errorf("after the loads: %v", rows)
	}
	if _, err := r.Get(ctx, "nope", []string{"C1"}); !errors.Is(err, online.ErrNoView) {
		t.Errorf("an unknown view: %v", err)
	}
}

// TestHostileColumnNames: column names come from users' data; they are
// quoted identifiers in every statement, never SQL.
func TestHostileColumnNames(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.canary (x int)`); err != nil {
		t.Fatal(err)
	}
	key := `id"; DROP TABLE public.canary; --`
	val := `v'); DELETE FROM sluice.schema_migrations; --`
	hs := arrow.NewSchema([]arrow.Field{
		{Name: key, Type: arrow.BinaryTypes.String},
		{Name: val, Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, hs)
	b.Field(0).(*array.StringBuilder).AppendValues([]string{`k"1`, "k'2"}, nil)
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{1, 2}, nil)
	rec := b.NewRecordBatch()
	s := &online.Store{DB: db}
	view := `v"; DROP TABLE public.canary; --`
	n, err := s.Upsert(ctx, view, key, hs, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("upsert: %d, %v", n, err)
	}
	var tables, migrations int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'canary'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sluice.schema_migrations`).Scan(&migrations); err != nil {
		t.Fatal(err)
	}
	if tables != 1 || migrations == 0 {
		t.Fatalf("a name ran as SQL: canary tables %d, migrations %d", tables, migrations)
	}
	r := online.NewReader(db, online.CacheOptions{Size: 10, TTL: time.Hour})
	rows, err := r.Get(ctx, view, []string{"k'2", `k"1`})
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][val] != 2.0 || rows[1][val] != 1.0 {
		t.Errorf("rows %v", rows)
	}
}

// TestReadsDoNotWaitForALoad: a load in progress (its transaction open)
// does not block reads of the view: the soak found reads timing out while
// a materialization reloaded every entity.
func TestReadsDoNotWaitForALoad(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Exec(ctx, "DROP TABLE IF EXISTS sluice_online.busy")
	s := &online.Store{DB: db}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.Upsert(ctx, "busy", "customer_id", schema, batch([]string{"C1", "C2", "C3"}, []float64{1, 2, 3}, []string{"a", "b", "c"}), day); err != nil {
		t.Fatal(err)
	}
	// A second load that holds its transaction open until released.
	release, loaded := make(chan struct{}), make(chan error, 1)
	rec := batch([]string{"C1"}, []float64{10}, []string{"z"})
	go func() {
		_, err := s.Upsert(ctx, "busy", "customer_id", schema, func(yield func(arrow.RecordBatch, error) bool) {
			rec(yield)
			<-release
		}, day.Add(24*time.Hour))
		loaded <- err
	}()
	time.Sleep(300 * time.Millisecond) // the load is past its DDL, reading records
	r := online.NewReader(db, online.CacheOptions{Size: 10, TTL: time.Hour})
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	rows, err := r.Get(rctx, "busy", []string{"C1"})
	cancel()
	close(release)
	if err != nil {
		t.Fatalf("a read during a load: %v", err)
	}
	if rows[0]["txn__amount_sum_7d"] != 1.0 {
		t.Errorf("read %v during the load, want the committed value", rows)
	}
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
}

// TestCacheIsBoundedInBytes: clients choose the keys, so the cache is
// bounded by what it holds, not only by its count; and a key an integer
// key column cannot hold is not cached at all.
func TestCacheIsBoundedInBytes(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	view := fmt.Sprintf("bounded_%d", time.Now().UnixNano())
	if _, err := (&online.Store{DB: db}).Upsert(ctx, view, "customer_id", schema, batch([]string{"C1"}, []float64{1}, []string{"pro"}), time.Now()); err != nil {
		t.Fatal(err)
	}
	r := online.NewReader(db, online.CacheOptions{Size: 1_000_000, MaxBytes: 256 << 10})
	for i := range 50 {
		keys := make([]string, 100)
		for j := range keys {
			keys[j] = fmt.Sprintf("%d-%d-%s", i, j, strings.Repeat("k", 240))
		}
		if _, err := r.Get(ctx, view, keys); err != nil {
			t.Fatal(err)
		}
	}
	if n, b := r.CacheSize(); b > 256<<10 || n >= 5000 {
		t.Errorf("the cache holds %d entries, %d bytes, after 5,000 unknown 250-byte keys; want at most 256 KiB", n, b)
	}
	intView := fmt.Sprintf("bounded_int_%d", time.Now().UnixNano())
	intSchema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, intSchema)
	b.Field(0).(*array.Int64Builder).Append(1)
	b.Field(1).(*array.Float64Builder).Append(2)
	rec := b.NewRecordBatch()
	if _, err := (&online.Store{DB: db}).Upsert(ctx, intView, "id", intSchema, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }, time.Now()); err != nil {
		t.Fatal(err)
	}
	ri := online.NewReader(db, online.CacheOptions{})
	rows, err := ri.Get(ctx, intView, []string{"1", "not-a-number", "2"})
	if err != nil || rows[0] == nil || rows[1] != nil || rows[2] != nil {
		t.Fatalf("rows %v, %v", rows, err)
	}
	if n, _ := ri.CacheSize(); n != 2 {
		t.Errorf("%d entries cached, want 2: the key no bigint can be is not cached", n)
	}
}

// TestCacheStaysFreshAcrossADroppedListen: when the LISTEN connection
// drops, the reader listens again and empties its cache (loads committed
// meanwhile went unheard), and later loads invalidate as before. (Before,
// sluice serve never listened again: every later load went unseen for the
// cache's TTL.)
func TestCacheStaysFreshAcrossADroppedListen(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	view := fmt.Sprintf("relisten_%d", time.Now().UnixNano())
	s := &online.Store{DB: db}
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	load := func(v float64, at time.Time) {
		t.Helper()
		if _, err := s.Upsert(ctx, view, "customer_id", schema, batch([]string{"C1"}, []float64{v}, []string{"pro"}), at); err != nil {
			t.Fatal(err)
		}
	}
	load(1, day)
	r := online.NewReader(db, online.CacheOptions{TTL: time.Hour})
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := r.KeepFresh(lctx, nil); err != nil {
		t.Fatal(err)
	}
	waitFor := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got, err := r.Get(ctx, view, []string{"C1"})
			if err != nil {
				t.Fatal(err)
			}
			if got[0]["txn__amount_sum_7d"] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("C1 reads %v, want %v", got[0]["txn__amount_sum_7d"], want)
			}
		}
	}
	waitFor(1) // cached now
	// The listener's connection is cut, and a load commits meanwhile.
	var cut int
	if err := db.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&cut); err != nil || cut == 0 {
		t.Fatalf("cut %d listeners: %v", cut, err)
	}
	load(5, day.Add(24*time.Hour))
	waitFor(5)
	// Listening again: the next load is heard.
	load(7, day.Add(48*time.Hour))
	waitFor(7)
}
