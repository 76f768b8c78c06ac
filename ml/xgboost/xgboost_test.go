package xgboost

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/gbdt"
)

func hasCategoricalSplit(m *gbdt.Model) bool {
	for _, t := range m.Trees {
		for _, n := range t.Nodes {
			if n.Categorical {
				return true
			}
		}
	}
	return false
}

func readCSV(t *testing.T, path string) [][]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]float64, len(recs))
	for i, rec := range recs {
		for _, s := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				t.Fatal(err)
			}
			out[i] = append(out[i], v)
		}
	}
	return out
}

// TestPredictionsMatchXGBoost compares with XGBoost's own predictions on
// the fixtures make_fixtures.py wrote (missing values included).
func TestPredictionsMatchXGBoost(t *testing.T) {
	numeric := readCSV(t, "testdata/inputs.csv")
	categorical := readCSV(t, "testdata/categorical.inputs.csv")
	b, err := os.ReadFile("testdata/categorical.categories.json")
	if err != nil {
		t.Fatal(err)
	}
	categories, err := ReadCategories(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		task       ml.Task
		inputs     [][]float64
		categories map[string][]string
	}{
		{"binary", ml.Binary, numeric, nil},
		{"regression", ml.Regression, numeric, nil},
		{"multiclass", ml.Multiclass, numeric, nil},
		{"categorical", ml.Binary, categorical, categories},
		{"categorical-multiclass", ml.Multiclass, categorical, categories},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inputs := tc.inputs
			f, err := os.Open(filepath.Join("testdata", tc.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, features, err := Import(f, tc.categories)
			if err != nil {
				t.Fatal(err)
			}
			for _, ft := range features {
				if want := tc.categories[ft.Name]; !slices.Equal(ft.Categories, want) {
					t.Fatalf("feature %q has categories %q, want %q", ft.Name, ft.Categories, want)
				}
			}
			if tc.categories != nil && !hasCategoricalSplit(m) {
				t.Fatal("no categorical split imported")
			}
			if m.Task != tc.task {
				t.Fatalf("task %q", m.Task)
			}
			want := readCSV(t, filepath.Join("testdata", tc.name+".pred.csv"))
			// Row by row (serving's path) and in a batch (scoring's).
			row := make([]float32, len(inputs[0]))
			cols := make([][]float32, len(inputs[0]))
			for i := range cols {
				cols[i] = make([]float32, len(inputs))
			}
			out := make([]float64, m.Outputs())
			worst := 0.0
			for r, in := range inputs {
				for i, v := range in {
					row[i], cols[i][r] = float32(v), float32(v)
				}
				m.PredictRow(row, out)
				for j := range out {
					d := math.Abs(out[j]-want[r][j]) / math.Max(1, math.Abs(want[r][j]))
					worst = math.Max(worst, d)
				}
			}
			batch, err := m.Predict(cols, 2)
			if err != nil {
				t.Fatal(err)
			}
			k := m.Outputs()
			for r := range inputs {
				for j := range k {
					d := math.Abs(batch[r*k+j]-want[r][j]) / math.Max(1, math.Abs(want[r][j]))
					worst = math.Max(worst, d)
				}
			}
			t.Logf("largest relative difference from XGBoost: %.3g", worst)
			if worst > 1e-6 {
				t.Fatalf("largest difference from XGBoost %.3g, want ≤ 1e-6", worst)
			}
		})
	}
}

func TestRejectsUnsupportedModels(t *testing.T) {
	tests := map[string]string{
		"objective": `{"learner":{"objective":{"name":"rank:pairwise"},"learner_model_param":{"base_score":"0.5","num_feature":"1"},"gradient_booster":{"name":"gbtree","model":{"trees":[],"tree_info":[]}}}}`,
		"booster":   `{"learner":{"objective":{"name":"binary:logistic"},"learner_model_param":{"base_score":"0.5","num_feature":"1"},"gradient_booster":{"name":"gblinear"}}}`,
		"not json":  `{`,
	}
	for name, js := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Import(strings.NewReader(js), nil); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestCategoriesMustMatchTheModel: a categorical model needs every
// categorical feature's categories, enough of them for the codes its
// splits name, and no names it does not have.
func TestCategoriesMustMatchTheModel(t *testing.T) {
	js, err := os.ReadFile("testdata/categorical.json")
	if err != nil {
		t.Fatal(err)
	}
	large := make([]string, 40)
	for i := range large {
		large[i] = "k" + strconv.Itoa(i)
	}
	for name, cats := range map[string]map[string][]string{
		"none":          nil,
		"one missing":   {"small": {"red", "green", "blue"}},
		"too few":       {"small": {"red", "green", "blue"}, "large": large[:5]},
		"unknown name":  {"small": {"red", "green", "blue"}, "large": large, "colour": {"a"}},
		"numeric named": {"small": {"red", "green", "blue"}, "large": large, "x0": {"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Import(bytes.NewReader(js), cats); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
	if _, _, err := Import(bytes.NewReader(js), map[string][]string{"small": {"red", "green", "blue"}, "large": large}); err != nil {
		t.Fatal(err)
	}
}

// chainModel is a one-tree model on one categorical feature "c" with
// levels categories: a chain of splits, split i sending category i right,
// so the splits tell splits+1 groups of categories apart.
func chainModel(splits, levels int) (string, map[string][]string) {
	n := splits
	var left, right, index, def, types, conds, cats, nodes, segs, sizes []string
	for i := range 2*n + 1 {
		switch {
		case i < n:
			next := i + 1
			if i == n-1 {
				next = 2 * n
			}
			left, right = append(left, strconv.Itoa(next)), append(right, strconv.Itoa(n+i))
			types, conds = append(types, "1"), append(conds, "NaN")
			cats, nodes = append(cats, strconv.Itoa(i)), append(nodes, strconv.Itoa(i))
			segs, sizes = append(segs, strconv.Itoa(i)), append(sizes, "1")
		default:
			left, right = append(left, "-1"), append(right, "-1")
			types, conds = append(types, "0"), append(conds, strconv.FormatFloat(float64(i)/1000, 'g', -1, 64))
		}
		index, def = append(index, "0"), append(def, "0")
	}
	list := func(xs []string) string { return "[" + strings.Join(xs, ",") + "]" }
	js := `{"learner":{"objective":{"name":"binary:logistic"},"feature_names":["c"],"feature_types":["c"],` +
		`"learner_model_param":{"base_score":"0.5","num_feature":"1"},"gradient_booster":{"name":"gbtree","model":{"tree_info":[0],"trees":[{` +
		`"left_children":` + list(left) + `,"right_children":` + list(right) + `,"split_indices":` + list(index) +
		`,"split_conditions":` + list(conds) + `,"default_left":` + list(def) + `,"split_type":` + list(types) +
		`,"categories":` + list(cats) + `,"categories_nodes":` + list(nodes) +
		`,"categories_segments":` + list(segs) + `,"categories_sizes":` + list(sizes) + `}]}}}}`
	names := make([]string, levels)
	for i := range names {
		names[i] = "v" + strconv.Itoa(i)
	}
	return js, map[string][]string{"c": names}
}

// TestCategoryGroups: each category the chain separates predicts its own
// leaf, whether the splits' groups fit in bins (255 of them) or the splits
// test codes (256 and more).
func TestCategoryGroups(t *testing.T) {
	for _, splits := range []int{254, 255, 299} {
		js, cats := chainModel(splits, 300)
		m, _, err := Import(strings.NewReader(js), cats)
		if err != nil {
			t.Fatalf("%d splits: %v", splits, err)
		}
		byCode := m.Trees[0].Nodes[0].RightCodes != nil
		if byCode != (splits+1 > 255) {
			t.Errorf("%d splits: split by code %v", splits, byCode)
		}
		// Leaf i's value is i/1000; category c < splits reaches leaf
		// splits+c, the others the chain's end, leaf 2×splits; missing
		// values go right at the first split (default_left 0).
		out := make([]float64, 1)
		cols := [][]float32{make([]float32, 302)}
		want := make([]float64, 302)
		for c := range 300 {
			cols[0][c] = float32(c)
			want[c] = float64(2*splits) / 1000
			if c < splits {
				want[c] = float64(splits+c) / 1000
			}
		}
		cols[0][300], want[300] = float32(math.NaN()), float64(splits)/1000
		cols[0][301], want[301] = 7.5, float64(splits)/1000 // not a code: missing
		batch, err := m.Predict(cols, 1)
		if err != nil {
			t.Fatal(err)
		}
		for r, c := range cols[0] {
			m.PredictRow([]float32{c}, out)
			for _, p := range []float64{out[0], batch[r]} {
				if got := math.Log(p / (1 - p)); math.Abs(got-want[r]) > 1e-6 {
					t.Fatalf("%d splits, category %v: margin %v, want %v", splits, c, got, want[r])
				}
			}
		}
		if byCode {
			// As XGBoost: a code no split lists goes left, past every
			// set too.
			m.PredictRow([]float32{1000}, out)
			if got, want := math.Log(out[0]/(1-out[0])), float64(2*splits)/1000; math.Abs(got-want) > 1e-6 {
				t.Fatalf("%d splits, code 1000: margin %v, want %v", splits, got, want)
			}
		}
		var buf bytes.Buffer
		if err := artifact.Encode(&buf, &artifact.Artifact{Task: m.Task, Algorithm: artifact.GBDT, GBDT: m,
			Features: []artifact.Feature{{Name: "c", Kind: "categorical", Categories: cats["c"]}}}); err != nil {
			t.Fatal(err)
		}
		a, err := artifact.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.GBDT.Trees[0].Nodes[0].RightCodes; !slices.Equal(got, m.Trees[0].Nodes[0].RightCodes) {
			t.Fatalf("%d splits: code set %x after a round trip, want %x", splits, got, m.Trees[0].Nodes[0].RightCodes)
		}
		a.GBDT.PredictRow([]float32{3}, out)
		if got := math.Log(out[0] / (1 - out[0])); math.Abs(got-want[3]) > 1e-6 {
			t.Fatalf("%d splits: decoded model's margin %v, want %v", splits, got, want[3])
		}
	}
}
