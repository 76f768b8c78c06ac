package metastore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestMigrationsAreNumberedInOrder(t *testing.T) {
	ms, err := metastore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d; versions must run 1, 2, 3… with no gaps", i, m.Version)
		}
		if m.SQL == "" || m.Name == "" {
			t.Errorf("migration %d is empty or unnamed", m.Version)
		}
	}
}

func TestConcurrentMigrateAppliesEachVersionOnce(t *testing.T) {
	ctx := testenv.Context(t)
	url := testenv.PostgresURL(t)
	ms, err := metastore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	const starters = 4
	pools := make([]*pgxpool.Pool, starters)
	for i := range pools {
		p, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pools[i] = p
	}
	applied := make([][]int, starters)
	errs := make([]error, starters)
	var wg sync.WaitGroup
	for i := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = metastore.Migrate(ctx, pools[i], nil)
		}()
	}
	wg.Wait()
	total := 0
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("starter %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if total != len(ms) {
		t.Errorf("%d starters applied %d migrations in all, want %d (each once)", starters, total, len(ms))
	}
	var rows int
	if err := pools[0].QueryRow(ctx, `SELECT count(*) FROM sluice.schema_migrations`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", rows, len(ms))
	}

	// Open on a migrated database applies nothing and succeeds.
	pool, err := metastore.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	again, err := metastore.Migrate(ctx, pool, nil)
	if err != nil || len(again) != 0 {
		t.Errorf("second Migrate applied %v, err %v; want nothing", again, err)
	}
}

func TestOpenNamesUnreachableServer(t *testing.T) {
	_, err := metastore.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", nil)
	if err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	if got := err.Error(); !strings.Contains(got, "127.0.0.1:1") {
		t.Errorf("error %q does not name the server", got)
	}
}

// TestPoolSizeIsExplicit: 16 connections unless the URL says otherwise
// (pgx's default is the CPU count, at least 4).
func TestPoolSizeIsExplicit(t *testing.T) {
	ctx := testenv.Context(t)
	url := testenv.PostgresURL(t)
	pool, err := metastore.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != metastore.DefaultMaxConns {
		t.Errorf("MaxConns %d, want %d", got, metastore.DefaultMaxConns)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	small, err := metastore.Connect(ctx, url+sep+"pool_max_conns=3")
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if got := small.Config().MaxConns; got != 3 {
		t.Errorf("with pool_max_conns=3: MaxConns %d", got)
	}
}
