package serving

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
)

// input is how one of a model's features is filled: from the instance
// (by its full name or the part after the view's prefix) or from its
// view's online row.
type input struct {
	name, short, view string
	// codes maps a categorical feature's values to their codes; nil for
	// a numeric feature.
	codes map[string]float32
}

// loaded is a model version ready to answer.
type loaded struct {
	model, alias string
	version      int
	art          *artifact.Artifact
	inputs       []input
	// views are the online views the features come from; key is their
	// entity key column ("" when none is online).
	views []string
	key   string
	// allowMissing answers instances with features nothing supplies (as
	// missing values, which GBDT routes); otherwise they are 400s.
	allowMissing bool
}

func newLoaded(ctx context.Context, v registry.Version, alias string, art *artifact.Artifact, features FeatureReader) (*loaded, error) {
	l := &loaded{model: v.Model, alias: alias, version: v.Version, art: art}
	for _, f := range art.Features {
		in := input{name: f.Name, short: f.Name}
		if view, col, ok := strings.Cut(f.Name, "__"); ok {
			// The view is in the model's project.
			view = naming.Qualify(naming.Project(v.Model), view)
			in.view, in.short = view, col
			if !slices.Contains(l.views, view) {
				l.views = append(l.views, view)
			}
		}
		if f.Kind == "categorical" {
			in.codes = make(map[string]float32, len(f.Categories))
			for i, c := range f.Categories {
				in.codes[c] = float32(i)
			}
		}
		l.inputs = append(l.inputs, in)
	}
	if features != nil {
		for _, view := range l.views {
			key, err := features.KeyColumn(ctx, view)
			if errors.Is(err, online.ErrNoView) {
				continue // its features must come in the instances
			}
			if err != nil {
				return nil, err
			}
			if l.key != "" && key != l.key {
				return nil, fmt.Errorf("%s v%d: its online views key on %s and %s", v.Model, v.Version, l.key, key)
			}
			l.key = key
		}
	}
	return l, nil
}

// value turns a JSON or online value into the feature's float: numbers
// and booleans for numeric features, strings for categorical ones (an
// unseen category reads as missing); null is missing.
func (in input) value(v any) (float32, error) {
	nan := float32(math.NaN())
	switch x := v.(type) {
	case nil:
		return nan, nil
	case string:
		if in.codes == nil {
			return 0, fmt.Errorf("feature %s is numeric; got the string %q", in.name, x)
		}
		if c, ok := in.codes[x]; ok {
			return c, nil
		}
		return nan, nil
	}
	if in.codes != nil {
		return 0, fmt.Errorf("feature %s is categorical; want a string, got %v", in.name, v)
	}
	switch x := v.(type) {
	case float64:
		f := float32(x)
		if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
			return 0, fmt.Errorf("feature %s: %v is outside the float32 range a model reads", in.name, x)
		}
		return f, nil
	case float32:
		return x, nil
	case int64:
		return float32(x), nil
	case int32:
		return float32(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("feature %s: cannot read %T", in.name, v)
}
