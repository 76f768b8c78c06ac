package serving_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/serving"
)

// In-memory fakes of what the server reads and writes, for tests that
// need no database.

type fakeRegistry struct {
	// name is the one model's full name.
	name     string
	mu       sync.Mutex
	versions map[int]registry.Version
	aliases  map[string]int
	moved    chan registry.AliasMove
}

func (r *fakeRegistry) Models(context.Context) ([]registry.Model, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	aliases := map[string]int{}
	for a, v := range r.aliases {
		aliases[a] = v
	}
	return []registry.Model{{Name: r.name, Versions: len(r.versions), Aliases: aliases}}, nil
}

func (r *fakeRegistry) Get(_ context.Context, model string, version int) (registry.Version, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.versions[version]
	if !ok || model != r.name {
		return v, fmt.Errorf("%w: %s version %d", registry.ErrNotFound, model, version)
	}
	return v, nil
}

func (r *fakeRegistry) Watch(ctx context.Context, f func(registry.AliasMove)) (<-chan error, error) {
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				done <- ctx.Err()
				return
			case m := <-r.moved:
				f(m)
			}
		}
	}()
	return done, nil
}

// move points an alias at a version and notifies, as SetAlias does.
func (r *fakeRegistry) move(alias string, version int) {
	r.mu.Lock()
	from := r.aliases[alias]
	r.aliases[alias] = version
	r.mu.Unlock()
	r.moved <- registry.AliasMove{Model: r.name, Alias: alias, From: from, To: version}
}

type fakeLake map[string][]byte

func (l fakeLake) Get(_ context.Context, key string) (io.ReadCloser, error) {
	b, ok := l[key]
	if !ok {
		return nil, fmt.Errorf("no object %s", key)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

type fakeFeatures struct {
	key  string
	rows map[string]online.Row // by entity key
}

func (f *fakeFeatures) Get(_ context.Context, view string, keys []string) ([]online.Row, error) {
	out := make([]online.Row, len(keys))
	for i, k := range keys {
		out[i] = f.rows[k]
	}
	return out, nil
}

func (f *fakeFeatures) KeyColumn(_ context.Context, view string) (string, error) { return f.key, nil }

func (f *fakeFeatures) CacheStats() (uint64, uint64) { return 0, 0 }

type fakeLog struct {
	mu      sync.Mutex
	entries []serving.LogEntry
}

func (l *fakeLog) Add(e serving.LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
}

func (l *fakeLog) Dropped() uint64 { return 0 }

func (l *fakeLog) Written() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.entries))
}

// fakeServed is a server on fakes: model churn, v1 the champion, v2
// registered, over an online view whose row for C1 is known.
type fakeServed struct {
	url    string
	reg    *fakeRegistry
	log    *fakeLog
	models *serving.Models
	arts   map[int]*artifact.Artifact
}

func newFakeServed(t *testing.T) *fakeServed {
	t.Helper()
	return newFakeServedAs(t, "churn")
}

// newFakeServedAs is newFakeServed with the model under another name,
// such as one with its project.
func newFakeServedAs(t *testing.T, name string) *fakeServed {
	t.Helper()
	const view = "spend"
	f := &fakeServed{reg: &fakeRegistry{name: name, versions: map[int]registry.Version{}, aliases: map[string]int{"champion": 1}, moved: make(chan registry.AliasMove)},
		log: &fakeLog{}, arts: map[int]*artifact.Artifact{}}
	lake := fakeLake{}
	for v := 1; v <= 2; v++ {
		f.arts[v] = trainModel(t, view, uint64(v))
		var buf bytes.Buffer
		if err := artifact.Encode(&buf, f.arts[v]); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("models/churn/v%d/model.sluice", v)
		lake[key] = buf.Bytes()
		f.reg.versions[v] = registry.Version{Model: name, Version: v, ArtifactKey: key}
	}
	feats := &fakeFeatures{key: "customer_id", rows: map[string]online.Row{
		"C1": {view + "__amount_sum_7d": 12.5, view + "__plan": "pro"},
	}}
	f.models = &serving.Models{Registry: f.reg, Lake: lake, Features: feats, Poll: time.Hour}
	srv := serving.New(serving.Options{}, nil).WithOnline(feats).WithModels(f.models).WithPredictionLog(f.log)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go f.models.Run(ctx)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	for deadline := time.Now().Add(5 * time.Second); !f.models.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the models never loaded")
		}
	}
	return f
}

// TestServesFromFakes: a server on in-memory fakes answers from the
// online row of the entity, logs the prediction, and swaps versions when
// the registry notifies a move.
func TestServesFromFakes(t *testing.T) {
	f := newFakeServed(t)
	reg, log, arts := f.reg, f.log, f.arts
	want := func(version int) float64 {
		out := make([]float64, 1)
		arts[version].PredictRow([]float32{12.5, 1}, out) // "pro" is category 1
		return out[0]
	}
	predict := func() serving.PredictResponse {
		t.Helper()
		resp, err := http.Post(f.url+"/v1/models/churn:predict", "application/json", strings.NewReader(`{"instances":[{"customer_id":"C1"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res serving.PredictResponse
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		return res
	}
	if res := predict(); res.Version != 1 || math.Abs(res.Predictions[0].Score-want(1)) > 1e-12 {
		t.Fatalf("v1 answered %+v, want score %v", res, want(1))
	}
	reg.move("champion", 2)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		res := predict()
		if res.Version == 2 {
			if math.Abs(res.Predictions[0].Score-want(2)) > 1e-12 {
				t.Fatalf("v2 answered %+v, want score %v", res, want(2))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the move to v2 never took")
		}
	}
	if n := log.Written(); n < 2 {
		t.Errorf("the prediction log holds %d entries, want one per request", n)
	}
	log.mu.Lock()
	e := log.entries[0]
	log.mu.Unlock()
	if e.Model != "churn" || e.Entity != "C1" || e.Version != 1 || e.Variant != "champion" {
		t.Errorf("first log entry %+v", e)
	}
}

// TestABareNameAnswersAsTheFullModel: a request that names the model
// without its project (the one project serving it) is answered, logged
// for online drift and counted under the model's full name.
func TestABareNameAnswersAsTheFullModel(t *testing.T) {
	f := newFakeServedAs(t, "shop.churn")
	for _, name := range []string{"churn", "shop.churn"} {
		resp, err := http.Post(f.url+"/v1/models/"+name+":predict", "application/json", strings.NewReader(`{"instances":[{"customer_id":"C1"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		var res serving.PredictResponse
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || res.Model != "shop.churn" {
			t.Fatalf("%s: %d %+v %v; want shop.churn to answer", name, resp.StatusCode, res, err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); f.log.Written() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the predictions were not logged")
		}
	}
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	for _, e := range f.log.entries {
		if e.Model != "shop.churn" {
			t.Errorf("logged under %q, want shop.churn (online drift reads the full name)", e.Model)
		}
	}
	if resp, err := http.Post(f.url+"/v1/models/other:predict", "application/json", strings.NewReader(`{"instances":[{"customer_id":"C1"}]}`)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown bare name: %v", err)
	}
}
