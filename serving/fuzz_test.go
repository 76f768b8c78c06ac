package serving

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/registry"
)

// staticServer serves model "m" (a numeric and a categorical feature of
// view v) from memory: no registry, lake or online store.
func staticServer(t testing.TB) http.Handler {
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
	m := &Models{}
	st := map[string]*modelState{"m": {routing: DefaultRouting(), byAlias: map[string]*loaded{"champion": l}}}
	m.state.Store(&st)
	m.ready.Store(true)
	return New(Options{}, nil).WithModels(m).Handler()
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
