package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FingerprintSummary is the snapshot summary key holding the SHA-256 of
// the source files a file ingest read. An ingest whose files hash the
// same as the table's current snapshot's lands nothing: re-running a
// pipeline on unchanged files does not append their rows again.
const FingerprintSummary = "sluice.source-sha256"

// fingerprint hashes a source file, or every visible file under a folder
// in name order (each name with its content), as the readers see them.
func fingerprint(path string) (string, error) {
	h := sha256.New()
	add := func(p, name string) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", name)
		_, err = io.Copy(h, f)
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("fingerprinting %s: %w", path, err)
	}
	if !fi.IsDir() {
		if err := add(path, filepath.Base(path)); err != nil {
			return "", fmt.Errorf("fingerprinting %s: %w", path, err)
		}
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	// WalkDir visits in lexical order.
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != path && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(path, p)
			return add(p, rel)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("fingerprinting %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
