package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// HoldCatalogRow locks the Iceberg catalog's row of ns.table, so that a
// commit to the table writes its files and metadata and then waits on the
// lock: a test can fail something in the middle of the commit, then call
// release to let it go on.
func HoldCatalogRow(t testing.TB, dbURL, catalog, ns, table string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := tx.Exec(ctx, `SELECT 1 FROM iceberg_tables WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 FOR UPDATE`, catalog, ns, table)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("locking the catalog row of %s.%s: %v (%d rows)", ns, table, err, tag.RowsAffected())
	}
	return func() {
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// WaitForBlockedCommit waits until a catalog update waits on a lock (see
// HoldCatalogRow).
func WaitForBlockedCommit(t testing.TB, dbURL string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var waiting bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE "iceberg_tables"%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no commit reached the catalog within a minute")
		}
	}
}
