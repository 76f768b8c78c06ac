package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
)

// devEnvFile is the file, in the dev stack's folder, where `sluice dev`
// writes how to reach it. Client commands read it when neither a flag nor
// the environment sets a value, so they find the running stack from the
// project folder without flags.
const devEnvFile = "env"

// devEnvSkip lists the commands that never read the dev stack's settings:
// the ones that start a stack of their own, and the production processes
// and migrations, whose settings must be their own.
var devEnvSkip = map[string]bool{"dev": true, "demo": true, "migrate": true, "worker": true, "serve": true, "api": true}

// devEnvKeys are the settings `sluice dev` writes, the only ones read
// back: a planted file cannot set anything else.
var devEnvKeys = []string{"SLUICE_DATABASE_URL", "SLUICE_LAKE", "SLUICE_S3_ENDPOINT", "SLUICE_S3_PATH_STYLE", "SLUICE_TEMPORAL_ADDRESS",
	"SLUICE_TEMPORAL_NAMESPACE", "SLUICE_TEMPORAL_UI", "SLUICE_API_URL", "SLUICE_SERVE_URL", "SLUICE_API_TOKEN_FILE"}

// writeDevEnv writes the stack's connection settings to <dir>/env, mode
// 0600: URLs, addresses and the path of the API token, never a secret's
// value. The database URL's password, when the user gave one, is left
// out: the file then names SLUICE_DATABASE_URL without it and the user's
// own environment supplies it.
func writeDevEnv(dir string, settings map[string]string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("writing the dev settings: %w", err)
	}
	path := filepath.Join(abs, devEnvFile)
	keys := make([]string, 0, len(settings))
	for k, v := range settings {
		if v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# Written by `sluice dev`: how the sluice CLI reaches this stack. Commands read\n")
	b.WriteString("# it when no flag or environment variable sets a value. It holds no secret.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, settings[k])
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("writing the dev settings: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("writing the dev settings: %w", err)
	}
	return path, nil
}

var devEnv struct {
	once   sync.Once
	values map[string]string
	path   string
}

// devEnvPaths are where the dev stack's settings are looked for, in
// order: ./.sluice/env, then $SLUICE_DEV_DIR/env.
func devEnvPaths() []string {
	paths := []string{filepath.Join(".sluice", devEnvFile)}
	if d := os.Getenv("SLUICE_DEV_DIR"); d != "" {
		paths = append(paths, filepath.Join(d, devEnvFile))
	}
	return paths
}

// devSetting is a value from the dev stack's settings file, the first of
// devEnvPaths that exists. A file another user owns, or others can read or
// write (a file checked out of a repository, say), is ignored: its settings would choose where this user's commands send
// data. So is every file when the environment names a stack itself
// (SLUICE_DATABASE_URL, SLUICE_LAKE or SLUICE_TEMPORAL_ADDRESS): settings
// of two stacks never mix.
func devSetting(key string) (string, bool) {
	devEnv.once.Do(func() {
		devEnv.values = map[string]string{}
		for _, k := range []string{"SLUICE_DATABASE_URL", "SLUICE_LAKE", "SLUICE_TEMPORAL_ADDRESS"} {
			if _, ok := os.LookupEnv(k); ok {
				return
			}
		}
		for _, p := range devEnvPaths() {
			values, err := readDevEnv(p)
			if err == nil {
				devEnv.values, devEnv.path = values, p
				return
			}
		}
	})
	v, ok := devEnv.values[key]
	return v, ok
}

// readDevEnv parses KEY=VALUE lines; # starts a comment.
func readDevEnv(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	// sluice dev writes it 0600; a file checked out of a repository
	// (0644) was not written by this user's stack.
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable or writable by others", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("%s belongs to another user", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	values := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && slices.Contains(devEnvKeys, k) {
			values[k] = v
		}
	}
	return values, sc.Err()
}

// removeDevEnv removes the settings file when the stack stops, so no
// command reaches for a stack that is gone.
func removeDevEnv(path string) {
	if path != "" {
		os.Remove(path)
	}
}
