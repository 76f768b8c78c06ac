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

	"github.com/sluice-ml/sluice/pgcluster"
)

// LocalPostgresURL is the server these machines run; trust auth.
const LocalPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var pg struct {
	once sync.Once
	url  string // the package's database
	err  error
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
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", admin, err)
	}
	defer conn.Close(ctx)
	name := databaseName()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	onExit(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return withDatabase(admin, name), nil
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
	if _, err := pgcluster.FindBinDir(); err != nil {
		return "", fmt.Errorf("no SLUICE_TEST_DATABASE_URL, nothing answers on 127.0.0.1:5432, and %w", err)
	}
	dir, err := sharedTempDir("sluice-testpg-")
	if err != nil {
		return "", err
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "postgres.log")})
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
