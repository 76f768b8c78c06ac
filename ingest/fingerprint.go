package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ml/sluice/sources"
)

// FingerprintSummary is the snapshot summary key holding the fingerprint
// of the source files a file ingest read. An ingest whose files have the
// fingerprint of the table's current snapshot lands nothing: re-running a
// pipeline on unchanged files does not append their rows again.
const FingerprintSummary = "sluice.source-fingerprint"

// fingerprint is a SHA-256 over a source file, or every visible file under
// a folder in name order, as the readers see them: each file's name with,
// for local files, its size and modification time (as make and rsync
// judge a file unchanged: hashing the content would add a tenth to a CSV
// ingest), or with its content for a copy just downloaded (whose times
// are new every time).
//
// The read's options (format, key, event time, declared types, delimiter)
// are hashed too: the same files read another way land other rows.
//
// source names the files: the absolute path of local ones, the s3:// URL
// of a downloaded copy (whose local path is new every time).
func fingerprint(path, source string, content bool, format string, o sources.Options) (string, error) {
	h := sha256.New()
	abs := source
	if !content {
		var err error
		if abs, err = filepath.Abs(path); err != nil {
			return "", fmt.Errorf("fingerprinting %s: %w", path, err)
		}
	}
	types := map[string]string{}
	for k, t := range o.Types {
		types[k] = t.String()
	}
	opts, _ := json.Marshal(struct {
		Format, Key, Timestamp string
		Types                  map[string]string
		Delimiter              rune
	}{format, o.Key, o.Timestamp, types, o.Delimiter})
	fmt.Fprintf(h, "%s\x00%s\x00", abs, opts)
	add := func(p, name string) error {
		if !content {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00", name, fi.Size(), fi.ModTime().UnixNano())
			return nil
		}
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
