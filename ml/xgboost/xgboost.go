// Package xgboost imports models that XGBoost saved as JSON
// (Booster.save_model("m.json")): binary:logistic, reg:squarederror and
// multi:softprob / multi:softmax tree models with numeric splits and
// categorical ones (enable_categorical).
package xgboost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
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
		FeatureTypes []string `json:"feature_types"`
	} `json:"learner"`
}

type treeJSON struct {
	Left       []int32       `json:"left_children"`
	Right      []int32       `json:"right_children"`
	Index      []int32       `json:"split_indices"`
	Condition  []finiteFloat `json:"split_conditions"`
	Default    []int         `json:"default_left"`
	SplitType  []int         `json:"split_type"`
	Hessian    []float64     `json:"sum_hessian"`
	LossChange []float64     `json:"loss_changes"`
	// A categorical split's node id is in CatNodes; the category codes
	// that go right are Categories[CatSegments[j]:][:CatSizes[j]].
	Categories  []int64 `json:"categories"`
	CatNodes    []int32 `json:"categories_nodes"`
	CatSegments []int64 `json:"categories_segments"`
	CatSizes    []int64 `json:"categories_sizes"`
}

// Feature is one of an imported model's inputs. Categories is nil for a
// numeric feature; for a categorical one it lists the categories in
// XGBoost's code order, so a category's code is its index.
type Feature struct {
	Name       string
	Categories []string
}

// maxCategoryGroups is how many groups of categories one feature's splits
// may tell apart for its categories to map to bins (gbdt's 255); past it
// the feature's splits test the category codes themselves.
const maxCategoryGroups = 255

// Import reads an XGBoost JSON model. Numeric splits keep XGBoost's rule
// (x < condition goes left; missing follows default_left), categorical
// splits its sets (the categories listed go right, the others left,
// missing follows default_left), and leaves their values, so predictions
// match XGBoost's.
//
// categories names each categorical feature's categories in XGBoost's code
// order (pandas' Series.cat.categories when it was trained from pandas):
// XGBoost 1.7 saves the codes, not the names. It may be nil for a model
// with no categorical features.
func Import(r io.Reader, categories map[string][]string) (*gbdt.Model, []Feature, error) {
	var mj modelJSON
	js, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, nil, fmt.Errorf("xgboost: reading JSON model: %w", err)
	}
	if err := json.Unmarshal(quoteNonFinite(js), &mj); err != nil {
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
	if err := setObjective(m, l.Objective.Name, base, l.Params.NumClass, len(l.Booster.Model.Trees)); err != nil {
		return nil, nil, err
	}
	k := m.Outputs()
	trees := l.Booster.Model.Trees
	info := l.Booster.Model.TreeInfo
	if len(info) != len(trees) || len(trees)%k != 0 {
		return nil, nil, fmt.Errorf("xgboost: %d trees with %d tree_info entries for %d outputs", len(trees), len(info), k)
	}
	features, err := describeFeatures(nf, l.FeatureNames, l.FeatureTypes, categories)
	if err != nil {
		return nil, nil, err
	}
	sets := make([]map[int32][]int64, len(trees))
	for i, tj := range trees {
		if info[i] != i%k {
			return nil, nil, fmt.Errorf("%w: tree %d is for output %d, expected round-major order", ErrUnsupported, i, info[i])
		}
		if sets[i], err = categorySets(tj, features); err != nil {
			return nil, nil, fmt.Errorf("xgboost: tree %d: %w", i, err)
		}
	}
	if m.CategoryBins, err = groupCategories(trees, sets, features); err != nil {
		return nil, nil, err
	}
	for i, tj := range trees {
		t, err := convertTree(tj, sets[i], m.CategoryBins, features)
		if err != nil {
			return nil, nil, fmt.Errorf("xgboost: tree %d: %w", i, err)
		}
		m.Trees = append(m.Trees, t)
	}
	m.BestRound = len(m.Trees) / k
	if err := m.Validate(); err != nil {
		return nil, nil, fmt.Errorf("xgboost: %w", err)
	}
	return m, features, nil
}

// describeFeatures names the model's features (f0, f1, … where the file
// names none) and gives each categorical one ("c" in feature_types) its
// categories.
func describeFeatures(nf int, names, types []string, categories map[string][]string) ([]Feature, error) {
	if len(names) != 0 && len(names) != nf {
		return nil, fmt.Errorf("xgboost: %d feature names for %d features", len(names), nf)
	}
	if len(types) != 0 && len(types) != nf {
		return nil, fmt.Errorf("xgboost: %d feature types for %d features", len(types), nf)
	}
	if nf > maxFeatures && len(names) == 0 {
		// Only reachable through the bound check's exception; keep the
		// allocation below tied to what the file holds.
		return nil, fmt.Errorf("xgboost: num_feature %d is over %d", nf, maxFeatures)
	}
	features := make([]Feature, nf)
	var missing []string
	used := 0
	for i := range features {
		features[i].Name = fmt.Sprintf("f%d", i)
		if len(names) > 0 {
			features[i].Name = names[i]
		}
		if len(types) == 0 || types[i] != "c" {
			continue
		}
		cats, ok := categories[features[i].Name]
		if !ok {
			missing = append(missing, features[i].Name)
			continue
		}
		if cats == nil {
			cats = []string{}
		}
		features[i].Categories = cats
		used++
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("xgboost: categorical features %q need their categories in XGBoost's code order (pandas' cat.categories): XGBoost's JSON model holds only the codes", missing)
	}
	if used != len(categories) {
		var extra []string
		for name := range categories {
			if !isCategorical(features, name) {
				extra = append(extra, name)
			}
		}
		sort.Strings(extra)
		return nil, fmt.Errorf("xgboost: categories given for %q, which the model does not have as categorical features", extra)
	}
	return features, nil
}

func isCategorical(features []Feature, name string) bool {
	for _, f := range features {
		if f.Name == name && f.Categories != nil {
			return true
		}
	}
	return false
}

// categorySets returns the category codes that go right at each of a
// tree's categorical splits, by XGBoost node id.
func categorySets(tj treeJSON, features []Feature) (map[int32][]int64, error) {
	n := len(tj.Left)
	if len(tj.SplitType) != 0 && len(tj.SplitType) != n {
		return nil, fmt.Errorf("%d split types for %d nodes", len(tj.SplitType), n)
	}
	if len(tj.CatSegments) != len(tj.CatNodes) || len(tj.CatSizes) != len(tj.CatNodes) {
		return nil, errors.New("categories_nodes, categories_segments and categories_sizes differ in length")
	}
	var sets map[int32][]int64
	for j, node := range tj.CatNodes {
		if node < 0 || int(node) >= n || len(tj.Index) != n || tj.Left[node] < 0 || len(tj.SplitType) == 0 || tj.SplitType[node] != 1 {
			return nil, fmt.Errorf("categories listed for node %d, which is not a categorical split", node)
		}
		seg, size := tj.CatSegments[j], tj.CatSizes[j]
		if seg < 0 || size < 0 || seg > int64(len(tj.Categories)) || size > int64(len(tj.Categories))-seg {
			return nil, fmt.Errorf("node %d's categories [%d, +%d) are outside the %d listed", node, seg, size, len(tj.Categories))
		}
		f := tj.Index[node]
		if f < 0 || int(f) >= len(features) {
			return nil, fmt.Errorf("node %d splits on feature %d of %d", node, f, len(features))
		}
		cats := features[f].Categories
		if cats == nil {
			return nil, fmt.Errorf("node %d splits %q by category, but feature_types does not mark it categorical", node, features[f].Name)
		}
		set := tj.Categories[seg : seg+size]
		for _, c := range set {
			if c < 0 || c >= int64(len(cats)) {
				return nil, fmt.Errorf("node %d sends category code %d of %q right, but %d categories were given for it", node, c, features[f].Name, len(cats))
			}
		}
		if sets == nil {
			sets = map[int32][]int64{}
		}
		if _, dup := sets[node]; dup {
			return nil, fmt.Errorf("node %d's categories are listed twice", node)
		}
		sets[node] = set
	}
	for i, st := range tj.SplitType {
		if tj.Left[i] < 0 {
			continue
		}
		if f := tj.Index[i]; st == 0 && f >= 0 && int(f) < len(features) && features[f].Categories != nil {
			// Sluice reads a categorical feature as its bin or code,
			// which a threshold cannot test as XGBoost would.
			return nil, fmt.Errorf("%w: node %d splits categorical feature %q by a threshold", ErrUnsupported, i, features[f].Name)
		}
		if st == 0 {
			continue
		}
		if st != 1 {
			return nil, fmt.Errorf("%w: split type %d at node %d", ErrUnsupported, st, i)
		}
		if _, ok := sets[int32(i)]; !ok {
			return nil, fmt.Errorf("categorical split at node %d lists no categories", i)
		}
	}
	return sets, nil
}

// groupCategories maps each categorical feature's codes to bins: codes
// that every split of the feature sends the same way share a bin, so each
// split is a set of bins. A feature whose splits tell more than 255 groups
// apart gets no bins: its splits test codes (gbdt.Node.RightCodes).
func groupCategories(trees []treeJSON, sets []map[int32][]int64, features []Feature) ([][]uint8, error) {
	var bins [][]uint8
	group := make([][]int32, len(features))
	groups := make([]int, len(features))
	for i, tj := range trees {
		nodes := make([]int32, 0, len(sets[i]))
		for node := range sets[i] {
			nodes = append(nodes, node)
		}
		slices.Sort(nodes) // the same bins on every import
		for _, node := range nodes {
			set := sets[i][node]
			f := tj.Index[node]
			if group[f] == nil {
				group[f] = make([]int32, len(features[f].Categories))
				groups[f] = 1
			}
			// Refine: a group splits in two when the set takes part of it.
			in := make(map[int32]bool, len(set))
			for _, c := range set {
				in[group[f][c]] = true
			}
			moved := map[int32]int32{}
			inSet := make(map[int64]bool, len(set))
			for _, c := range set {
				inSet[c] = true
			}
			for c, g := range group[f] {
				if !in[g] || inSet[int64(c)] {
					continue
				}
				ng, ok := moved[g]
				if !ok {
					ng = int32(groups[f])
					moved[g] = ng
					groups[f]++
				}
				group[f][c] = ng
			}
		}
	}
	for f, g := range group {
		if g == nil || groups[f] > maxCategoryGroups {
			continue
		}
		if bins == nil {
			bins = make([][]uint8, len(features))
		}
		bins[f] = make([]uint8, len(g))
		for c, id := range g {
			bins[f][c] = uint8(id)
		}
	}
	return bins, nil
}

// finiteFloat is a split condition: a number, or one of the words
// quoteNonFinite quoted.
type finiteFloat float32

func (f *finiteFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = finiteFloat(math.NaN())
	case `"Infinity"`:
		*f = finiteFloat(math.Inf(1))
	case `"-Infinity"`:
		*f = finiteFloat(math.Inf(-1))
	default:
		var v float32
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = finiteFloat(v)
	}
	return nil
}

// quoteNonFinite turns the NaN, Infinity and -Infinity that XGBoost writes
// as bare words (a categorical split's condition is NaN) into strings,
// which encoding/json reads into finiteFloat.
func quoteNonFinite(js []byte) []byte {
	if !bytes.Contains(js, []byte("NaN")) && !bytes.Contains(js, []byte("Infinity")) {
		return js
	}
	out := make([]byte, 0, len(js)+64)
	inString, escaped := false, false
	for i := 0; i < len(js); i++ {
		c := js[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			out = append(out, c)
			continue
		}
		if c == '"' {
			inString = true
		}
		word := ""
		for _, w := range []string{"NaN", "Infinity", "-Infinity"} {
			if bytes.HasPrefix(js[i:], []byte(w)) {
				word = w
				break
			}
		}
		if word == "" {
			out = append(out, c)
			continue
		}
		out = append(out, '"')
		out = append(out, word...)
		out = append(out, '"')
		i += len(word) - 1
	}
	return out
}

// convertTree renumbers XGBoost's nodes breadth-first, so children follow
// their parents as gbdt.Model requires.
// sets holds its categorical splits' right-hand codes and catBins the
// model's category bins.
func convertTree(tj treeJSON, sets map[int32][]int64, catBins [][]uint8, features []Feature) (gbdt.Tree, error) {
	n := len(tj.Left)
	if n == 0 || len(tj.Right) != n || len(tj.Index) != n || len(tj.Condition) != n || len(tj.Default) != n {
		return gbdt.Tree{}, errors.New("node arrays differ in length")
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
			nd.Threshold = float32(tj.Condition[old])
			nd.Left, nd.Right = newID[tj.Left[old]], newID[tj.Right[old]]
			nd.DefaultLeft = tj.Default[old] == 1
			if set, ok := sets[old]; ok {
				nd.Categorical, nd.Threshold = true, 0
				if int(nd.Feature) < len(catBins) && catBins[nd.Feature] != nil {
					nd.LeftBins = leftBins(set, catBins[nd.Feature], nd.DefaultLeft)
				} else {
					nd.RightCodes = rightCodes(set)
				}
			}
			if i := int(old); i < len(tj.LossChange) {
				nd.Gain = tj.LossChange[i]
			}
		}
		nodes[newIdx] = nd
	}
	return gbdt.Tree{Nodes: nodes}, nil
}

// rightCodes is the bit set of a categorical split's right-hand codes,
// as long as its largest code needs.
func rightCodes(right []int64) []uint64 {
	largest := int64(-1)
	for _, c := range right {
		largest = max(largest, c)
	}
	set := make([]uint64, (largest+64)/64)
	for _, c := range right {
		set[c>>6] |= 1 << (c & 63)
	}
	return set
}

// leftBins is the bin set of a categorical split that sends the codes in
// right one way and every other code the other: its groups share no bin
// with the others' (groupCategories). Missing values have the last bin.
func leftBins(right []int64, codeBin []uint8, defaultLeft bool) gbdt.BinSet {
	var r, l gbdt.BinSet
	for _, c := range right {
		r.Add(codeBin[c])
	}
	for b := range maxCategoryGroups {
		if !r.Has(uint8(b)) {
			l.Add(uint8(b))
		}
	}
	if defaultLeft {
		l.Add(gbdt.MissingBin)
	}
	return l
}

// ReadCategories reads a JSON object naming each categorical feature's
// categories in XGBoost's code order, as bench/xgb_shapes.py writes it:
// {"colour": ["blue", "green"], "size": [1, 2, 3]}. Numbers are kept as
// they are written, which is how a CSV column of them reads as strings.
func ReadCategories(r io.Reader) (map[string][]string, error) {
	var raw map[string][]json.RawMessage
	dec := json.NewDecoder(io.LimitReader(r, 1<<30))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("xgboost: categories: want an object of arrays: %w", err)
	}
	out := make(map[string][]string, len(raw))
	for name, vals := range raw {
		cats := make([]string, len(vals))
		seen := make(map[string]bool, len(vals))
		for i, v := range vals {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				var n json.Number
				if err := json.Unmarshal(v, &n); err != nil {
					return nil, fmt.Errorf("xgboost: categories of %q: item %d is %s, not a string or number", name, i, v)
				}
				s = n.String()
			}
			if seen[s] {
				return nil, fmt.Errorf("xgboost: categories of %q: %q is listed twice", name, s)
			}
			seen[s] = true
			cats[i] = s
		}
		out[name] = cats
	}
	return out, nil
}

// setObjective sets the model's task, classes and base scores from the
// learner's objective, base_score and num_class (trees bounds the classes).
func setObjective(m *gbdt.Model, objective string, base float64, numClass string, trees int) error {
	switch objective {
	case "binary:logistic":
		if !(base > 0 && base < 1) {
			return fmt.Errorf("xgboost: binary base_score %v outside (0,1)", base)
		}
		m.Task, m.BaseScore = ml.Binary, []float64{math.Log(base / (1 - base))}
	case "reg:squarederror":
		m.Task, m.BaseScore = ml.Regression, []float64{base}
	case "multi:softprob", "multi:softmax":
		k, err := strconv.Atoi(numClass)
		if err != nil || k < 2 {
			return fmt.Errorf("xgboost: num_class %q", numClass)
		}
		if k > max(trees, maxClassesWithoutTrees) {
			return fmt.Errorf("xgboost: num_class %d for %d trees", k, trees)
		}
		m.Task, m.NumClass, m.BaseScore = ml.Multiclass, k, make([]float64, k)
		for j := range m.BaseScore {
			m.BaseScore[j] = base
		}
	default:
		return fmt.Errorf("%w: objective %q (want binary:logistic, reg:squarederror or multi:softprob)", ErrUnsupported, objective)
	}
	return nil
}
