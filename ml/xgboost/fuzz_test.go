package xgboost

import (
	"bytes"
	"encoding/json"
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
		if m, _, err := Import(bytes.NewReader([]byte(h)), nil); err == nil {
			t.Errorf("imported %.60s… as %d features, %d classes; want an error", h, m.NumFeatures, m.NumClass)
		}
	}
}

// FuzzImport: no file makes Import panic, and what it accepts is a model
// that validates, with bounded features and classes. The seeds are small
// models (the fixtures, at 20–70 KB, stall the fuzzer's mutator; the
// tests above import them).
func FuzzImport(f *testing.F) {
	chain, cats := chainModel(3, 5)
	catJSON, err := json.Marshal(cats)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(chain), catJSON)
	f.Add([]byte(`{"learner":{"objective":{"name":"reg:squarederror"},"feature_names":["a","b"],"learner_model_param":{"base_score":"0.5","num_feature":"2"},`+
		`"gradient_booster":{"name":"gbtree","model":{"tree_info":[0],"trees":[{"left_children":[1,-1,-1],"right_children":[2,-1,-1],`+
		`"split_indices":[1,0,0],"split_conditions":[0.5,-1,1],"default_left":[1,0,0],"split_type":[0,0,0]}]}}}}`), []byte(`{}`))
	for _, h := range hostile {
		f.Add([]byte(h), []byte(`{}`))
	}
	f.Fuzz(func(t *testing.T, b, catJSON []byte) {
		cats, err := ReadCategories(bytes.NewReader(catJSON))
		if err != nil {
			return
		}
		m, features, err := Import(bytes.NewReader(b), cats)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid model: %v", err)
		}
		if len(features) != m.NumFeatures {
			t.Fatalf("accepted %d features", m.NumFeatures)
		}
		if m.NumClass > max(len(m.Trees), maxClassesWithoutTrees) {
			t.Fatalf("accepted %d classes for %d trees", m.NumClass, len(m.Trees))
		}
	})
}
