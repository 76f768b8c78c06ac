package ingest

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ml/sluice/lakehouse"
)

// localCopy makes a source path readable as local files. An s3:// path
// names an object or a prefix (a folder); it is downloaded into a
// temporary folder that cleanup removes. Local paths pass through.
func (l *Loader) localCopy(ctx context.Context, path string) (local string, cleanup func(), err error) {
	if !strings.HasPrefix(path, "s3://") {
		return path, func() {}, nil
	}
	u, err := url.Parse(path)
	if err != nil || u.Host == "" {
		return "", nil, fmt.Errorf("source path %q: want s3://bucket/key", path)
	}
	o := l.S3
	o.URL = "s3://" + u.Host
	store, err := lakehouse.Open(ctx, o)
	if err != nil {
		return "", nil, err
	}
	key := strings.TrimPrefix(u.Path, "/")
	keys, err := store.List(ctx, key)
	if err != nil {
		return "", nil, fmt.Errorf("listing %s: %w", path, err)
	}
	dir, err := os.MkdirTemp("", "sluice-source-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	folder := strings.TrimSuffix(key, "/") + "/"
	n := 0
	for _, k := range keys {
		rel := ""
		switch {
		case k == key:
			rel = filepath.Base(k)
		case strings.HasPrefix(k, folder) || key == "":
			rel = filepath.Join("src", strings.TrimPrefix(k, folder))
		default:
			continue // another object that merely shares the prefix
		}
		if err := download(ctx, store, k, filepath.Join(dir, rel)); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("downloading s3://%s/%s: %w", u.Host, k, err)
		}
		n++
		if k == key {
			return filepath.Join(dir, rel), cleanup, nil
		}
	}
	if n == 0 {
		cleanup()
		return "", nil, fmt.Errorf("%s: no such object or prefix", path)
	}
	return filepath.Join(dir, "src"), cleanup, nil
}

func download(ctx context.Context, store lakehouse.ObjectStore, key, to string) error {
	r, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	f, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
