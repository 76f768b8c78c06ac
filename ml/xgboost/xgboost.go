// Package xgboost imports models that XGBoost saved as JSON
// (Booster.save_model("m.json")): binary:logistic, reg:squarederror and
// multi:softprob / multi:softmax tree models with numeric splits.
package xgboost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
)

// ErrUnsupported reports a model this importer cannot represent exactly.
var ErrUnsupported = errors.New("xgboost: unsupported model")

// Bounds on what a file may claim, so a small hostile file cannot make the
// importer (or the artifact built from it) allocate without bound.
const (
	// maxFeatures bounds num_feature unless the file names that many
	// features: each costs memory in every row predicted.
	maxFeatures = 1 << 20
	// maxClassesWithoutTrees bounds num_class beyond the model's trees: a
	// real multiclass model has a tree per class and round.
	maxClassesWithoutTrees = 1000
)

type modelJSON struct {
	Learner struct {
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
		Params struct {
			BaseScore  string `json:"base_score"`
			NumClass   string `json:"num_class"`
			NumFeature string `json:"num_feature"`
		} `json:"learner_model_param"`
		Booster struct {
			Name  string `json:"name"`
			Model struct {
				Param struct {
					NumParallelTree string `json:"num_parallel_tree"`
				} `json:"gbtree_model_param"`
				TreeInfo []int      `json:"tree_info"`
				Trees    []treeJSON `json:"trees"`
			} `json:"model"`
		} `json:"gradient_booster"`
		FeatureNames []string `json:"feature_names"`
	} `json:"learner"`
}

type treeJSON struct {
	Left       []int32   `json:"left_children"`
	Right      []int32   `json:"right_children"`
	Index      []int32   `json:"split_indices"`
	Condition  []float32 `json:"split_conditions"`
	Default    []int     `json:"default_left"`
	SplitType  []int     `json:"split_type"`
	Hessian    []float64 `json:"sum_hessian"`
	LossChange []float64 `json:"loss_changes"`
}

// Import reads an XGBoost JSON model. Splits keep XGBoost's rule (x <
// condition goes left; missing follows default_left) and leaves its
// values, so predictions match XGBoost's.
func Import(r io.Reader) (*gbdt.Model, []string, error) {
	var mj modelJSON
	dec := json.NewDecoder(io.LimitReader(r, 1<<30))
	if err := dec.Decode(&mj); err != nil {
		return nil, nil, fmt.Errorf("xgboost: reading JSON model: %w", err)
	}
	l := mj.Learner
	if l.Booster.Name != "gbtree" {
		return nil, nil, fmt.Errorf("%w: booster %q (only gbtree)", ErrUnsupported, l.Booster.Name)
	}
	if p := l.Booster.Model.Param.NumParallelTree; p != "" && p != "1" {
		return nil, nil, fmt.Errorf("%w: num_parallel_tree %s", ErrUnsupported, p)
	}
	base, err := strconv.ParseFloat(l.Params.BaseScore, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("xgboost: base_score %q: %w", l.Params.BaseScore, err)
	}
	nf, err := strconv.Atoi(l.Params.NumFeature)
	if err != nil || nf < 0 {
		return nil, nil, fmt.Errorf("xgboost: num_feature %q", l.Params.NumFeature)
	}
	if nf > maxFeatures && len(l.FeatureNames) != nf {
		return nil, nil, fmt.Errorf("xgboost: num_feature %d is over %d and the file names %d features", nf, maxFeatures, len(l.FeatureNames))
	}
	m := &gbdt.Model{NumFeatures: nf}
	switch l.Objective.Name {
	case "binary:logistic":
		if !(base > 0 && base < 1) {
			return nil, nil, fmt.Errorf("xgboost: binary base_score %v outside (0,1)", base)
		}
		m.Task, m.BaseScore = ml.Binary, []float64{math.Log(base / (1 - base))}
	case "reg:squarederror":
		m.Task, m.BaseScore = ml.Regression, []float64{base}
	case "multi:softprob", "multi:softmax":
		k, err := strconv.Atoi(l.Params.NumClass)
		if err != nil || k < 2 {
			return nil, nil, fmt.Errorf("xgboost: num_class %q", l.Params.NumClass)
		}
		if k > max(len(l.Booster.Model.Trees), maxClassesWithoutTrees) {
			return nil, nil, fmt.Errorf("xgboost: num_class %d for %d trees", k, len(l.Booster.Model.Trees))
		}
		m.Task, m.NumClass, m.BaseScore = ml.Multiclass, k, make([]float64, k)
		for j := range m.BaseScore {
			m.BaseScore[j] = base
		}
	default:
		return nil, nil, fmt.Errorf("%w: objective %q (want binary:logistic, reg:squarederror or multi:softprob)", ErrUnsupported, l.Objective.Name)
	}
	k := m.Outputs()
	trees := l.Booster.Model.Trees
	info := l.Booster.Model.TreeInfo
	if len(info) != len(trees) || len(trees)%k != 0 {
		return nil, nil, fmt.Errorf("xgboost: %d trees with %d tree_info entries for %d outputs", len(trees), len(info), k)
	}
	for i, tj := range trees {
		if info[i] != i%k {
			return nil, nil, fmt.Errorf("%w: tree %d is for output %d, expected round-major order", ErrUnsupported, i, info[i])
		}
		t, err := convertTree(tj)
		if err != nil {
			return nil, nil, fmt.Errorf("xgboost: tree %d: %w", i, err)
		}
		m.Trees = append(m.Trees, t)
	}
	m.BestRound = len(m.Trees) / k
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("xgboost: %w", err)
	}
	return m, l.FeatureNames, nil
}

// convertTree renumbers XGBoost's nodes breadth-first, so children follow
// their parents as gbdt.Model requires.
func convertTree(tj treeJSON) (gbdt.Tree, error) {
	n := len(tj.Left)
	if n == 0 || len(tj.Right) != n || len(tj.Index) != n || len(tj.Condition) != n || len(tj.Default) != n {
		return gbdt.Tree{}, errors.New("node arrays differ in length")
	}
	for i, st := range tj.SplitType {
		if st != 0 && tj.Left[i] >= 0 {
			return gbdt.Tree{}, fmt.Errorf("%w: categorical split at node %d", ErrUnsupported, i)
		}
	}
	newID := make([]int32, n)
	for i := range newID {
		newID[i] = -1
	}
	order := []int32{0}
	newID[0] = 0
	for q := 0; q < len(order); q++ {
		old := order[q]
		if l := tj.Left[old]; l >= 0 {
			r := tj.Right[old]
			if int(l) >= n || r < 0 || int(r) >= n || newID[l] >= 0 || newID[r] >= 0 {
				return gbdt.Tree{}, fmt.Errorf("node %d has bad children %d, %d", old, l, r)
			}
			newID[l], newID[r] = int32(len(order)), int32(len(order)+1)
			order = append(order, l, r)
		}
	}
	nodes := make([]gbdt.Node, len(order))
	for newIdx, old := range order {
		nd := gbdt.Node{Feature: -1}
		if i := int(old); i < len(tj.Hessian) {
			nd.Cover = tj.Hessian[i]
		}
		if tj.Left[old] < 0 {
			nd.Value = float64(tj.Condition[old])
		} else {
			nd.Feature = tj.Index[old]
			nd.Threshold = tj.Condition[old]
			nd.Left, nd.Right = newID[tj.Left[old]], newID[tj.Right[old]]
			nd.DefaultLeft = tj.Default[old] == 1
			if i := int(old); i < len(tj.LossChange) {
				nd.Gain = tj.LossChange[i]
			}
		}
		nodes[newIdx] = nd
	}
	return gbdt.Tree{Nodes: nodes}, nil
}
