package trainer

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
)

func TestParamsByName(t *testing.T) {
	p, err := GBDTParams(ml.Binary, 0, map[string]string{"trees": "7", "eta": "0.2", "max_depth": "3", "colsample_bytree": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Trees != 7 || p.LearningRate != 0.2 || p.MaxDepth != 3 || p.Colsample != 0.5 {
		t.Errorf("%+v", p)
	}
	for kv, want := range map[string]string{
		"depth=3":        `unknown gbdt parameter "depth"`,
		"trees=many":     `trees="many"`,
		"subsample=1.5":  "subsample",
		"max_depth=-1":   "max_depth",
		"learning_rate=": "learning_rate",
	} {
		k, v, _ := strings.Cut(kv, "=")
		if _, err := GBDTParams(ml.Binary, 0, map[string]string{k: v}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error naming %q", kv, err, want)
		}
	}
	lp, err := LinearParams(ml.Binary, 0, map[string]string{"C": "0.5"})
	if err != nil || lp.L2 != 2 {
		t.Errorf("C=0.5 gave l2 %v, %v", lp.L2, err)
	}
}

func TestSplitIsDeterministicAndDisjoint(t *testing.T) {
	d := &ml.Dataset{Labels: make([]float32, 100), Features: []ml.Feature{{Name: "x", Values: make([]float32, 100)}}}
	for i := range 100 {
		d.Features[0].Values[i] = float32(i)
		d.Labels[i] = float32(i % 2)
	}
	a, b, err := Split(d, 0.25, 1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows() != 75 || b.Rows() != 25 {
		t.Fatalf("%d + %d rows", a.Rows(), b.Rows())
	}
	seen := map[float32]bool{}
	for _, ds := range []*ml.Dataset{a, b} {
		for _, v := range ds.Features[0].Values {
			if seen[v] {
				t.Fatalf("row %v on both sides", v)
			}
			seen[v] = true
		}
	}
	a2, _, _ := Split(d, 0.25, 1)
	if a2.Features[0].Values[0] != a.Features[0].Values[0] {
		t.Error("same seed, another split")
	}
	if _, _, err := Split(d, 1, 1); err == nil {
		t.Error("fraction 1 accepted")
	}
}

func TestTrainPacksMetricsAndReference(t *testing.T) {
	n := 400
	d := steps(n)
	a, err := Train(context.Background(), d, nil, Spec{Task: ml.Binary, Algorithm: artifact.GBDT, Label: "y", Params: map[string]string{"trees": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Metrics["auc"] < 0.99 || a.Reference == nil || len(a.Reference.Score.Counts) == 0 {
		t.Errorf("metrics %v, reference %+v", a.Metrics, a.Reference)
	}
	if err := a.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := Train(context.Background(), d, nil, Spec{Task: ml.Binary, Algorithm: "forest"}); err == nil {
		t.Error("unknown algorithm accepted")
	}
}

// TestDefaultsStopEarly: with neither trees nor early_stopping_rounds
// named, training stops early on held-out rows (without a validation set;
// small data is then grown again on every row) or on the validation set,
// and says where its metrics come from; naming trees turns it off.
func TestDefaultsStopEarly(t *testing.T) {
	n := 2000
	d := steps(n)
	spec := Spec{Task: ml.Binary, Algorithm: artifact.GBDT, Label: "y", Params: map[string]string{}}
	a, err := Train(context.Background(), d, nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	// A step function is learned in a few rounds; patience ends it soon
	// after, far short of the cap.
	if got := len(a.GBDT.Trees); got >= AutoTrees || got < AutoPatience {
		t.Errorf("%d trees; want early stopping between %d and %d", got, AutoPatience, AutoTrees)
	}
	if want := "400 training rows held out for early stopping, by the model before it was grown again on every row"; a.EvaluatedOn != want {
		t.Errorf("evaluated on %q, want %q", a.EvaluatedOn, want)
	}
	if a.Reference.Score.Counts == nil || sum(a.Reference.Score.Counts) != uint64(n) {
		t.Error("the reference histograms should cover every training row")
	}
	b, err := Train(context.Background(), d, d, spec)
	if err != nil {
		t.Fatal(err)
	}
	if b.EvaluatedOn != "validation data" || len(b.GBDT.Trees) >= AutoTrees {
		t.Errorf("with a validation set: evaluated on %q, %d trees", b.EvaluatedOn, len(b.GBDT.Trees))
	}
	spec.Params = map[string]string{"trees": "7"}
	c, err := Train(context.Background(), d, nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.GBDT.Trees) != 7 || c.EvaluatedOn != "training data" {
		t.Errorf("trees=7: %d trees, evaluated on %q", len(c.GBDT.Trees), c.EvaluatedOn)
	}
	if AutoStopping(map[string]string{"early_stopping_rounds": "0"}) || !AutoStopping(map[string]string{"max_depth": "3"}) {
		t.Error("AutoStopping misreads the parameters")
	}
}

func sum(xs []uint64) uint64 {
	var s uint64
	for _, x := range xs {
		s += x
	}
	return s
}

// steps is n rows of one feature cycling through 0..39, labelled 1 above
// 20: a step a tree learns in one split.
func steps(n int) *ml.Dataset {
	d := &ml.Dataset{Labels: make([]float32, n), Features: []ml.Feature{{Name: "x", Values: make([]float32, n)}}}
	for i := range n {
		d.Features[0].Values[i] = float32(i % 40)
		if i%40 > 20 {
			d.Labels[i] = 1
		}
	}
	return d
}
