package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/registry"
)

// modelState is one model's routing and its loaded aliases.
type modelState struct {
	// name is the model's full name (project.model): what logs, metrics
	// and the prediction log record, whichever name the request used.
	name    string
	routing Routing
	byAlias map[string]*loaded
	// failure is the last load error per alias, for the status.
	failure map[string]string
	// fields are the request fields its variants read (readsOf), made
	// once per state.
	fieldsOnce sync.Once
	fields     reads
}

// reads is the fields of a request its variants read.
func (st *modelState) reads() reads {
	st.fieldsOnce.Do(func() { st.fields = readsOf(st) })
	return st.fields
}

// Models holds the served models and swaps versions as the registry
// moves aliases: the new version loads in the background and replaces the
// old one atomically; requests already holding the old one finish on it.
type Models struct {
	Registry ModelRegistry
	Lake     ArtifactStore
	// Features reads the online store; nil serves only instance values.
	Features FeatureReader
	// Routing per model; models without one get DefaultRouting.
	Routing map[string]Routing
	// Poll is how often the registry is read in case a notification was
	// missed; 0 means 30 seconds.
	Poll   time.Duration
	Logger *slog.Logger
	// OnSwap and OnLoadFailure count swaps and failed loads (metrics).
	OnSwap, OnLoadFailure func(model string)
	// AllowMissing says whether a model answers instances whose features
	// neither the instance nor the online store supply (the spec's
	// models.<m>.serving.allow_missing), asked when a version loads; nil
	// means no model does, and such an instance is a 400.
	AllowMissing func(ctx context.Context, model string) bool

	state atomic.Pointer[map[string]*modelState]
	// bare maps a model's name without its project to the qualified name
	// when only one project serves a model of that name.
	bare    atomic.Pointer[map[string]string]
	writeMu sync.Mutex
	ready   atomic.Bool
}

// get returns a model's state; nil when it is not served.
func (m *Models) get(model string) *modelState {
	st := m.state.Load()
	if st == nil {
		return nil
	}
	if ms := (*st)[model]; ms != nil || strings.IndexByte(model, '.') >= 0 {
		return ms
	}
	if b := m.bare.Load(); b != nil {
		if q, ok := (*b)[model]; ok {
			return (*st)[q]
		}
	}
	return nil
}

// storeState publishes the next state with its index of bare names.
func (m *Models) storeState(next map[string]*modelState) {
	count, bare := map[string]int{}, map[string]string{}
	for q := range next {
		if p, name := naming.Split(q); p != "" {
			count[name]++
			bare[name] = q
		}
	}
	for name, n := range count {
		if n > 1 || next[name] != nil {
			delete(bare, name)
		}
	}
	m.bare.Store(&bare)
	m.state.Store(&next)
}

// Ready says the first sync finished.
func (m *Models) Ready() bool { return m.ready.Load() }

func (m *Models) routingOf(model string) Routing {
	if r, ok := m.Routing[model]; ok {
		return r
	}
	if r, ok := m.Routing[naming.Base(model)]; ok {
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
	st := &modelState{name: model, routing: r, byAlias: map[string]*loaded{}, failure: map[string]string{}}
	if old != nil {
		for k, v := range old.byAlias {
			st.byAlias[k] = v
		}
		for k, v := range old.failure {
			st.failure[k] = v
		}
	}
	if err != nil {
		// The status says that it failed, not why: the reason can carry
		// database errors and lake keys, so it goes to the log only.
		st.failure[alias] = fmt.Sprintf("v%d failed to load; the server's log has the reason", version)
		next[model] = st
		m.storeState(next)
		m.log().Error("serving: loading a model failed; keeping the version served", "model", model, "alias", alias, "version", version, "error", err)
		if m.OnLoadFailure != nil {
			m.OnLoadFailure(model)
		}
		return err
	}
	delete(st.failure, alias)
	st.byAlias[alias] = l
	next[model] = st
	m.storeState(next)
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
	l, err := newLoaded(ctx, v, alias, art, m.Features)
	if err == nil && m.AllowMissing != nil {
		l.allowMissing = m.AllowMissing(ctx, model)
	}
	return l, err
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
