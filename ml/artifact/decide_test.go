package artifact

import (
	"slices"
	"sync"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/linear"
)

func TestDecide(t *testing.T) {
	multi := &Artifact{Task: ml.Multiclass, Classes: []string{"a", "b", "c"}, Linear: &linear.Model{Task: ml.Multiclass, NumClass: 3}}
	bin := &Artifact{Task: ml.Binary, Linear: &linear.Model{Task: ml.Binary}}
	reg := &Artifact{Task: ml.Regression, Linear: &linear.Model{Task: ml.Regression}}
	for _, c := range []struct {
		name    string
		a       *Artifact
		preds   []float64
		n       int
		score   []float64
		label   []int32
		classes []string
	}{
		{"binary at 0.5 is positive", bin, []float64{0.2, 0.5, 0.9}, 3, []float64{0.2, 0.5, 0.9}, []int32{0, 1, 1}, []string{"0", "1"}},
		{"multiclass picks the most probable", multi, []float64{0.1, 0.7, 0.2, 0.5, 0.2, 0.3}, 2, []float64{0.7, 0.5}, []int32{1, 0}, []string{"a", "b", "c"}},
		{"regression passes through", reg, []float64{3.5, -1}, 2, []float64{3.5, -1}, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			score, label, classes := c.a.Decide(c.preds, c.n)
			if !slices.Equal(score, c.score) || !slices.Equal(label, c.label) || !slices.Equal(classes, c.classes) {
				t.Errorf("got %v %v %v, want %v %v %v", score, label, classes, c.score, c.label, c.classes)
			}
		})
	}
}

// TestDecideNamesMissingClassesWithoutARace: a multiclass artifact that
// names fewer classes than it outputs is decided by many requests at
// once; the names added must not be written into the artifact's slice
// (go test -race caught the append to the shared Classes).
func TestDecideNamesMissingClassesWithoutARace(t *testing.T) {
	classes := make([]string, 1, 8) // room to append in place
	classes[0] = "zero"
	a := &Artifact{Task: ml.Multiclass, Classes: classes, Linear: &linear.Model{Task: ml.Multiclass, NumClass: 3}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _, got := a.Decide([]float64{0.1, 0.2, 0.7}, 1)
				if !slices.Equal(got, []string{"zero", "1", "2"}) {
					t.Errorf("classes %v", got)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(a.Classes) != 1 || classes[:3][1] != "" {
		t.Errorf("Decide wrote into the artifact's classes: %q", classes[:3])
	}
}
