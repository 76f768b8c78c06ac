// Command smalldata compares Sluice's GBDT defaults with XGBoost's on
// small tables: scikit-learn's bundled data sets and the public-style
// tables of `bench/gendata -small`, by 5-fold cross-validation (fold k:
// the rows whose index is k mod 5; the files are in random order). The
// XGBoost figures come from bench/small.py, given as JSON. It prints a
// Markdown table.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/sources"
)

// Tables are the benchmark's tables and their tasks.
var Tables = []struct{ Name, Task string }{
	{"breast_cancer", "binary"}, {"churn", "binary"}, {"credit", "binary"}, {"hr", "binary"},
	{"mixed-1", "binary"}, {"mixed-2", "binary"}, {"mixed-3", "binary"},
	{"wine", "multiclass"}, {"iris", "multiclass"}, {"digits", "multiclass"},
	{"diabetes", "regression"},
}

func main() {
	dir := flag.String("data", "bench/data/small", "folder of the tables")
	ref := flag.String("ref", "", "bench/small.py's XGBoost figures (JSON)")
	list := flag.Bool("list", false, "print the tables as NAME:TASK for bench/small.py and exit")
	flag.Parse()
	if *list {
		for _, t := range Tables {
			fmt.Printf("%s:%s ", t.Name, t.Task)
		}
		fmt.Println()
		return
	}
	if err := run(*dir, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "smalldata:", err)
		os.Exit(1)
	}
}

// variants are the Sluice settings compared: the defaults, and the
// defaults before early stopping (100 trees).
var variants = []struct {
	name   string
	params map[string]string
}{
	{"Sluice defaults", map[string]string{}},
	{"Sluice, 100 trees (earlier defaults)", map[string]string{"trees": "100"}},
}

func run(dir, refPath string) error {
	xgb := map[string]float64{}
	if refPath != "" {
		js, err := os.ReadFile(refPath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(js, &xgb); err != nil {
			return fmt.Errorf("reading %s: %w", refPath, err)
		}
	}
	head := []string{"table", "rows × features", "metric"}
	for _, v := range variants {
		head = append(head, v.name)
	}
	head = append(head, "XGBoost 1.7 defaults", "Sluice defaults − XGBoost (+ is better)")
	fmt.Println("| " + strings.Join(head, " | ") + " |")
	fmt.Println(strings.Repeat("|---", len(head)) + "|")
	var wins, n int
	var gain float64
	for _, t := range Tables {
		task := ml.Task(t.Task)
		d, err := sources.ReadDataset(context.Background(), filepath.Join(dir, t.Name+".csv"), ml.ArrowOptions{Label: "y", Task: task}, nil)
		if err != nil {
			return err
		}
		metric, higherBetter := "AUC", true
		switch task {
		case ml.Multiclass:
			metric, higherBetter = "log loss", false
		case ml.Regression:
			metric, higherBetter = "RMSE", false
		}
		row := []string{t.Name, fmt.Sprintf("%d × %d", d.Rows(), len(d.Features)), metric}
		var first float64
		for i, v := range variants {
			m, err := crossValidate(d, task, v.params)
			if err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
			if i == 0 {
				first = m
			}
			row = append(row, fmt.Sprintf("%.4f", m))
		}
		ref, ok := xgb[t.Name]
		if !ok {
			row = append(row, "", "")
		} else {
			diff := first - ref
			if !higherBetter {
				diff = -diff
			}
			row = append(row, fmt.Sprintf("%.4f", ref), fmt.Sprintf("%+.4f", diff))
			n++
			if diff >= 0 {
				wins++
			}
			// Relative, so tables of different metrics average fairly.
			gain += diff / ref
		}
		fmt.Println("| " + strings.Join(row, " | ") + " |")
	}
	if n > 0 {
		fmt.Printf("\nSluice's defaults are at least as good as XGBoost's on %d of %d tables; mean relative difference %+.2f%% (+ is better).\n",
			wins, n, 100*gain/float64(n))
	}
	return nil
}

// crossValidate is the mean test metric over 5 folds: AUC, multiclass log
// loss or RMSE.
func crossValidate(d *ml.Dataset, task ml.Task, params map[string]string) (float64, error) {
	var sum float64
	for k := range 5 {
		var trainRows, testRows []int
		for r := range d.Rows() {
			if r%5 == k {
				testRows = append(testRows, r)
			} else {
				trainRows = append(trainRows, r)
			}
		}
		train, test := trainer.Take(d, trainRows), trainer.Take(d, testRows)
		a, err := trainer.Train(context.Background(), train, nil, trainer.Spec{Task: task, Algorithm: artifact.GBDT, Label: "y", Params: params})
		if err != nil {
			return 0, err
		}
		preds, err := a.Predict(trainer.Columns2D(test), 0)
		if err != nil {
			return 0, err
		}
		ms, err := metrics.Evaluate(string(task), test.Labels, preds, a.Outputs())
		if err != nil {
			return 0, err
		}
		switch task {
		case ml.Binary:
			sum += ms["auc"]
		case ml.Multiclass:
			sum += ms["logloss"]
		default:
			sum += ms["rmse"]
		}
	}
	return sum / 5, nil
}
