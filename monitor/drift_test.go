package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/monitor"
)

// TestAgainstSciPy: KS, PSI and chi-square equal what Debian's
// python3-scipy computes (testdata/reference.py) within 1e-9.
func TestAgainstSciPy(t *testing.T) {
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		KS []struct {
			A, B        []float64
			D           float64
			PKolmogorov float64 `json:"p_kolmogorov"`
		}
		Counts []struct {
			Ref, Cur   []uint64
			PSI, Chi2  float64
			Chi2P      float64  `json:"chi2_p"`
			Chi2SciPy  *float64 `json:"chi2_scipy"`
			Chi2PSciPy *float64 `json:"chi2_p_scipy"`
		}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for i, c := range ref.KS {
		d, p := monitor.KS(c.A, c.B)
		if math.Abs(d-c.D) > 1e-9 || math.Abs(p-c.PKolmogorov) > 1e-9 {
			t.Errorf("KS %d: D %v p %v; scipy D %v p %v", i, d, p, c.D, c.PKolmogorov)
		}
	}
	for i, c := range ref.Counts {
		if psi := monitor.PSI(c.Ref, c.Cur); math.Abs(psi-c.PSI) > 1e-9 {
			t.Errorf("PSI %d: %v, numpy %v", i, psi, c.PSI)
		}
		stat, p := monitor.ChiSquare(c.Ref, c.Cur)
		if math.Abs(stat-c.Chi2) > 1e-9*max(1, c.Chi2) || math.Abs(p-c.Chi2P) > 1e-9 {
			t.Errorf("chi-square %d: %v p %v; scipy %v p %v", i, stat, p, c.Chi2, c.Chi2P)
		}
	}
}

// model trains a small model on x (numeric) and plan (categorical), and
// returns it with a batch drawn like its training data, shifted by shift
// and with share of plans moved to an unseen one.
func model(t testing.TB, n int, shift float64, unseen float64) (*artifact.Artifact, *ml.Dataset) {
	t.Helper()
	draw := func(n int, shift, unseen float64, seed uint64) *ml.Dataset {
		r := rand.New(rand.NewPCG(seed, 1))
		d := &ml.Dataset{Labels: make([]float32, n), Features: []ml.Feature{
			{Name: "v__x", Kind: ml.Numeric, Values: make([]float32, n)},
			{Name: "v__plan", Kind: ml.Categorical, Categories: []string{"a", "b", "c"}, Values: make([]float32, n)},
		}}
		for i := range n {
			d.Features[0].Values[i] = float32(r.NormFloat64() + shift)
			d.Features[1].Values[i] = float32(r.IntN(3))
			if r.Float64() < unseen {
				d.Features[1].Values[i] = float32(math.NaN())
			}
			if d.Features[0].Values[i] > 0 {
				d.Labels[i] = 1
			}
		}
		return d
	}
	art, err := trainer.Train(context.Background(), draw(5000, 0, 0, 1), nil, trainer.Spec{Task: ml.Binary, Algorithm: artifact.GBDT, Params: map[string]string{"trees": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	return art, draw(n, shift, unseen, 2)
}

func TestComputeAlertsOnShiftAndNotOnTheSame(t *testing.T) {
	art, same := model(t, 20_000, 0, 0)
	rep := monitor.Compute(art, same, nil, 0, monitor.DefaultThresholds())
	if rep.Level != monitor.LevelOK || rep.Features[0].Test != "ks" || rep.Features[1].Test != "chi2" || rep.Features[0].PSI > 0.01 {
		t.Errorf("the same distribution: %+v", rep)
	}
	_, shifted := model(t, 20_000, 0.8, 0.3)
	rep = monitor.Compute(art, shifted, nil, 0, monitor.DefaultThresholds())
	if rep.Level != monitor.LevelAlert || rep.Features[0].Level != monitor.LevelAlert || rep.Features[1].Level != monitor.LevelAlert || rep.Features[0].PSI < 0.25 {
		t.Errorf("shifted: %+v", rep)
	}
	if sum(rep.Features[0].Current) != 20_000 || len(rep.Features[0].Current) != len(rep.Features[0].Reference) {
		t.Errorf("counts %v vs %v", rep.Features[0].Current, rep.Features[0].Reference)
	}
}

func sum(xs []uint64) (n uint64) {
	for _, x := range xs {
		n += x
	}
	return n
}

// BenchmarkDrift10Mx30: the drift of 10M rows × 30 numeric features.
func BenchmarkDrift10Mx30(b *testing.B) {
	const rows, feats = 10_000_000, 30
	art, _ := model(b, 10, 0, 0)
	h := art.Reference.Features[0]
	sample := art.Reference.Samples[0]
	ref := &artifact.Reference{}
	d := &ml.Dataset{}
	r := rand.New(rand.NewPCG(3, 4))
	for f := range feats {
		ref.Features = append(ref.Features, h)
		ref.Samples = append(ref.Samples, sample)
		vals := make([]float32, rows)
		for i := range vals {
			vals[i] = float32(r.NormFloat64() + 0.01*float64(f))
		}
		d.Features = append(d.Features, ml.Feature{Name: fmt.Sprintf("f%d", f), Kind: ml.Numeric, Values: vals})
	}
	big := *art
	big.Reference = ref
	b.ResetTimer()
	for b.Loop() {
		rep := monitor.Compute(&big, d, nil, 0, monitor.DefaultThresholds())
		if len(rep.Features) != feats {
			b.Fatal(rep)
		}
	}
	b.ReportMetric(float64(rows*feats)/1e6*float64(b.N)/b.Elapsed().Seconds(), "Mvalues/s")
}

// TestTalliesMerge: two halves tallied and merged give the whole's
// counts.
func TestTalliesMerge(t *testing.T) {
	art, d := model(t, 10_000, 0.2, 0.1)
	whole := monitor.Count(art, d, nil, 0, 1)
	var merged monitor.Tally
	for _, part := range []*ml.Dataset{d.Slice(0, 4000), d.Slice(4000, 10_000)} {
		merged.Merge(monitor.Count(art, part, nil, 0, 1))
	}
	if merged.Rows != whole.Rows {
		t.Fatalf("rows %d, want %d", merged.Rows, whole.Rows)
	}
	for i := range whole.Features {
		if fmt.Sprint(merged.Features[i].Counts) != fmt.Sprint(whole.Features[i].Counts) || len(merged.Features[i].Sample) != len(whole.Features[i].Sample) {
			t.Errorf("feature %d: merged %v, whole %v", i, merged.Features[i].Counts, whole.Features[i].Counts)
		}
	}
}

// TestJoinAndRealized: each label meets its entity's newest earlier
// prediction within the window; metrics are per version and day.
func TestJoinAndRealized(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	preds := []monitor.Scored{
		{Key: "a", AsOf: day(1), Score: 0.9, Version: 1}, {Key: "a", AsOf: day(3), Score: 0.8, Version: 2},
		{Key: "b", AsOf: day(1), Score: 0.2, Version: 1}, {Key: "b", AsOf: day(3), Score: 0.3, Version: 2},
		{Key: "c", AsOf: day(1), Score: 0.6, Version: 1}, {Key: "d", AsOf: day(3), Score: 0.7, Version: 2},
	}
	labels := []monitor.Labeled{
		{Key: "a", At: day(2), Label: 1},  // v1 as of day 1
		{Key: "b", At: day(2), Label: 0},  // v1 as of day 1
		{Key: "c", At: day(2), Label: 0},  // v1 as of day 1
		{Key: "a", At: day(4), Label: 1},  // v2 as of day 3
		{Key: "b", At: day(4), Label: 0},  // v2 as of day 3
		{Key: "d", At: day(3), Label: 1},  // same instant as the prediction: not before, no pair
		{Key: "c", At: day(20), Label: 1}, // older than the window
		{Key: "z", At: day(2), Label: 1},  // never predicted
	}
	pairs := monitor.Join(preds, labels, 7*24*time.Hour)
	if len(pairs) != 5 {
		t.Fatalf("%d pairs, want 5: %+v", len(pairs), pairs)
	}
	perf, err := monitor.Realized("m", "binary", pairs)
	if err != nil {
		t.Fatal(err)
	}
	if len(perf) != 2 || perf[0].Version != 1 || perf[0].Rows != 3 || perf[0].Metrics["auc"] != 1 || perf[1].Version != 2 || perf[1].Rows != 2 {
		t.Errorf("performance %+v", perf)
	}
	// AUC of v1 on day 1: positives {0.9}, negatives {0.2, 0.6}: 1.
	ll := -(math.Log(0.9) + math.Log(0.8) + math.Log(0.4)) / 3
	if math.Abs(perf[0].Metrics["logloss"]-ll) > 1e-12 {
		t.Errorf("log loss %v, want %v", perf[0].Metrics["logloss"], ll)
	}
}
