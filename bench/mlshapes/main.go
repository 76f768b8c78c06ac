// Command mlshapes runs the ML benchmark's data shapes (written by
// `bench/gendata -shapes all`): for each, `sluice ml train` and XGBoost 1.7
// (bench/xgb_shapes.py, pandas read_csv then xgb.train) train on the same
// CSV file in turn, each in its own process, timed whole and measured for
// peak RSS, and each reporting how long its training alone took. Then each
// model predicts the shape's test file (median of 3 runs) and is scored on
// it. It prints a Markdown table, and a second one from the import check:
// XGBoost's model through `sluice ml import-xgboost`, predicting the test
// file beside XGBoost's own predictions.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/sources"
)

// shape is a benchmark shape as bench/gendata writes it.
type shape struct {
	name, task string
	classes    int
}

var shapes = []shape{
	{"dense", "binary", 0}, {"sparse", "binary", 0}, {"wide", "binary", 0}, {"categorical", "binary", 0},
	{"tall", "binary", 0}, {"regression", "regression", 0}, {"multiclass", "multiclass", 5},
}

func main() {
	dir := flag.String("data", "bench/data/shapes", "folder of the shapes' CSV files")
	only := flag.String("shapes", "all", "shapes to run, comma-separated")
	sluice := flag.String("sluice", "sluice", "the sluice binary")
	python := flag.String("python", "/usr/bin/python3", "Python with xgboost, pandas and scikit-learn")
	script := flag.String("script", "bench/xgb_shapes.py", "XGBoost's side")
	threads := flag.Int("threads", 2, "threads on each side")
	runs := flag.Int("runs", 3, "training runs of each side, taken in turn; the table shows the medians")
	flag.Parse()
	b := &bench{dir: *dir, sluice: *sluice, python: *python, script: *script, threads: *threads, runs: max(1, *runs)}
	var err error
	if b.work, err = os.MkdirTemp("", "mlshapes"); err != nil {
		fail(err)
	}
	defer os.RemoveAll(b.work)
	fmt.Println("| shape | rows × features | side | train s | end-to-end s | peak RSS MiB | test metric | predict rows/s |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, s := range shapes {
		if *only != "all" && !slices.Contains(strings.Split(*only, ","), s.name) {
			continue
		}
		if err := b.run(s); err != nil {
			fail(fmt.Errorf("%s: %w", s.name, err))
		}
	}
	fmt.Println()
	fmt.Println("| shape | XGBoost's model imported | test rows | largest difference from XGBoost's predictions |")
	fmt.Println("|---|---|---|---|")
	for _, line := range b.imports {
		fmt.Println(line)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mlshapes:", err)
	os.Exit(1)
}

type bench struct {
	dir, sluice, python, script, work string
	threads, runs                     int
	imports                           []string // the import check's rows
}

// side is one library's figures on one shape.
type side struct {
	trainS, e2eS, rssMiB float64
	metric               string
	metricVal            float64
	predictRowsPerS      float64
}

func (b *bench) run(s shape) error {
	train := filepath.Join(b.dir, s.name+"-train.csv")
	if _, err := os.Stat(train); err != nil {
		return fmt.Errorf("no data (run go run ./bench/gendata -shapes %s -o %s): %w", s.name, b.dir, err)
	}
	// The sides take turns, so a slow spell of the machine falls on
	// both; the first run of each also predicts and scores.
	var sls, xgs []side
	var rows, feats int
	for i := range b.runs {
		fmt.Fprintf(os.Stderr, "%s: Sluice (run %d of %d)...\n", s.name, i+1, b.runs)
		sl, r, f, err := b.sluiceSide(s, train, i == 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: XGBoost (run %d of %d)...\n", s.name, i+1, b.runs)
		xg, err := b.xgboostSide(s, i == 0)
		if err != nil {
			return err
		}
		if i == 0 {
			rows, feats = r, f
		}
		sls, xgs = append(sls, sl), append(xgs, xg)
	}
	sl, xg := median(sls), median(xgs)
	if err := b.checkImport(s); err != nil {
		return fmt.Errorf("import check: %w", err)
	}
	dims := fmt.Sprintf("%d × %d", rows, feats)
	for _, r := range []struct {
		name string
		v    side
	}{{"Sluice", sl}, {"XGBoost 1.7", xg}} {
		fmt.Printf("| %s | %s | %s | %.2f | %.2f | %.0f | %s %.4f | %.2fM |\n", s.name, dims, r.name,
			r.v.trainS, r.v.e2eS, r.v.rssMiB, r.v.metric, r.v.metricVal, r.v.predictRowsPerS/1e6)
	}
	better := "higher"
	if s.task != "binary" {
		better = "lower"
	}
	fmt.Printf("| %s | | Sluice ÷ XGBoost | **%.2f** | %.2f | **%.2f** | %+.4f (%s is better) | %.2f |\n", s.name,
		sl.trainS/xg.trainS, sl.e2eS/xg.e2eS, sl.rssMiB/xg.rssMiB, sl.metricVal-xg.metricVal, better,
		sl.predictRowsPerS/xg.predictRowsPerS)
	return nil
}

// runTimed runs a command to completion and returns its output, its wall
// time and its peak RSS in MiB.
func (b *bench) runTimed(name string, args ...string) ([]byte, float64, float64, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", b.threads), fmt.Sprintf("OMP_NUM_THREADS=%d", b.threads))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, 0, 0, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	wall := time.Since(start).Seconds()
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return out.Bytes(), wall, float64(ru.Maxrss) / 1024, nil
}

var trainedIn = regexp.MustCompile(`trained in ([0-9.]+) s`)

// median is the runs' median train, end-to-end and RSS figures, with the
// first run's metric and prediction rate.
func median(runs []side) side {
	out := runs[0]
	mid := func(get func(side) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = get(r)
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	out.trainS = mid(func(v side) float64 { return v.trainS })
	out.e2eS = mid(func(v side) float64 { return v.e2eS })
	out.rssMiB = mid(func(v side) float64 { return v.rssMiB })
	return out
}

func (b *bench) sluiceSide(s shape, train string, score bool) (side, int, int, error) {
	model := filepath.Join(b.work, s.name+".sluice")
	out, wall, rss, err := b.runTimed(b.sluice, "ml", "train", "-data", train, "-label", "y", "-task", s.task,
		"-param", "trees=100", "-param", "max_depth=6", "-param", "learning_rate=0.1", "-param", "max_bins=255",
		"-param", fmt.Sprintf("threads=%d", b.threads), "-o", model)
	if err != nil {
		return side{}, 0, 0, err
	}
	m := trainedIn.FindSubmatch(out)
	if m == nil {
		return side{}, 0, 0, fmt.Errorf("no training time in %q", out)
	}
	v := side{e2eS: wall, rssMiB: rss}
	v.trainS, _ = strconv.ParseFloat(string(m[1]), 64)
	if !score {
		return v, 0, 0, nil
	}
	test, a, preds, err := b.predictTest(s, model, 4)
	if err != nil {
		return side{}, 0, 0, err
	}
	v.predictRowsPerS = test.rowsPerS
	ms, err := metrics.Evaluate(s.task, test.Labels, preds, a.Outputs())
	if err != nil {
		return side{}, 0, 0, err
	}
	v.metric, v.metricVal = metricOf(s.task, ms)
	// The training file has 4× the test file's rows.
	return v, 4 * test.Rows(), len(test.Features), nil
}

// testSet is a shape's test file as a model reads it.
type testSet struct {
	*ml.Dataset
	rowsPerS float64 // the median of the timed runs
}

// predictTest reads the shape's test file for the artifact at model and
// predicts it runs times (the first a warm-up when there are several).
func (b *bench) predictTest(s shape, model string, runs int) (testSet, *artifact.Artifact, []float64, error) {
	f, err := os.Open(model)
	if err != nil {
		return testSet{}, nil, nil, err
	}
	a, err := artifact.Decode(bufio.NewReader(f))
	f.Close()
	if err != nil {
		return testSet{}, nil, nil, err
	}
	d, err := sources.ReadDataset(context.Background(), filepath.Join(b.dir, s.name+"-test.csv"),
		ml.ArrowOptions{Label: "y", Task: a.Task, Columns: trainer.ArtifactColumns(a), Classes: a.Classes}, nil)
	if err != nil {
		return testSet{}, nil, nil, err
	}
	cols := trainer.Columns2D(d)
	var preds []float64
	var rates []float64
	for range runs {
		start := time.Now()
		if preds, err = a.Predict(cols, b.threads); err != nil {
			return testSet{}, nil, nil, err
		}
		rates = append(rates, float64(d.Rows())/time.Since(start).Seconds())
	}
	timed := rates
	if runs > 1 {
		timed = rates[1:]
	}
	slices.Sort(timed)
	return testSet{Dataset: d, rowsPerS: timed[len(timed)/2]}, a, preds, nil
}

// checkImport imports the shape's XGBoost model (with its categories) and
// records how far its predictions of the test file are from XGBoost's.
func (b *bench) checkImport(s shape) error {
	xgbModel := filepath.Join(b.work, s.name+".xgb.json")
	imported := filepath.Join(b.work, s.name+".imported.sluice")
	if _, _, _, err := b.runTimed(b.sluice, "ml", "import-xgboost", xgbModel,
		"-categories", xgbModel+".categories.json", "-o", imported); err != nil {
		return err
	}
	test, a, preds, err := b.predictTest(s, imported, 1)
	if err != nil {
		return err
	}
	want, err := readPredictions(xgbModel + ".pred.csv")
	if err != nil {
		return err
	}
	if len(want) != len(preds) {
		return fmt.Errorf("%d imported predictions, %d of XGBoost's", len(preds), len(want))
	}
	worst := 0.0
	for i := range preds {
		worst = max(worst, math.Abs(preds[i]-want[i]))
	}
	b.imports = append(b.imports, fmt.Sprintf("| %s | %d trees | %d | %.2g |", s.name, len(a.GBDT.Trees), test.Rows(), worst))
	return nil
}

// readPredictions reads xgb_shapes.py's predictions file, row-major.
func readPredictions(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, field := range strings.Split(sc.Text(), ",") {
			v, err := strconv.ParseFloat(field, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			out = append(out, v)
		}
	}
	return out, sc.Err()
}

// metricOf picks the table's metric from either side's metrics (named as
// ml/metrics names them): AUC, RMSE or multiclass log loss.
func metricOf(task string, ms map[string]float64) (string, float64) {
	switch task {
	case "binary":
		return "AUC", ms["auc"]
	case "regression":
		return "RMSE", ms["rmse"]
	}
	return "log loss", ms["logloss"]
}

func (b *bench) xgboostSide(s shape, score bool) (side, error) {
	model := filepath.Join(b.work, s.name+".xgb.json")
	if !score {
		model = filepath.Join(b.work, s.name+".rerun.xgb.json") // the import check reads the first run's
	}
	args := []string{b.script, "train", b.dir, s.name, s.task, strconv.Itoa(s.classes), model}
	out, wall, rss, err := b.runTimed(b.python, args...)
	if err != nil {
		return side{}, err
	}
	var tr struct {
		TrainS float64 `json:"train_s"`
	}
	if err := json.Unmarshal(out, &tr); err != nil {
		return side{}, fmt.Errorf("reading %q: %w", out, err)
	}
	if !score {
		return side{trainS: tr.TrainS, e2eS: wall, rssMiB: rss}, nil
	}
	args[1] = "eval"
	out, _, _, err = b.runTimed(b.python, args...)
	if err != nil {
		return side{}, err
	}
	var ev map[string]float64
	if err := json.Unmarshal(out, &ev); err != nil {
		return side{}, fmt.Errorf("reading %q: %w", out, err)
	}
	v := side{trainS: tr.TrainS, e2eS: wall, rssMiB: rss, predictRowsPerS: ev["predict_rows_per_s"]}
	v.metric, v.metricVal = metricOf(s.task, ev)
	return v, nil
}
