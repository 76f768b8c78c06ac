package gbdt

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/sluice-ml/sluice/ml"
)

// TestCategoricalSplitMatchesExhaustiveSearch: with no smoothing or extra
// L2, the gradient-ordered scan finds the best of every partition of the
// categories (and of the missing values' side), on random histograms.
func TestCategoricalSplitMatchesExhaustiveSearch(t *testing.T) {
	cp := CatParams{MaxCatThreshold: 255}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 17))
		nb := 2 + rng.IntN(8)
		var h [256]HistBin
		for b := range nb {
			if rng.IntN(6) > 0 { // some categories are empty in this node
				h[b] = HistBin{G: rng.NormFloat64() * 3, H: 0.1 + 2*rng.Float64()}
			}
		}
		if rng.IntN(2) == 0 {
			h[missingBin] = HistBin{G: rng.NormFloat64() * 3, H: 0.1 + 2*rng.Float64()}
		}
		var G, H float64
		for _, c := range h {
			G, H = G+c.G, H+c.H
		}
		got := ScanCategorical(&h, 0, nb, G, H, 0, 0, cp)

		// Every subset of the bins (the missing bin included) on the left.
		var used []int
		for b := range h {
			if h[b].H > 0 {
				used = append(used, b)
			}
		}
		best := 0.0
		for mask := 1; mask < 1<<len(used)-1; mask++ {
			var gl, hl float64
			for i, b := range used {
				if mask>>i&1 == 1 {
					gl, hl = gl+h[b].G, hl+h[b].H
				}
			}
			best = math.Max(best, gl*gl/hl+(G-gl)*(G-gl)/(H-hl)-G*G/H)
		}
		if math.Abs(got.Gain-best) > 1e-9*math.Max(1, best) {
			t.Fatalf("seed %d (%d bins): scan gains %v, exhaustive best %v", seed, nb, got.Gain, best)
		}
		// The split's sums are those of the bins it sends left.
		var gl, hl float64
		for b := range h {
			if got.GoesLeft(uint8(b)) {
				gl, hl = gl+h[b].G, hl+h[b].H
			}
		}
		if best > 0 && (math.Abs(gl-got.GL) > 1e-9 || math.Abs(hl-got.HL) > 1e-9) {
			t.Fatalf("seed %d: split says GL %v HL %v, its bins sum to %v %v", seed, got.GL, got.HL, gl, hl)
		}
		if got.Left.Has(missingBin) != got.DefaultLeft {
			t.Fatalf("seed %d: missing bin in the set %v, default left %v", seed, got.Left.Has(missingBin), got.DefaultLeft)
		}
	}
}

// catData has a categorical feature of n levels whose positive levels are
// scattered (every third one), so no ordinal threshold separates them,
// and a numeric feature of weak signal.
func catData(rows, levels int, seed uint64) *ml.Dataset {
	rng := rand.New(rand.NewPCG(seed, 23))
	cats := make([]string, levels)
	for i := range cats {
		cats[i] = string(rune('A'+i%26)) + string(rune('a'+i/26%26)) + string(rune('0'+i/676))
	}
	d := &ml.Dataset{Labels: make([]float32, rows), Features: []ml.Feature{
		{Name: "level", Kind: ml.Categorical, Categories: cats, Values: make([]float32, rows)},
		{Name: "x", Values: make([]float32, rows)},
	}}
	for r := range rows {
		c := rng.IntN(levels)
		x := rng.NormFloat64()
		d.Features[0].Values[r] = float32(c)
		if rng.Float64() < 0.03 {
			d.Features[0].Values[r] = float32(math.NaN())
		}
		d.Features[1].Values[r] = float32(x)
		z := 0.3 * x
		if c%3 == 0 {
			z += 2
		}
		if z+rng.NormFloat64()*0.5 > 1 {
			d.Labels[r] = 1
		}
	}
	return d
}

// TestCategoricalSplitSeparatesScatteredLevels: one split of depth one
// sends exactly the positive levels one way.
func TestCategoricalSplitSeparatesScatteredLevels(t *testing.T) {
	d := catData(6000, 12, 1)
	p := DefaultParams()
	p.Trees, p.MaxDepth = 1, 1
	m, err := Train(context.Background(), d, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := m.Trees[0].Nodes[0]
	if !root.Categorical || root.Feature != 0 {
		t.Fatalf("root splits feature %d, categorical %v; want the category", root.Feature, root.Categorical)
	}
	bins := m.CategoryBins[0]
	side := root.LeftBins.Has(bins[0])
	for c := range 12 {
		if got := root.LeftBins.Has(bins[c]); got != (side == (c%3 == 0)) {
			t.Errorf("level %d goes left %v", c, got)
		}
	}
}

// TestCategoricalTrainingIsDeterministic: the same model for any thread
// count, with more levels than bins (the rare ones share a bin), and a
// resumed run equals an uninterrupted one.
func TestCategoricalTrainingIsDeterministic(t *testing.T) {
	d := catData(5000, 400, 2)
	var models []*Model
	for _, threads := range []int{1, 2, 3} {
		p := DefaultParams()
		p.Trees, p.Threads, p.Subsample, p.Seed = 8, threads, 0.8, 3
		m, err := Train(context.Background(), d, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, m)
	}
	for i := 1; i < len(models); i++ {
		if !reflect.DeepEqual(models[0].Trees, models[i].Trees) || !reflect.DeepEqual(models[0].CategoryBins, models[i].CategoryBins) {
			t.Fatalf("model with thread setting %d differs from the single-threaded one", i)
		}
	}
	shared := 0
	for _, b := range models[0].CategoryBins[0] {
		if b == 254 {
			shared++
		}
	}
	if shared < 400-255 {
		t.Errorf("%d levels share the last bin; want the %d rarest", shared, 400-254)
	}
}

// TestCategoricalPredictionPathsAgree: the compiled trees (in batches and
// row by row) route every row as the node-by-node walk does, missing
// values and the shared bin of rare levels included.
func TestCategoricalPredictionPathsAgree(t *testing.T) {
	d := catData(3000, 400, 9)
	for _, task := range []ml.Task{ml.Binary, ml.Multiclass} {
		p := DefaultParams()
		p.Task, p.Trees, p.MaxDepth = task, 12, 5
		if task == ml.Multiclass {
			p.NumClass = 3
			for r := range d.Labels {
				d.Labels[r] = float32(int(d.Features[0].Values[r]+0.5) % 3)
				if d.Features[0].Values[r] != d.Features[0].Values[r] {
					d.Labels[r] = 0
				}
			}
		}
		m, err := Train(context.Background(), d, p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		cols := [][]float32{d.Features[0].Values, d.Features[1].Values}
		batch, err := m.Predict(cols, 2)
		if err != nil {
			t.Fatal(err)
		}
		k := m.Outputs()
		row := make([]float64, k)
		naive := make([]float64, k)
		for r := range d.Rows() {
			x := []float32{cols[0][r], cols[1][r]}
			m.PredictRow(x, row)
			predictNodeByNode(m, x, naive)
			for j := range k {
				if row[j] != naive[j] || batch[r*k+j] != naive[j] {
					t.Fatalf("%s row %d output %d: row %v, batch %v, node by node %v", task, r, j, row[j], batch[r*k+j], naive[j])
				}
			}
		}
	}
}
