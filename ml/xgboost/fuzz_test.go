package xgboost

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// hostile are files that made the importer panic or allocate without
// bound: a huge num_class (makeslice) and a huge num_feature (the
// artifact's feature list).
var hostile = []string{
	`{"learner":{"objective":{"name":"multi:softprob"},"learner_model_param":{"base_score":"0.5","num_class":"4000000000000","num_feature":"2"},"gradient_booster":{"name":"gbtree","model":{"gbtree_model_param":{"num_parallel_tree":"1"},"tree_info":[],"trees":[]}}}}`,
	`{"learner":{"objective":{"name":"binary:logistic"},"learner_model_param":{"base_score":"0.5","num_class":"0","num_feature":"2000000000"},"gradient_booster":{"name":"gbtree","model":{"gbtree_model_param":{"num_parallel_tree":"1"},"tree_info":[],"trees":[]}}}}`,
}

func TestHostileImportsAreErrors(t *testing.T) {
	for _, h := range hostile {
		if m, _, err := Import(bytes.NewReader([]byte(h))); err == nil {
			t.Errorf("imported %.60s… as %d features, %d classes; want an error", h, m.NumFeatures, m.NumClass)
		}
	}
}

// FuzzImport: no file makes Import panic, and what it accepts is a model
// that validates, with bounded features and classes.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"binary.json", "multiclass.json", "regression.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, h := range hostile {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, names, err := Import(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid model: %v", err)
		}
		if m.NumFeatures > maxFeatures && len(names) != m.NumFeatures {
			t.Fatalf("accepted %d features", m.NumFeatures)
		}
		if m.NumClass > max(len(m.Trees), maxClassesWithoutTrees) {
			t.Fatalf("accepted %d classes for %d trees", m.NumClass, len(m.Trees))
		}
	})
}
