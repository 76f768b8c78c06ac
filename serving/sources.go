package serving

import (
	"context"
	"io"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
)

// What the server reads and writes, declared here where it is used so a
// test can hand the server fakes.

// ModelRegistry is where served models' aliases and versions come from,
// and the notification of an alias move.
type ModelRegistry interface {
	Models(ctx context.Context) ([]registry.Model, error)
	Get(ctx context.Context, model string, version int) (registry.Version, error)
	// Watch calls f for every alias move until ctx ends or the
	// notifications stop, which done then says.
	Watch(ctx context.Context, f func(registry.AliasMove)) (done <-chan error, err error)
}

// ArtifactStore reads model artifacts by key.
type ArtifactStore interface {
	Get(ctx context.Context, key string) (io.ReadCloser, error)
}

// FeatureReader reads the online store's rows of a view by entity key.
type FeatureReader interface {
	Get(ctx context.Context, view string, keys []string) ([]online.Row, error)
	// KeyColumn is a view's entity key column; online.ErrNoView when the
	// store has no such view.
	KeyColumn(ctx context.Context, view string) (string, error)
	CacheStats() (hits, misses uint64)
}

// PredictionRecorder keeps the predictions served, off the request path.
type PredictionRecorder interface {
	Add(LogEntry)
	Dropped() uint64
	Written() uint64
}

var (
	_ ModelRegistry      = (*registry.Registry)(nil)
	_ ArtifactStore      = (lakehouse.ObjectStore)(nil)
	_ FeatureReader      = (*online.Reader)(nil)
	_ PredictionRecorder = (*PredictionLog)(nil)
)
