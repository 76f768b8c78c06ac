// Package lakehouse is Sluice's data lake: object storage on a local folder or
// an S3-compatible bucket, and (later) the Iceberg tables kept in it.
package lakehouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// ErrNotFound reports a missing object.
var ErrNotFound = errors.New("lakehouse: object not found")

// ObjectStore stores immutable objects by key. Keys use "/" separators and
// never begin with one. Writes are atomic: a reader sees a whole object or
// none, so a retried writer can simply write again.
type ObjectStore interface {
	// Put writes the object at key, replacing any earlier one.
	Put(ctx context.Context, key string, r io.Reader) error
	// Get opens the object at key; a missing key gives ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the keys that start with prefix, in lexical order.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the object at key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// URL is the store's location, for messages and for other tools.
	URL() string
}

// Options locates the lake.
type Options struct {
	// URL is file:///abs/path or s3://bucket/prefix.
	URL string
	// S3Endpoint overrides the S3 endpoint, for MinIO and other
	// S3-compatible servers.
	S3Endpoint string
	// S3PathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, as most S3-compatible servers need.
	S3PathStyle bool
	// S3Region defaults to us-east-1 when the AWS chain names none.
	S3Region string
}

// Validate reports a malformed location.
func (o Options) Validate() error {
	_, err := parseURL(o.URL)
	return err
}

func parseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("lake URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("lake URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("lake URL %q: a file:// URL needs an absolute path, like file:///var/lib/sluice/lake", raw)
		}
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("lake URL %q: an s3:// URL needs a bucket, like s3://bucket/prefix", raw)
		}
	default:
		return nil, fmt.Errorf("lake URL %q: scheme must be file:// or s3://", raw)
	}
	return u, nil
}

// Open returns the object store at o.URL.
func Open(ctx context.Context, o Options) (ObjectStore, error) {
	u, err := parseURL(o.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "file" {
		return NewFileStore(u.Path)
	}
	return NewS3Store(ctx, u.Host, strings.Trim(u.Path, "/"), o)
}

func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("lakehouse: invalid object key %q", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("lakehouse: invalid object key %q", key)
		}
	}
	return nil
}
