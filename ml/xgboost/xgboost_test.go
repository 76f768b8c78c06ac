package xgboost

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/ml"
)

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
	inputs := readCSV(t, "testdata/inputs.csv")
	for _, tc := range []struct {
		name string
		task ml.Task
	}{{"binary", ml.Binary}, {"regression", ml.Regression}, {"multiclass", ml.Multiclass}} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tc.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, _, err := Import(f)
			if err != nil {
				t.Fatal(err)
			}
			if m.Task != tc.task {
				t.Fatalf("task %q", m.Task)
			}
			want := readCSV(t, filepath.Join("testdata", tc.name+".pred.csv"))
			row := make([]float32, len(inputs[0]))
			out := make([]float64, m.Outputs())
			worst := 0.0
			for r, in := range inputs {
				for i, v := range in {
					row[i] = float32(v)
				}
				m.PredictRow(row, out)
				for j := range out {
					d := math.Abs(out[j]-want[r][j]) / math.Max(1, math.Abs(want[r][j]))
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
			if _, _, err := Import(strings.NewReader(js)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
