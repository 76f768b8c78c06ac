package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/registry"
)

// staticServer serves model "m" (a numeric and a categorical feature of
// view v) from memory: no registry, lake or online store.
func staticServer(t testing.TB) http.Handler {
	t.Helper()
	return staticServerWith(t, Options{})
}

// staticServerWith is staticServer with options.
func staticServerWith(t testing.TB, o Options) http.Handler {
	t.Helper()
	m := &Models{}
	st := map[string]*modelState{"m": {routing: DefaultRouting(), byAlias: map[string]*loaded{"champion": staticLoaded(t)}}}
	m.state.Store(&st)
	m.ready.Store(true)
	return New(o, nil).WithModels(m).Handler()
}

// staticLoaded is staticServer's model.
func staticLoaded(t testing.TB) *loaded {
	t.Helper()
	const n = 500
	r := rand.New(rand.NewPCG(1, 2))
	d := &ml.Dataset{Labels: make([]float32, n), Features: []ml.Feature{
		{Name: "v__amount", Kind: ml.Numeric, Values: make([]float32, n)},
		{Name: "v__plan", Kind: ml.Categorical, Categories: []string{"basic", "pro"}, Values: make([]float32, n)},
	}}
	for i := range n {
		d.Features[0].Values[i], d.Features[1].Values[i] = float32(r.Float64()), float32(r.IntN(2))
		if d.Features[0].Values[i] > 0.5 {
			d.Labels[i] = 1
		}
	}
	art, err := trainer.Train(context.Background(), d, nil, trainer.Spec{Task: ml.Binary, Algorithm: artifact.GBDT, Params: map[string]string{"trees": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := newLoaded(context.Background(), registry.Version{Model: "m", Version: 1}, "champion", art, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func fuzzHandler(f *testing.F, path string, seeds []string) {
	h := staticServer(f)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code != 200 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)) {
			t.Fatalf("%d without an error body for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// FuzzPredict: no body makes the predict handler panic or answer 5xx.
func FuzzPredict(f *testing.F) {
	fuzzHandler(f, "/v1/models/m:predict", []string{
		`{"instances": [{"amount": 0.3, "plan": "pro"}]}`,
		`{"instances": [{"v__amount": 1e308, "v__plan": null}, {}]}`,
		`{"instances": [{"amount": "NaN"}]}`,
		`{"instances": [{"amount": -1e-320, "plan": "enterprise"}]}`,
		`{"instances": [{"amount": [1, [2, {"a": 3}]]}]}`,
		`{"instances": [null, 1, "x"]}`,
		`{"instances": {"amount": 1}}`,
		`{"instances": [{"amount": 1}]}{"instances": []}`,
		`{"instances": [{"amount": 12345678901234567890123456789}]}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`,
		"\x00\xff",
		``,
	})
}

// FuzzInfer: the same for the Open Inference Protocol endpoint.
func FuzzInfer(f *testing.F) {
	fuzzHandler(f, "/v2/models/m/infer", []string{
		`{"inputs": [{"name": "amount", "shape": [2], "datatype": "FP64", "data": [0.1, 0.9]}]}`,
		`{"inputs": [{"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["pro"]}, {"name": "amount", "shape": [1], "datatype": "FP64", "data": [null]}]}`,
		`{"inputs": [{"name": "amount", "shape": [-1], "datatype": "FP64", "data": []}]}`,
		`{"inputs": [{"name": "amount", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}`,
		`{"inputs": [{"name": "amount", "shape": [1], "datatype": "FP64", "data": [{"deep": [1]}]}]}`,
		`{"inputs": []}`,
		`{"id": 7}`,
	})
}

// BenchmarkPredictHandler: one single-instance request through the
// router and handler, features given in the instance.
func BenchmarkPredictHandler(b *testing.B) {
	h := staticServer(b)
	body := []byte(`{"instances": [{"amount": 0.3, "plan": "pro"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/models/m:predict", bytes.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// keyedFeatures is an online store of view v keyed on customer_id, in
// memory: C1 has a row, nothing else does.
type keyedFeatures struct{}

func (keyedFeatures) Get(_ context.Context, _ string, keys []string) ([]online.Row, error) {
	out := make([]online.Row, len(keys))
	for i, k := range keys {
		if k == "C1" {
			out[i] = online.Row{"v__amount": 0.7, "v__plan": "pro"}
		}
	}
	return out, nil
}
func (keyedFeatures) KeyColumn(context.Context, string) (string, error) { return "customer_id", nil }
func (keyedFeatures) CacheStats() (uint64, uint64)                      { return 0, 0 }

// FuzzServing: a served model with an entity key and an online store,
// and everything a client chooses: the model name in the path, the
// request id and other headers, and the body. Nothing panics or answers
// 5xx; every refusal is a 4xx with an error body; an answer's request id
// is a plain id; /metrics labels no model but the served one.
func FuzzServing(f *testing.F) {
	l := staticLoaded(f)
	l.key = "customer_id"
	m := &Models{}
	st := map[string]*modelState{"m": {name: "m", routing: DefaultRouting(), byAlias: map[string]*loaded{"champion": l}}}
	m.state.Store(&st)
	m.ready.Store(true)
	s := New(Options{}, nil).WithModels(m).WithOnline(keyedFeatures{})
	h := s.Handler()
	for _, c := range []struct{ model, reqID, header, body string }{
		{"m", "req-1", "", `{"instances": [{"customer_id": "C1"}]}`},
		{"m", "bad id with spaces", "X-Forwarded-For: 1.2.3.4", `{"instances": [{"customer_id": "C\u00001"}]}`},
		{"m", "\xff\xfe", "Content-Type: text/plain", `{"instances": [{"customer_id": 12345678901234567890}]}`},
		{"%FF", "", "", `{"instances": [{"customer_id": "C1"}]}`},
		{"m", strings.Repeat("r", 200), "", `{"instances": [{"customer_id": "` + strings.Repeat("k", 300) + `"}]}`},
		{"p.m", "", "Authorization: Bearer x", `{"instances": [{"customer_id": 1.5, "amount": 1e39}]}`},
		{"m", "", "", `{"instances": [{"customer_id": "C2"}]}`},
		{"m", "", "", `{"instances": [{"customer_id": "C2", "amount": 0.1, "plan": "basic", "extra": [1]}]}`},
		{"m", "", "", `{"inputs": [{"name": "customer_id", "shape": [1], "datatype": "BYTES", "data": ["C1"]}]}`},
	} {
		f.Add(c.model, c.reqID, c.header, []byte(c.body))
	}
	f.Fuzz(func(t *testing.T, model, reqID, header string, body []byte) {
		for _, path := range []string{"/v1/models/" + url.PathEscape(model) + ":predict", "/v2/models/" + url.PathEscape(model) + "/infer"} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("X-Request-Id", reqID)
			if k, v, ok := strings.Cut(header, ":"); ok && httpguts.ValidHeaderFieldName(k) && httpguts.ValidHeaderFieldValue(v) {
				req.Header.Set(k, strings.TrimSpace(v))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch {
			case rec.Code >= 500:
				t.Fatalf("%d for %s %q: %s", rec.Code, path, body, rec.Body)
			case rec.Code != 200 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)):
				t.Fatalf("%d without an error body for %s %q: %s", rec.Code, path, body, rec.Body)
			case rec.Code == 200 && strings.Contains(path, ":predict"):
				var res PredictResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || !requestIDRE.MatchString(res.RequestID) {
					t.Fatalf("request id %q (%v) for X-Request-Id %q", res.RequestID, err, reqID)
				}
			}
		}
		mfs, err := s.metrics.registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "sluice_serving_requests_total" {
				for _, m := range mf.GetMetric() {
					for _, lp := range m.GetLabel() {
						if lp.GetName() == "model" && lp.GetValue() != "m" && lp.GetValue() != otherModels {
							t.Fatalf("a series for model %q", lp.GetValue())
						}
					}
				}
			}
		}
	})
}
