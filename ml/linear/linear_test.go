package linear

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/metrics"
)

func dataset(n int, task ml.Task, seed uint64) (*ml.Dataset, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := []float64{1.5, -2, 0.5}
	d := &ml.Dataset{Labels: make([]float32, n)}
	for f := range 3 {
		d.Features = append(d.Features, ml.Feature{Values: make([]float32, n)})
		_ = f
	}
	d.Features = append(d.Features, ml.Feature{Kind: ml.Categorical, Categories: []string{"a", "b", "c"}, Values: make([]float32, n)})
	catEffect := []float64{0, 1, -1}
	for r := range n {
		z := 0.3
		for f := range 3 {
			x := rng.NormFloat64()*2 + 5 // unscaled: the model standardises
			d.Features[f].Values[r] = float32(x)
			z += w[f] * (x - 5) / 2
		}
		c := rng.IntN(3)
		d.Features[3].Values[r] = float32(c)
		z += catEffect[c]
		if rng.Float64() < 0.05 {
			d.Features[0].Values[r] = float32(math.NaN())
		}
		switch task {
		case ml.Binary:
			if rng.Float64() < ml.Sigmoid(z) {
				d.Labels[r] = 1
			}
		case ml.Regression:
			d.Labels[r] = float32(z + rng.NormFloat64()*0.1)
		case ml.Multiclass:
			d.Labels[r] = float32(min(2, max(0, int(z+1))))
		}
	}
	return d, w
}

func cols(d *ml.Dataset) [][]float32 {
	c := make([][]float32, len(d.Features))
	for f := range c {
		c[f] = d.Features[f].Values
	}
	return c
}

func TestRegressionRecoversWeights(t *testing.T) {
	d, w := dataset(5000, ml.Regression, 1)
	p := DefaultParams()
	p.Task, p.L2 = ml.Regression, 1e-6
	m, err := Train(context.Background(), d, p)
	if err != nil {
		t.Fatal(err)
	}
	// Standardised weight = true weight × std / 2; the std is about 2.
	for f := range 3 {
		got := m.Weights[f] / m.Inputs[f].Scale * 2
		if math.Abs(got-w[f]) > 0.15 {
			t.Errorf("weight %d = %v, want about %v", f, got, w[f])
		}
	}
	preds, _ := m.Predict(cols(d), 0)
	r, _ := metrics.RegressionMetrics(d.Labels, preds)
	if r.R2 < 0.95 {
		t.Errorf("R² %v", r.R2)
	}
}

func TestLogisticAndMultinomialLearn(t *testing.T) {
	for _, task := range []ml.Task{ml.Binary, ml.Multiclass} {
		t.Run(string(task), func(t *testing.T) {
			train, _ := dataset(8000, task, 1)
			test, _ := dataset(3000, task, 2)
			p := DefaultParams()
			p.Task = task
			if task == ml.Multiclass {
				p.NumClass = 3
			}
			m, err := Train(context.Background(), train, p)
			if err != nil {
				t.Fatal(err)
			}
			preds, _ := m.Predict(cols(test), 0)
			row := make([]float32, 4)
			out := make([]float64, m.Outputs())
			for f := range row {
				row[f] = test.Features[f].Values[17]
			}
			m.PredictRow(row, out)
			for j := range out {
				if math.Abs(out[j]-preds[17*m.Outputs()+j]) > 1e-12 {
					t.Fatalf("PredictRow %v, Predict %v", out, preds[17*m.Outputs():18*m.Outputs()])
				}
			}
			if task == ml.Binary {
				auc, _ := metrics.AUC(test.Labels, preds)
				if auc < 0.85 {
					t.Errorf("AUC %v", auc)
				}
			} else {
				mm, _ := metrics.MulticlassMetrics(test.Labels, preds, 3)
				if mm.Accuracy < 0.75 {
					t.Errorf("accuracy %v", mm.Accuracy)
				}
			}
		})
	}
}

// TestGradientMatchesFiniteDifferences checks the objective's gradient.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	d, _ := dataset(300, ml.Binary, 3)
	p := DefaultParams()
	captured := objective(layout(d, p), d, p)
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 7)
	for i := range x {
		x[i] = rng.NormFloat64() * 0.3
	}
	g := make([]float64, len(x))
	captured(x, g)
	for i := range x {
		const h = 1e-6
		xp := append([]float64(nil), x...)
		xm := append([]float64(nil), x...)
		xp[i] += h
		xm[i] -= h
		num := (captured(xp, make([]float64, len(x))) - captured(xm, make([]float64, len(x)))) / (2 * h)
		if math.Abs(num-g[i]) > 1e-6 {
			t.Errorf("d/dx%d: analytic %v, numeric %v", i, g[i], num)
		}
	}
}
