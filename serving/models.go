package serving

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
)

// Variant is an alias of a model and its share of the traffic.
type Variant struct {
	Alias  string
	Weight int
}

// Routing splits a model's traffic between aliases, sticky per entity,
// and names an alias to score in the shadow of each request.
type Routing struct {
	Variants []Variant
	// Shadow is scored off the request path and logged, never answered.
	Shadow string
}

// DefaultRouting sends everything to the champion.
func DefaultRouting() Routing { return Routing{Variants: []Variant{{Alias: "champion", Weight: 100}}} }

// ParseRouting reads "champion=90,challenger=10".
func ParseRouting(s string) (Routing, error) {
	var r Routing
	for _, part := range strings.Split(s, ",") {
		alias, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 || alias == "" {
			return r, fmt.Errorf("routing %q: want alias=weight pairs, like champion=90,challenger=10", s)
		}
		r.Variants = append(r.Variants, Variant{Alias: alias, Weight: n})
	}
	if r.total() == 0 {
		return r, fmt.Errorf("routing %q: the weights add up to 0", s)
	}
	return r, nil
}

func (r Routing) total() int {
	t := 0
	for _, v := range r.Variants {
		t += v.Weight
	}
	return t
}

// aliases lists the aliases the routing serves, the shadow's included.
func (r Routing) aliases() []string {
	var out []string
	for _, v := range r.Variants {
		out = append(out, v.Alias)
	}
	if r.Shadow != "" && !slices.Contains(out, r.Shadow) {
		out = append(out, r.Shadow)
	}
	return out
}

var routeSeed = maphash.MakeSeed()

// pick chooses the variant of an entity: a hash of its key against the
// weights, so an entity always gets the same variant. An empty key picks
// by the fallback value.
func (r Routing) pick(key string, fallback uint64) string {
	if len(r.Variants) == 1 {
		return r.Variants[0].Alias
	}
	h := fallback
	if key != "" {
		h = maphash.String(routeSeed, key)
	}
	n := int(h % uint64(r.total()))
	for _, v := range r.Variants {
		if n < v.Weight {
			return v.Alias
		}
		n -= v.Weight
	}
	return r.Variants[len(r.Variants)-1].Alias
}

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
}

func newLoaded(ctx context.Context, v registry.Version, alias string, art *artifact.Artifact, features *online.Reader) (*loaded, error) {
	l := &loaded{model: v.Model, alias: alias, version: v.Version, art: art}
	for _, f := range art.Features {
		in := input{name: f.Name, short: f.Name}
		if view, col, ok := strings.Cut(f.Name, "__"); ok {
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
		return float32(x), nil
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

// modelState is one model's routing and its loaded aliases.
type modelState struct {
	routing Routing
	byAlias map[string]*loaded
	// failure is the last load error per alias, for the status.
	failure map[string]string
}

// Models holds the served models and swaps versions as the registry
// moves aliases: the new version loads in the background and replaces the
// old one atomically; requests already holding the old one finish on it.
type Models struct {
	Registry *registry.Registry
	Lake     lakehouse.ObjectStore
	// Features reads the online store; nil serves only instance values.
	Features *online.Reader
	// Routing per model; models without one get DefaultRouting.
	Routing map[string]Routing
	// Poll is how often the registry is read in case a notification was
	// missed; 0 means 30 seconds.
	Poll   time.Duration
	Logger *slog.Logger
	// OnSwap and OnLoadFailure count swaps and failed loads (metrics).
	OnSwap, OnLoadFailure func(model string)

	state   atomic.Pointer[map[string]*modelState]
	writeMu sync.Mutex
	ready   atomic.Bool
}

// get returns a model's state; nil when it is not served.
func (m *Models) get(model string) *modelState {
	st := m.state.Load()
	if st == nil {
		return nil
	}
	return (*st)[model]
}

// Ready says the first sync finished.
func (m *Models) Ready() bool { return m.ready.Load() }

func (m *Models) routingOf(model string) Routing {
	if r, ok := m.Routing[model]; ok {
		return r
	}
	return DefaultRouting()
}

// Sync reads every model's aliases from the registry and loads the
// served ones whose version changed.
func (m *Models) Sync(ctx context.Context) error {
	models, err := m.Registry.Models(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, rm := range models {
		r := m.routingOf(rm.Name)
		for _, alias := range r.aliases() {
			version, ok := rm.Aliases[alias]
			if !ok {
				continue
			}
			if cur := m.get(rm.Name); cur != nil && cur.byAlias[alias] != nil && cur.byAlias[alias].version == version {
				continue
			}
			if err := m.load(ctx, rm.Name, alias, version, r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	m.ready.Store(true)
	return errors.Join(errs...)
}

// load reads a version's artifact and swaps it in for the alias; on
// failure the alias keeps the version it had.
func (m *Models) load(ctx context.Context, model, alias string, version int, r Routing) error {
	l, err := m.read(ctx, model, alias, version)
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	next := map[string]*modelState{}
	if cur := m.state.Load(); cur != nil {
		for k, v := range *cur {
			next[k] = v
		}
	}
	old := next[model]
	st := &modelState{routing: r, byAlias: map[string]*loaded{}, failure: map[string]string{}}
	if old != nil {
		for k, v := range old.byAlias {
			st.byAlias[k] = v
		}
		for k, v := range old.failure {
			st.failure[k] = v
		}
	}
	if err != nil {
		st.failure[alias] = err.Error()
		next[model] = st
		m.state.Store(&next)
		m.log().Error("serving: loading a model failed; keeping the version served", "model", model, "alias", alias, "version", version, "error", err)
		if m.OnLoadFailure != nil {
			m.OnLoadFailure(model)
		}
		return err
	}
	delete(st.failure, alias)
	st.byAlias[alias] = l
	next[model] = st
	m.state.Store(&next)
	m.log().Info("serving: model swapped in", "model", model, "alias", alias, "version", version)
	if m.OnSwap != nil {
		m.OnSwap(model)
	}
	return nil
}

func (m *Models) read(ctx context.Context, model, alias string, version int) (*loaded, error) {
	v, err := m.Registry.Get(ctx, model, version)
	if err != nil {
		return nil, err
	}
	rc, err := m.Lake.Get(ctx, v.ArtifactKey)
	if err != nil {
		return nil, fmt.Errorf("%s v%d: reading %s: %w", model, version, v.ArtifactKey, err)
	}
	art, err := artifact.Decode(rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("%s v%d: %w", model, version, err)
	}
	return newLoaded(ctx, v, alias, art, m.Features)
}

func (m *Models) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// Run syncs at start, then on every alias move the registry notifies
// and every Poll, until ctx ends. A dropped LISTEN connection is
// reconnected; the poll covers what it missed.
func (m *Models) Run(ctx context.Context) {
	poll := m.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	kick := make(chan struct{}, 1)
	notify := func(registry.AliasMove) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if err := m.Sync(ctx); err != nil {
		m.log().Error("serving: loading models", "error", err)
	}
	go func() {
		for backoff := time.Second; ctx.Err() == nil; {
			done, err := m.Registry.Watch(ctx, notify)
			if err == nil {
				notify(registry.AliasMove{}) // catch up on what moved while not listening
				err = <-done
				backoff = time.Second
			}
			if ctx.Err() != nil {
				return
			}
			m.log().Warn("serving: the registry's LISTEN connection dropped; reconnecting", "error", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
	}()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			m.log().Error("serving: syncing models", "error", err)
		}
	}
}

// ParseRoutes reads per-model routings, "churn:champion=90,challenger=10;
// fraud:champion=100", and shadows, "churn:challenger".
func ParseRoutes(routes, shadows string) (map[string]Routing, error) {
	out := map[string]Routing{}
	for _, part := range strings.Split(routes, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		model, spec, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || model == "" {
			return nil, fmt.Errorf("route %q: want model:alias=weight,alias=weight", part)
		}
		r, err := ParseRouting(spec)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", model, err)
		}
		out[model] = r
	}
	for _, part := range strings.Split(shadows, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		model, alias, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || model == "" || alias == "" {
			return nil, fmt.Errorf("shadow %q: want model:alias", part)
		}
		r, ok := out[model]
		if !ok {
			r = DefaultRouting()
		}
		r.Shadow = alias
		out[model] = r
	}
	return out, nil
}
