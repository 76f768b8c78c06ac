package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-ml/sluice/devstack/postgres"
)

// LocalPostgresURL is the server these machines run; trust auth.
const LocalPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var pg struct {
	once  sync.Once
	url   string // the package's database
	admin string // the server's postgres database
	err   error
}

// PostgresURL returns the URL of a database made for this test package and
// dropped when Main returns. The server is SLUICE_TEST_DATABASE_URL when
// set, else the one on 127.0.0.1:5432 when it answers, else a private
// cluster started from the machine's PostgreSQL binaries.
func PostgresURL(t testing.TB) string {
	t.Helper()
	pg.once.Do(func() { pg.url, pg.err = setupPostgres() })
	if pg.err != nil {
		Unavailable(t, "PostgreSQL: %v", pg.err)
	}
	return pg.url
}

func setupPostgres() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin, err := adminURL(ctx)
	if err != nil {
		return "", err
	}
	pg.admin = admin
	name, err := createDatabase(ctx, admin)
	if err != nil {
		return "", err
	}
	onExit(func() { dropDatabase(admin, name) })
	return withDatabase(admin, name), nil
}

// NewDatabase returns the URL of a fresh database on the same server as
// PostgresURL's, dropped when t ends: for tests whose tables must not meet
// the package's other tests'.
func NewDatabase(t testing.TB) string {
	t.Helper()
	PostgresURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := createDatabase(ctx, pg.admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropDatabase(pg.admin, name) })
	return withDatabase(pg.admin, name)
}

// createDatabase makes a database with a fresh name on the server.
func createDatabase(ctx context.Context, admin string) (string, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", admin, err)
	}
	defer conn.Close(ctx)
	name := databaseName()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return name, nil
}

// dropDatabase drops the database, ending its sessions.
func dropDatabase(admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c, err := pgx.Connect(ctx, admin); err == nil {
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		c.Close(ctx)
	}
}

// PrivatePostgres starts a PostgreSQL cluster of the test's own, from the
// machine's binaries, for tests that stop or restart the server. It is
// stopped when t ends.
func PrivatePostgres(t testing.TB) *postgres.Cluster {
	t.Helper()
	if _, err := postgres.FindBinDir(); err != nil {
		Unavailable(t, "a private PostgreSQL cluster: %v", err)
	}
	dir := ServerDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := postgres.Start(ctx, postgres.Options{Dir: filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "postgres.log")})
	if err != nil {
		t.Fatalf("starting a private PostgreSQL cluster: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func adminURL(ctx context.Context) (string, error) {
	if u := os.Getenv("SLUICE_TEST_DATABASE_URL"); u != "" {
		return u, nil
	}
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if c, err := pgx.Connect(pingCtx, LocalPostgresURL); err == nil {
		c.Close(ctx)
		return LocalPostgresURL, nil
	}
	if _, err := postgres.FindBinDir(); err != nil {
		return "", fmt.Errorf("no SLUICE_TEST_DATABASE_URL, nothing answers on 127.0.0.1:5432, and %w", err)
	}
	dir, err := sharedTempDir("sluice-testpg-")
	if err != nil {
		return "", err
	}
	c, err := postgres.Start(ctx, postgres.Options{Dir: filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "postgres.log")})
	if err != nil {
		return "", fmt.Errorf("starting a private cluster: %w", err)
	}
	onExit(func() { _ = c.Stop() })
	return c.AdminURL(), nil
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// databaseName names the database after the test binary, with a random
// suffix so concurrent runs of one package do not collide.
func databaseName() string {
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	pkg = nonIdent.ReplaceAllString(strings.ToLower(pkg), "_")
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "sluice_test_" + pkg + "_" + hex.EncodeToString(b[:])
	if len(name) > 63 {
		name = name[len(name)-63:]
	}
	return name
}

// withDatabase replaces the database in a postgres:// URL.
func withDatabase(url, db string) string {
	rest, query, _ := strings.Cut(url, "?")
	if i := strings.LastIndex(rest, "/"); i > len("postgres://") {
		rest = rest[:i]
	}
	out := rest + "/" + db
	if query != "" {
		out += "?" + query
	}
	return out
}

// RestartDuring waits until a statement starting with prefix (like "COPY ")
// runs on the cluster, then restarts the cluster: a fault in the middle of
// that statement.
func RestartDuring(ctx context.Context, c *postgres.Cluster, prefix string) error {
	conn, err := pgx.Connect(ctx, c.AdminURL())
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			conn.Close(ctx)
			return fmt.Errorf("no %q statement seen running within a minute", prefix)
		}
		var running bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1)`, prefix+"%").Scan(&running); err != nil {
			conn.Close(ctx)
			return err
		}
		if running {
			break
		}
	}
	conn.Close(ctx)
	return c.Restart(ctx)
}
