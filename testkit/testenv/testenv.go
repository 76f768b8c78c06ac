// Package testenv gives tests real servers: a fresh PostgreSQL database per
// test package, a lake folder, and an S3 bucket on a versitygw server on
// loopback. A server that cannot be had skips the test with the reason, and
// fails it instead when CI=true, so CI never passes by skipping.
//
// A package that uses the harness calls Main from its TestMain, so that the
// database is dropped and the servers stopped when its tests end.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-ml/sluice/lakehouse"
)

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// onExit registers f to run when Main returns, most recent first.
func onExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// Main runs the package's tests, then drops what the harness created.
func Main(m *testing.M) {
	code := m.Run()
	cleanupMu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanupMu.Unlock()
	os.Exit(code)
}

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// Unavailable skips t because a server cannot be had, or fails it in CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("%s (CI=true: a missing server is a failure, not a skip)", msg)
	}
	t.Skip(msg)
}

// Lake returns an object store in a fresh temporary folder.
func Lake(t testing.TB) *lakehouse.FileStore {
	t.Helper()
	s, err := lakehouse.NewFileStore(filepath.Join(t.TempDir(), "lake"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Context returns a context that ends with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// moduleRoot finds the folder holding go.mod, for the pinned tools in bin/.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// sharedTempDir makes a folder that other users (the unprivileged server
// users) can enter, removed when Main returns.
func sharedTempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	onExit(func() { os.RemoveAll(dir) })
	return dir, nil
}

// ServerDir returns a fresh temporary folder that unprivileged server users
// (PostgreSQL runs as `postgres` when tests run as root) can enter.
func ServerDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for p := dir; strings.HasPrefix(p, os.TempDir()+string(filepath.Separator)); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
