package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/sources"
)

// writeMixedCSV writes a churn-like table: numeric, categorical (strings)
// and boolean columns, missing cells, and a string label.
func writeMixedCSV(t *testing.T, path string, n int, seed uint64) {
	writeMixedCSVWithIDs(t, path, n, seed, "C")
}

func writeMixedCSVWithIDs(t *testing.T, path string, n int, seed uint64, idPrefix string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("customer_id,tenure_months,monthly_charges,plan,autopay,churned\n")
	plans := []string{"basic", "pro", "max"}
	for i := range n {
		tenure := rng.IntN(72)
		charges := 20 + rng.Float64()*80
		plan := plans[rng.IntN(3)]
		autopay := rng.IntN(2) == 1
		z := -0.04*float64(tenure) + 0.03*charges - 1
		if plan == "basic" {
			z += 1
		}
		if autopay {
			z -= 0.8
		}
		label := "stayed"
		if rng.Float64() < 1/(1+math.Exp(-z)) {
			label = "churned"
		}
		chargesCell := strconv.FormatFloat(charges, 'f', 2, 64)
		if rng.Float64() < 0.05 {
			chargesCell = ""
		}
		fmt.Fprintf(&b, "%s%d,%d,%s,%s,%v,%s\n", idPrefix, i, tenure, chargesCell, plan, autopay, label)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	code, out := runInProcess(t, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func TestMLCommandsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	train, test := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	writeMixedCSV(t, train, 3000, 1)
	writeMixedCSVWithIDs(t, test, 1000, 2, "T") // customers unseen in training
	model := filepath.Join(dir, "churn.sluice")

	// customer_id is a high-cardinality string column: noise the model
	// must survive.
	out := run(t, "ml", "train", "-data", train, "-label", "churned", "-task", "binary",
		"-param", "trees=60", "-param", "max_depth=4", "-valid-fraction", "0.2", "-o", model)
	if !strings.Contains(out, "auc") {
		t.Fatalf("train printed no metrics:\n%s", out)
	}
	if _, err := os.Stat(model + ".json"); err != nil {
		t.Errorf("no JSON dump: %v", err)
	}

	out = run(t, "ml", "eval", "-model", model, "-data", test)
	auc := metricFrom(t, out, "auc")
	if auc < 0.7 {
		t.Errorf("test AUC %v:\n%s", auc, out)
	}

	for _, ext := range []string{"csv", "parquet"} {
		pred := filepath.Join(dir, "pred."+ext)
		run(t, "ml", "predict", "-model", model, "-data", test, "-o", pred)
		recs, err := sources.ReadFile(context.Background(), pred, sources.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := recs[0].NumRows(); got != 1000 || recs[0].Schema().Field(1).Name != "label" {
			t.Errorf("%s: %d rows, schema %v", ext, got, recs[0].Schema())
		}
	}

	out = run(t, "ml", "inspect", model)
	for _, want := range []string{"binary", "gbdt", "plan", "categorical (3 categories)", "churned"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect lacks %q:\n%s", want, out)
		}
	}

	linearModel := filepath.Join(dir, "linear.sluice")
	run(t, "ml", "train", "-data", train, "-label", "churned", "-algorithm", "linear", "-valid", test, "-o", linearModel)
	if auc := metricFrom(t, run(t, "ml", "eval", "-model", linearModel, "-data", test), "auc"); auc < 0.7 {
		t.Errorf("linear test AUC %v", auc)
	}

	// Parquet in.
	pq := filepath.Join(dir, "train.parquet")
	if err := sources.WriteFile(pq, []sources.Column{
		{Name: "x", Values: []float64{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "y", Values: []float64{0, 0, 0, 1, 0, 1, 1, 1}},
	}); err != nil {
		t.Fatal(err)
	}
	run(t, "ml", "train", "-data", pq, "-label", "y", "-param", "trees=3", "-param", "min_child_weight=0", "-o", filepath.Join(dir, "pq.sluice"))
}

// TestMLReadsMissingValues pins the null rule of the files `sluice ml`
// reads, which is ingest's: an empty cell, NA, null and NULL are missing
// in every column, NaN and nan in a number column (and any NaN a number
// column holds reads as missing too). A column with no values reads as
// numbers. A Parquet file written from the same columns reads as the same
// dataset.
func TestMLReadsMissingValues(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nulls.csv")
	body := "x,plan,paid,n,day,none,y\n" +
		"1.5,pro,true,1,2026-11-01,,0\n" +
		",,,,,,1\n" +
		"NA,NA,NA,NA,NA,NA,0\n" +
		"null,null,null,null,null,null,1\n" +
		"NULL,NULL,NULL,NULL,NULL,NULL,0\n" +
		" NaN ,NaN,false,nan,2026-11-02,,1\n" +
		"NAN,nan,TRUE,2,2026-11-01,,0\n" +
		"-2e3,basic,False,3,2026-11-03,,1\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := sources.ReadDataset(context.Background(), path, ml.ArrowOptions{Label: "y", Task: ml.Binary}, nil)
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	want := []struct {
		name       string
		kind       ml.Kind
		categories []string
		values     []float64
	}{
		{"x", ml.Numeric, nil, []float64{1.5, nan, nan, nan, nan, nan, nan, -2000}},
		// NaN and nan are missing numbers, but text in a text column.
		{"plan", ml.Categorical, []string{"NaN", "basic", "nan", "pro"}, []float64{3, nan, nan, nan, nan, 0, 2, 1}},
		{"paid", ml.Numeric, nil, []float64{1, nan, nan, nan, nan, 0, 1, 0}},
		// Whole numbers are numbers; dates are categories.
		{"n", ml.Numeric, nil, []float64{1, nan, nan, nan, nan, nan, 2, 3}},
		{"day", ml.Categorical, []string{"2026-11-01", "2026-11-02", "2026-11-03"}, []float64{0, nan, nan, nan, nan, 1, 0, 2}},
		// A column with no values is a number column, all missing.
		{"none", ml.Numeric, nil, []float64{nan, nan, nan, nan, nan, nan, nan, nan}},
	}
	if len(d.Features) != len(want) {
		t.Fatalf("%d features, want %d", len(d.Features), len(want))
	}
	for i, w := range want {
		f := d.Features[i]
		if f.Name != w.name || f.Kind != w.kind || strings.Join(f.Categories, "|") != strings.Join(w.categories, "|") {
			t.Errorf("feature %d: %s kind %d categories %q, want %s kind %d %q", i, f.Name, f.Kind, f.Categories, w.name, w.kind, w.categories)
			continue
		}
		for r, v := range w.values {
			if got := float64(f.Values[r]); got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
				t.Errorf("%s row %d: %v, want %v", w.name, r, got, v)
			}
		}
	}

	// The same numbers through Parquet, NaN written as null.
	cols := make([]sources.Column, 0, 2)
	for _, name := range []string{"x", "y"} {
		c := sources.Column{Name: name}
		for _, v := range want[0].values {
			if name == "y" {
				v = float64(len(c.Values) % 2)
			}
			c.Values = append(c.Values, v)
		}
		cols = append(cols, c)
	}
	for _, ext := range []string{"csv", "parquet"} {
		p := filepath.Join(dir, "x."+ext)
		if err := sources.WriteFile(p, cols); err != nil {
			t.Fatal(err)
		}
		d, err := sources.ReadDataset(context.Background(), p, ml.ArrowOptions{Label: "y", Task: ml.Binary}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Rows() != len(want[0].values) || len(d.Features) != 1 {
			t.Fatalf("%s: %d rows, %d features", ext, d.Rows(), len(d.Features))
		}
		for r, v := range want[0].values {
			if got := float64(d.Features[0].Values[r]); got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
				t.Errorf("%s: x row %d: %v, want %v", ext, r, got, v)
			}
			if d.Labels[r] != float32(r%2) {
				t.Errorf("%s: label row %d: %v", ext, r, d.Labels[r])
			}
		}
	}
}

// TestMLRefusesRowsThatDoNotParse: a row the reader rejects (here text in
// a column whose first rows are numbers) fails the read, naming its line,
// rather than dropping out of the dataset.
func TestMLRefusesRowsThatDoNotParse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "late.csv")
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "%d,%d\n", i, i%2)
	}
	b.WriteString("oops,1\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := sources.ReadDataset(context.Background(), path, ml.ArrowOptions{Label: "y", Task: ml.Binary}, nil)
	if err == nil || !strings.Contains(err.Error(), `line 5002 does not parse: column x: not a number`) {
		t.Errorf("got %v", err)
	}
}

func TestMLTrainRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	train := filepath.Join(dir, "train.csv")
	writeMixedCSV(t, train, 200, 1)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"ml", "train", "-data", train}, "-label are required"},
		{[]string{"ml", "train", "-data", train, "-label", "nope"}, `no label column "nope"`},
		{[]string{"ml", "train", "-data", train, "-label", "churned", "-param", "depth=3"}, `unknown gbdt parameter "depth"`},
		{[]string{"ml", "train", "-data", train, "-label", "churned", "-task", "regression"}, "must be numeric"},
		{[]string{"ml", "train", "-data", filepath.Join(dir, "x.txt"), "-label", "y"}, "use .csv or .parquet"},
		{[]string{"ml", "predict", "-model", train, "-data", train, "-o", filepath.Join(dir, "o.csv")}, "not a valid model artifact"},
	}
	for _, tt := range tests {
		code, out := runInProcess(t, tt.args...)
		if code == 0 || !strings.Contains(out, tt.want) {
			t.Errorf("sluice %s: exit %d, %q; want an error containing %q", strings.Join(tt.args, " "), code, out, tt.want)
		}
	}
}

// TestImportXGBoostServesXGBoostsPredictions imports the XGBoost fixture
// and scores its inputs through the CLI.
func TestImportXGBoostServesXGBoostsPredictions(t *testing.T) {
	dir := t.TempDir()
	fixtures := filepath.Join("..", "..", "ml", "xgboost", "testdata")
	model := filepath.Join(dir, "xgb.sluice")
	run(t, "ml", "import-xgboost", filepath.Join(fixtures, "binary.json"), "-o", model)

	raw, err := os.ReadFile(filepath.Join(fixtures, "inputs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	inputs := filepath.Join(dir, "inputs.csv")
	body := "f0,f1,f2,f3,f4\n" + strings.ReplaceAll(string(raw), "nan", "")
	if err := os.WriteFile(inputs, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	predictLikeXGBoost(t, model, inputs, filepath.Join(fixtures, "binary.pred.csv"))
}

// TestImportXGBoostCategorical imports the categorical fixture with its
// categories and scores a CSV of category names (and missing values)
// through the CLI: XGBoost's predictions, through Sluice's encoding.
func TestImportXGBoostCategorical(t *testing.T) {
	dir := t.TempDir()
	fixtures := filepath.Join("..", "..", "ml", "xgboost", "testdata")
	model := filepath.Join(dir, "xgb.sluice")
	run(t, "ml", "import-xgboost", filepath.Join(fixtures, "categorical.json"),
		"-categories", filepath.Join(fixtures, "categorical.categories.json"), "-o", model)

	catJSON, err := os.ReadFile(filepath.Join(fixtures, "categorical.categories.json"))
	if err != nil {
		t.Fatal(err)
	}
	var levels map[string][]string
	if err := json.Unmarshal(catJSON, &levels); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(fixtures, "categorical.inputs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("x0,small,large,x1\n")
	name := func(col, code string) string {
		if code == "nan" {
			return ""
		}
		i, err := strconv.Atoi(code)
		if err != nil {
			t.Fatal(err)
		}
		return levels[col][i]
	}
	for _, r := range recs {
		fmt.Fprintf(&b, "%s,%s,%s,%s\n", strings.ReplaceAll(r[0], "nan", ""), name("small", r[1]), name("large", r[2]), strings.ReplaceAll(r[3], "nan", ""))
	}
	inputs := filepath.Join(dir, "inputs.csv")
	if err := os.WriteFile(inputs, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	predictLikeXGBoost(t, model, inputs, filepath.Join(fixtures, "categorical.pred.csv"))
	if out := run(t, "ml", "inspect", model); !strings.Contains(out, "categorical") {
		t.Fatalf("inspect does not show the categorical features:\n%s", out)
	}
}

// predictLikeXGBoost scores inputs with the imported model through the
// CLI and compares with XGBoost's predictions in want.
func predictLikeXGBoost(t *testing.T, model, inputs, want string) {
	t.Helper()
	preds := filepath.Join(t.TempDir(), "preds.csv")
	run(t, "ml", "predict", "-model", model, "-data", inputs, "-o", preds)
	got := readColumn(t, preds, 0, true)
	xgb := readColumn(t, want, 0, false)
	if len(got) != len(xgb) {
		t.Fatalf("%d predictions, want %d", len(got), len(xgb))
	}
	for i := range got {
		if math.Abs(got[i]-xgb[i]) > 1e-6 {
			t.Fatalf("row %d: %v, XGBoost %v", i, got[i], xgb[i])
		}
	}
}

func readColumn(t *testing.T, path string, col int, header bool) []float64 {
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
	if header {
		recs = recs[1:]
	}
	var out []float64
	for _, r := range recs {
		v, err := strconv.ParseFloat(r[col], 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func metricFrom(t *testing.T, out, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s in:\n%s", name, out)
	return 0
}
