package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDevEnvReadsOnlyWhatDevWrites: the settings file is read back only
// when this user's stack could have written it (mode 0600), and only the
// keys sluice dev writes.
func TestDevEnvReadsOnlyWhatDevWrites(t *testing.T) {
	dir := t.TempDir()
	path, err := writeDevEnv(dir, map[string]string{"SLUICE_LAKE": "file:///lake", "SLUICE_API_TOKEN_FILE": "/t"})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("written with mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	planted := []byte("SLUICE_API=http://evil\nSLUICE_LAKE=file:///lake\n")
	if err := os.WriteFile(path, planted, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := readDevEnv(path)
	if err != nil || v["SLUICE_LAKE"] != "file:///lake" || v["SLUICE_API"] != "" {
		t.Errorf("read %v, %v: want SLUICE_LAKE only", v, err)
	}
	checkedOut := filepath.Join(dir, "checked-out")
	if err := os.WriteFile(checkedOut, planted, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readDevEnv(checkedOut); err == nil {
		t.Error("a 0644 settings file (as a repository checks one out) was trusted")
	}
}

// TestConnectionFlagsDoNotMixStacks: a database URL on the command line
// with the lake from the dev stack's settings is refused.
func TestConnectionFlagsDoNotMixStacks(t *testing.T) {
	f := newFlagSet("lake tables", os.Stderr)
	f.fromDevEnv = map[string]bool{"lake": true}
	cfg := defaultConfig()
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "")
	f.StringVar(&cfg.Lake.URL, "lake", "file:///from-dev", "")
	if err := f.parse([]string{"--database-url", "postgres://prod/db"}, false); err == nil {
		t.Error("a database URL from the command line mixed with the dev stack's lake")
	}
	g := newFlagSet("lake tables", os.Stderr)
	g.fromDevEnv = map[string]bool{"lake": true, "database-url": true}
	g.StringVar(&cfg.DatabaseURL, "database-url", "", "")
	g.StringVar(&cfg.Lake.URL, "lake", "", "")
	if err := g.parse(nil, false); err != nil {
		t.Errorf("all from the dev stack: %v", err)
	}
}
