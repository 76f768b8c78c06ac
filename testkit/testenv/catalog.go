package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// CatalogHold is a lock on one table's row in the Iceberg catalog: a
// commit to the table writes its files and metadata and then waits on it,
// so a test can fail something in the middle of the commit.
type CatalogHold struct {
	t    testing.TB
	conn *pgx.Conn
	tx   pgx.Tx
}

// HoldCatalogRow locks the catalog's row of ns.table until Release.
func HoldCatalogRow(t testing.TB, dbURL, catalog, ns, table string) *CatalogHold {
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
	return &CatalogHold{t: t, conn: conn, tx: tx}
}

// WaitBlocked waits until a commit waits on the hold.
func (h *CatalogHold) WaitBlocked() {
	h.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, h.conn.Config().ConnString())
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	holder := h.conn.PgConn().PID()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var waiting bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1::int = ANY (pg_blocking_pids(pid)))`, holder).Scan(&waiting); err != nil {
			h.t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("no commit reached the catalog within a minute")
		}
	}
}

// Release lets the waiting commit go on.
func (h *CatalogHold) Release() {
	h.t.Helper()
	if err := h.tx.Rollback(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}
