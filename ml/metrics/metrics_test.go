package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteAUC is the AUC's definition: the probability that a random positive
// outscores a random negative, ties counting one half.
func bruteAUC(labels []float32, scores []float64) float64 {
	var wins, pairs float64
	for i := range labels {
		if labels[i] <= 0.5 {
			continue
		}
		for j := range labels {
			if labels[j] > 0.5 {
				continue
			}
			pairs++
			switch {
			case scores[i] > scores[j]:
				wins++
			case scores[i] == scores[j]:
				wins += 0.5
			}
		}
	}
	return wins / pairs
}

func TestAUCMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 2 + rng.IntN(60)
		labels := make([]float32, n)
		scores := make([]float64, n)
		levels := 1 + rng.IntN(8) // few levels: many ties
		for i := range n {
			labels[i] = float32(rng.IntN(2))
			scores[i] = float64(rng.IntN(levels))
		}
		labels[0], labels[1] = 0, 1
		got, err := AUC(labels, scores)
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteAUC(labels, scores); math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d: AUC %v, definition %v", trial, got, want)
		}
	}
}

func TestAUCEdgeCases(t *testing.T) {
	if _, err := AUC([]float32{1, 1}, []float64{0.2, 0.3}); err != ErrSingleClass {
		t.Errorf("one class: %v", err)
	}
	if _, err := AUC([]float32{1}, []float64{0.2, 0.3}); err == nil {
		t.Error("length mismatch accepted")
	}
	if got, _ := AUC([]float32{0, 1}, []float64{0.1, 0.9}); got != 1 {
		t.Errorf("perfect ranking: %v", got)
	}
	if got, _ := AUC([]float32{0, 1}, []float64{0.5, 0.5}); got != 0.5 {
		t.Errorf("all tied: %v", got)
	}
}

func TestClassificationMetrics(t *testing.T) {
	labels := []float32{1, 1, 1, 0, 0, 0, 0, 1}
	probs := []float64{0.9, 0.8, 0.3, 0.6, 0.1, 0.2, 0.4, 0.5}
	c, err := BinaryConfusion(labels, probs, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Confusion{TP: 3, FP: 1, TN: 3, FN: 1}) {
		t.Fatalf("confusion %+v", c)
	}
	if c.Accuracy() != 0.75 || c.Precision() != 0.75 || c.Recall() != 0.75 || c.F1() != 0.75 {
		t.Errorf("acc %v prec %v rec %v f1 %v", c.Accuracy(), c.Precision(), c.Recall(), c.F1())
	}
	ll, _ := LogLoss([]float32{1, 0}, []float64{0.5, 0.5})
	if math.Abs(ll-math.Ln2) > 1e-12 {
		t.Errorf("log loss %v, want ln 2", ll)
	}
}

func TestRegressionMetrics(t *testing.T) {
	r, err := RegressionMetrics([]float32{1, 2, 3, 4}, []float64{1, 2, 3, 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.RMSE != 0.5 || r.MAE != 0.25 || math.Abs(r.R2-0.8) > 1e-12 {
		t.Errorf("%+v", r)
	}
}

func TestMulticlassMetrics(t *testing.T) {
	labels := []float32{0, 1, 2, 2}
	probs := []float64{
		0.7, 0.2, 0.1,
		0.1, 0.8, 0.1,
		0.2, 0.5, 0.3,
		0.1, 0.1, 0.8,
	}
	m, err := MulticlassMetrics(labels, probs, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m.Accuracy != 0.75 {
		t.Errorf("accuracy %v", m.Accuracy)
	}
	if pc := m.PerClass[2]; pc.Support != 2 || pc.Recall != 0.5 || pc.Precision != 1 {
		t.Errorf("class 2: %+v", pc)
	}
	if _, err := MulticlassMetrics([]float32{5}, []float64{1, 0, 0}, 3); err == nil {
		t.Error("out-of-range class accepted")
	}
}
