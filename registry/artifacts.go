package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml/artifact"
)

// ArtifactKey is where version n of a model keeps its artifact in the
// lake.
func ArtifactKey(model string, n int) string {
	return fmt.Sprintf("models/%s/v%d/model.sluice", model, n)
}

// ReadArtifact reads a model artifact from the lake. One that does not
// decode is a permanent bad-input failure: reading it again will not
// help.
func ReadArtifact(ctx context.Context, lake lakehouse.ObjectStore, key string) (*artifact.Artifact, error) {
	r, err := lake.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", key, err)
	}
	defer r.Close()
	art, err := artifact.Decode(r)
	if err != nil {
		return nil, permanent.Errorf(permanent.BadInput, "%s: %v", key, err)
	}
	return art, nil
}

// RegisterArtifact numbers a new version of the model, copies the
// trained artifact at from to the version's ArtifactKey, and records the
// version. A retry of the same run finds the version it registered.
func (r *Registry) RegisterArtifact(ctx context.Context, v Version, lake lakehouse.ObjectStore, from string) (Version, error) {
	return r.RegisterPlaced(ctx, v, func(n int) (string, error) {
		key := ArtifactKey(v.Model, n)
		src, err := lake.Get(ctx, from)
		if err != nil {
			return "", err
		}
		defer src.Close()
		return key, lake.Put(ctx, key, src)
	})
}

// TagName is the Iceberg tag that holds, in every table a version was
// trained from, the snapshot it read: sluice/<model>/v<N>.
func TagName(model string, version int) string {
	return fmt.Sprintf("sluice/%s/v%d", model, version)
}

// TagTrainingData tags, in each table a version read, the snapshot it
// read (TagName), so expiry never takes the data the version was made
// from. Tagging again does nothing. A snapshot already gone (expired
// before the version registered) or a table since dropped cannot be kept
// and is skipped: the version stays registered either way.
func TagTrainingData(ctx context.Context, cat *lakehouse.Catalog, v Version) error {
	for _, name := range slices.Sorted(maps.Keys(v.TrainingSnapshots)) {
		if ok, err := cat.Exists(ctx, name); err != nil || !ok {
			if err != nil {
				return fmt.Errorf("registry: keeping %s v%d's training data: %w", v.Model, v.Version, err)
			}
			continue
		}
		err := cat.Tag(ctx, name, TagName(v.Model, v.Version), v.TrainingSnapshots[name])
		if errors.Is(err, lakehouse.ErrNoSnapshot) {
			continue
		}
		if err != nil {
			return fmt.Errorf("registry: keeping %s v%d's training data: %w", v.Model, v.Version, err)
		}
	}
	return nil
}

// TagAllTrainingData tags the training data of every registered version
// (TagTrainingData): versions registered before tagging existed get their
// data kept too. It returns how many versions it went through.
func (r *Registry) TagAllTrainingData(ctx context.Context, cat *lakehouse.Catalog) (int, error) {
	models, err := r.Models(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range models {
		versions, err := r.Versions(ctx, m.Name)
		if err != nil {
			return n, err
		}
		for _, v := range versions {
			if err := TagTrainingData(ctx, cat, v); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
