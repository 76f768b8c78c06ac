package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestMigrate runs the deploy hook's command on an empty database: every
// migration once, then nothing.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	dbURL := emptyDatabase(t, testenv.PostgresURL(t))
	ms, err := metastore.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := runMigrate(ctx, []string{"--database-url", dbURL, "--log-level", "warn"}, &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	want := make([]string, len(ms))
	for i, m := range ms {
		want[i] = fmt.Sprintf("%04d", m.Version)
	}
	if got, w := out.String(), "metastore: applied "+strings.Join(want, ", ")+"\n"; got != w {
		t.Errorf("first run printed %q, want %q", got, w)
	}
	out.Reset()
	if err := runMigrate(ctx, []string{"--database-url", dbURL}, &out, &errOut); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if got := out.String(); got != "metastore: up to date\n" {
		t.Errorf("second run printed %q", got)
	}
	t.Setenv("SLUICE_DATABASE_URL", "")
	err = runMigrate(ctx, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "SLUICE_DATABASE_URL") {
		t.Errorf("no database URL: %v", err)
	}
}

// emptyDatabase creates a database beside the package's one, dropped when
// the test ends, and returns its URL.
func emptyDatabase(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := cfg.Database + "_empty"
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	})
	return strings.Replace(base, "/"+cfg.Database, "/"+name, 1)
}
