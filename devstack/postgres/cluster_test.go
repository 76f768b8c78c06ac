package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-ml/sluice/devstack/postgres"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// clusterProcesses lists the pids whose command line names dir.
func clusterProcesses(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var pids []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), dir) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestClusterStartsStopsAndKeepsData(t *testing.T) {
	if _, err := postgres.FindBinDir(); err != nil {
		testenv.Unavailable(t, "%v", err)
	}
	dir := filepath.Join(testenv.ServerDir(t), "pg")
	ctx := context.Background()

	c, err := postgres.Start(ctx, postgres.Options{Dir: dir, Database: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if pids := clusterProcesses(t, dir); len(pids) > 0 {
		t.Fatalf("processes of the cluster outlived Stop: %v", pids)
	}

	c, err = postgres.Start(ctx, postgres.Options{Dir: dir, Database: "keep"})
	if err != nil {
		t.Fatalf("restarting: %v", err)
	}
	defer c.Stop()
	conn, err = pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restart read %d, %v; want 42", v, err)
	}
}

func TestStartRefusesUnreachableDirForServerUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to another user")
	}
	if _, err := postgres.FindBinDir(); err != nil {
		testenv.Unavailable(t, "%v", err)
	}
	locked := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Start(context.Background(), postgres.Options{Dir: filepath.Join(locked, "pg")})
	if err == nil || !strings.Contains(err.Error(), "chmod o+x "+locked) {
		t.Fatalf("got %v, want an error that says how to open %s", err, locked)
	}
}
