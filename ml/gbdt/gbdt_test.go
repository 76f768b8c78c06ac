package gbdt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/testkit/mltest"
)

// synth is mltest.Synth.
func synth(n int, task ml.Task, seed uint64) *ml.Dataset { return mltest.Synth(n, task, seed) }

func cols(d *ml.Dataset) [][]float32 {
	c := make([][]float32, len(d.Features))
	for f := range c {
		c[f] = d.Features[f].Values
	}
	return c
}

// TestBestSplitMatchesExhaustiveSearch checks the root split on tiny data
// against every threshold and missing direction of every feature: exactly
// with exact gradients, within the rounding with quantized ones.
func TestBestSplitMatchesExhaustiveSearch(t *testing.T) {
	for _, quantized := range []bool{false, true} {
		t.Run(fmt.Sprintf("quantized=%v", quantized), func(t *testing.T) { checkBestSplits(t, quantized) })
	}
}

func checkBestSplits(t *testing.T, quantized bool) {
	tol := 1e-9
	if quantized {
		tol = 1e-3
	}
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 9))
		n := 20 + rng.IntN(30)
		d := &ml.Dataset{Labels: make([]float32, n)}
		for range 3 {
			v := make([]float32, n)
			for r := range v {
				v[r] = float32(rng.IntN(6))
				if rng.Float64() < 0.15 {
					v[r] = float32(math.NaN())
				}
			}
			d.Features = append(d.Features, ml.Feature{Values: v})
		}
		for r := range d.Labels {
			d.Labels[r] = float32(rng.IntN(2))
		}
		d.Labels[0], d.Labels[1] = 0, 1
		p := DefaultParams()
		p.Trees, p.MaxDepth, p.LearningRate, p.MinChildWeight, p.Lambda = 1, 1, 1, 0, 1
		p.QuantizedGradients = quantized
		m, err := Train(context.Background(), d, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Gradients at the base score, as the trainer saw them.
		q := ml.Sigmoid(m.BaseScore[0])
		if quantized {
			q = sigmoidTrain(m.BaseScore[0])
		}
		g := make([]float64, n)
		h := make([]float64, n)
		var G, H float64
		for r := range n {
			g[r] = float64(float32(q - float64(d.Labels[r])))
			h[r] = float64(float32(q * (1 - q)))
			G += g[r]
			H += h[r]
		}
		score := func(gs, hs float64) float64 { return gs * gs / (hs + p.Lambda) }
		best := 0.0
		for f := range 3 {
			vals := d.Features[f].Values
			for thr := float32(0.5); thr < 6; thr++ {
				for _, missLeft := range []bool{false, true} {
					var gl, hl float64
					for r, v := range vals {
						if v < thr || (v != v && missLeft) {
							gl += g[r]
							hl += h[r]
						}
					}
					if hl <= 0 || H-hl <= 0 {
						continue
					}
					best = math.Max(best, score(gl, hl)+score(G-gl, H-hl)-score(G, H))
				}
			}
		}
		root := m.Trees[0].Nodes[0]
		if best <= 1e-12 {
			continue
		}
		if root.Feature < 0 {
			t.Fatalf("seed %d: no split, exhaustive search gains %v", seed, best)
		}
		if math.Abs(root.Gain-best) > tol*math.Max(1, best) {
			t.Fatalf("seed %d: split gain %v, exhaustive best %v", seed, root.Gain, best)
		}
	}
}

// TestResumedTrainingEqualsUninterrupted: a resumed run recomputes the
// margins from the checkpoint's trees, an uninterrupted one keeps them
// (adding each leaf to its rows, or walking every row by its bins when rows
// are sampled); both must grow the same model. Leaf-wise growth once added
// some leaves twice; this caught it.
func TestResumedTrainingEqualsUninterrupted(t *testing.T) {
	train, valid := synth(3000, ml.Binary, 1), synth(800, ml.Binary, 2)
	sampled := DefaultParams()
	sampled.Trees, sampled.LearningRate, sampled.Subsample, sampled.Colsample, sampled.Seed = 25, 0.2, 0.8, 0.7, 11
	leafWise := DefaultParams()
	leafWise.Trees, leafWise.LearningRate, leafWise.MaxDepth, leafWise.MaxLeaves = 25, 0.2, 0, 24
	quantized := sampled
	quantized.QuantizedGradients = true
	for name, p := range map[string]Params{"sampled": sampled, "leaf-wise": leafWise, "quantized": quantized} {
		t.Run(name, func(t *testing.T) {
			p.EarlyStoppingRounds = 50
			full, err := Train(context.Background(), train, p, Options{Valid: valid})
			if err != nil {
				t.Fatal(err)
			}
			var saved *Checkpoint
			stop := errors.New("worker died")
			_, err = Train(context.Background(), train, p, Options{Valid: valid, OnRound: func(cp *Checkpoint) error {
				if cp.Round == 9 {
					saved = cp
					return stop
				}
				return nil
			}})
			if !errors.Is(err, stop) || saved == nil {
				t.Fatalf("interrupted run: %v", err)
			}
			resumed, err := Train(context.Background(), train, p, Options{Valid: valid, Resume: saved})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(full.Trees, resumed.Trees) || !reflect.DeepEqual(full.BaseScore, resumed.BaseScore) {
				t.Fatal("resumed model differs from the uninterrupted one")
			}
			p2 := p
			p2.Trees++
			if _, err := Train(context.Background(), train, p2, Options{Resume: saved}); !errors.Is(err, ErrCheckpointMismatch) {
				t.Errorf("resuming with other parameters: %v, want ErrCheckpointMismatch", err)
			}
		})
	}
}

// TestTrainingIsDeterministicAcrossThreadCounts: the same model for 1, 2
// and 3 threads, with exact and quantized gradients, on small data and on
// enough rows (past 65,536 after sampling) that partitions and gathers
// are split into chunks among the workers.
func TestTrainingIsDeterministicAcrossThreadCounts(t *testing.T) {
	for _, c := range []struct{ rows, trees int }{{4000, 10}, {80_000, 3}} {
		d := synth(c.rows, ml.Binary, 5)
		for _, quantized := range []bool{false, true} {
			checkThreadCounts(t, d, c.trees, quantized)
		}
	}
}

func checkThreadCounts(t *testing.T, d *ml.Dataset, trees int, quantized bool) {
	t.Helper()
	var models []*Model
	for _, threads := range []int{1, 2, 3} {
		p := DefaultParams()
		p.Trees, p.Threads, p.Subsample, p.Seed, p.QuantizedGradients = trees, threads, 0.9, 4, quantized
		m, err := Train(context.Background(), d, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	for i := 1; i < len(models); i++ {
		if !reflect.DeepEqual(models[0].Trees, models[i].Trees) {
			t.Fatalf("%d rows, quantized %v: model with thread setting %d differs from the single-threaded one", d.Rows(), quantized, i)
		}
	}
}

func TestPredictionPathsAgree(t *testing.T) {
	for _, task := range []ml.Task{ml.Binary, ml.Regression, ml.Multiclass} {
		t.Run(string(task), func(t *testing.T) {
			d := synth(1000, task, 7)
			p := DefaultParams()
			p.Task, p.Trees, p.LearningRate = task, 13, 0.3
			if task == ml.Multiclass {
				p.NumClass = 3
			}
			m, err := Train(context.Background(), d, p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			k := m.Outputs()
			batch, err := m.Predict(cols(d), 2)
			if err != nil {
				t.Fatal(err)
			}
			row := make([]float32, len(d.Features))
			out := make([]float64, k)
			naive := make([]float64, k)
			for r := range d.Rows() {
				for f := range row {
					row[f] = d.Features[f].Values[r]
				}
				m.PredictRow(row, out)
				predictNodeByNode(m, row, naive)
				for j := range k {
					if out[j] != batch[r*k+j] || math.Abs(out[j]-naive[j]) > 1e-12 {
						t.Fatalf("row %d output %d: row %v, batch %v, naive %v", r, j, out[j], batch[r*k+j], naive[j])
					}
				}
			}
		})
	}
}

func TestObjectivesLearn(t *testing.T) {
	tests := []struct {
		task ml.Task
		ok   func(labels []float32, preds []float64) (float64, bool)
	}{
		{ml.Binary, func(l []float32, p []float64) (float64, bool) {
			auc, _ := metrics.AUC(l, p)
			return auc, auc > 0.9
		}},
		{ml.Regression, func(l []float32, p []float64) (float64, bool) {
			r, _ := metrics.RegressionMetrics(l, p)
			return r.R2, r.R2 > 0.7
		}},
		{ml.Multiclass, func(l []float32, p []float64) (float64, bool) {
			m, _ := metrics.MulticlassMetrics(l, p, 3)
			return m.Accuracy, m.Accuracy > 0.7
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.task), func(t *testing.T) {
			train, test := synth(6000, tt.task, 1), synth(2000, tt.task, 2)
			p := DefaultParams()
			p.Task, p.Trees, p.LearningRate = tt.task, 60, 0.1
			if tt.task == ml.Multiclass {
				p.NumClass = 3
			}
			m, err := Train(context.Background(), train, p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			preds, _ := m.Predict(cols(test), 0)
			if v, ok := tt.ok(test.Labels, preds); !ok {
				t.Errorf("%s metric %v on held-out data", tt.task, v)
			}
		})
	}
}

func TestLeafWiseGrowthRespectsMaxLeaves(t *testing.T) {
	d := synth(3000, ml.Binary, 3)
	p := DefaultParams()
	p.Trees, p.MaxDepth, p.MaxLeaves = 5, 0, 9
	m, err := Train(context.Background(), d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range m.Trees {
		leaves := 0
		for _, n := range tr.Nodes {
			if n.Feature < 0 {
				leaves++
			}
		}
		if leaves > 9 || leaves < 2 {
			t.Errorf("tree %d has %d leaves, want 2..9", i, leaves)
		}
	}
}

func TestEarlyStoppingKeepsBestRound(t *testing.T) {
	train, valid := synth(800, ml.Binary, 1), synth(400, ml.Binary, 2)
	p := DefaultParams()
	p.Trees, p.LearningRate, p.EarlyStoppingRounds = 300, 0.5, 5
	m, err := Train(context.Background(), train, p, Options{Valid: valid})
	if err != nil {
		t.Fatal(err)
	}
	if m.BestRound >= 300 || len(m.Trees) != m.BestRound {
		t.Errorf("kept %d trees, best round %d: early stopping did not stop", len(m.Trees), m.BestRound)
	}
}

func TestBadInputIsRejected(t *testing.T) {
	d := synth(100, ml.Binary, 1)
	d.Labels[3] = 2
	if _, err := Train(context.Background(), d, DefaultParams(), Options{}); err == nil {
		t.Error("binary label 2 accepted")
	}
	d.Labels[3] = float32(math.NaN())
	if _, err := Train(context.Background(), d, DefaultParams(), Options{}); err == nil {
		t.Error("NaN label accepted")
	}
	p := DefaultParams()
	p.Subsample = 0
	if err := p.Validate(); err == nil {
		t.Error("subsample 0 accepted")
	}
}

func BenchmarkTrain(b *testing.B) {
	d := synth(100_000, ml.Binary, 1)
	p := DefaultParams()
	p.Trees = 20
	for b.Loop() {
		if _, err := Train(context.Background(), d, p, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPredictBatch(b *testing.B) {
	d := synth(100_000, ml.Binary, 1)
	p := DefaultParams()
	p.Trees = 100
	m, _ := Train(context.Background(), d, p, Options{})
	c := cols(d)
	for b.Loop() {
		if _, err := m.Predict(c, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*float64(d.Rows())/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkPredictRow(b *testing.B) {
	d := synth(10_000, ml.Binary, 1)
	p := DefaultParams()
	p.Trees = 100
	m, _ := Train(context.Background(), d, p, Options{})
	row := make([]float32, len(d.Features))
	out := make([]float64, 1)
	b.ReportAllocs()
	for b.Loop() {
		m.PredictRow(row, out)
	}
}

// TestValidateRejectsSharedChildren: a decoded tree whose nodes share a
// child is a graph whose walks multiply; the fuzzer found one that hung
// compile.
func TestValidateRejectsSharedChildren(t *testing.T) {
	m := &Model{Task: ml.Binary, BaseScore: []float64{0}, NumFeatures: 1, Trees: []Tree{{Nodes: []Node{
		{Feature: 0, Left: 1, Right: 2},
		{Feature: 0, Left: 3, Right: 4},
		{Feature: 0, Left: 3, Right: 4},
		{Feature: -1}, {Feature: -1},
	}}}}
	if err := m.Validate(); err == nil {
		t.Fatal("shared children accepted")
	}
}

// predictNodeByNode predicts a row by walking each tree node by node, the
// reference the compiled layouts must agree with.
func predictNodeByNode(m *Model, x []float32, out []float64) {
	copy(out, m.BaseScore)
	k := m.Outputs()
	for ti := range m.Trees {
		out[ti%k] += m.Trees[ti].leaf(x, m.CategoryBins)
	}
	m.transform(out)
}
