package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/ml/xgboost"
	"github.com/sluice-ml/sluice/sources"
)

// mlCommands are `sluice ml`'s subcommands: local model work on files, no
// server needed.
func mlCommands() []command {
	return []command{
		{"train", "train a model on a CSV or Parquet file", runMLTrain},
		{"predict", "score a file with a model", runMLPredict},
		{"eval", "print a model's metrics on a labelled file", runMLEval},
		{"import-xgboost", "convert an XGBoost JSON model into a Sluice artifact", runMLImportXGBoost},
		{"inspect", "describe a model artifact", runMLInspect},
	}
}

func runML(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "ml", mlCommands(), args, stdout, stderr)
}

// paramFlag collects repeated -param k=v flags.
type paramFlag map[string]string

func (p paramFlag) String() string { return fmt.Sprint(map[string]string(p)) }

func (p paramFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	p[k] = v
	return nil
}

func runMLTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("ml train", stderr)
	var (
		data, label, task, algo, valid, out string
		validFraction                       float64
	)
	params := paramFlag{}
	f.StringVar(&data, "data", "", "training data: .csv or .parquet (required)")
	f.StringVar(&label, "label", "", "label column (required)")
	f.StringVar(&task, "task", "binary", "binary, regression or multiclass")
	f.StringVar(&algo, "algorithm", "gbdt", "gbdt or linear")
	f.Var(params, "param", "algorithm parameter key=value, repeatable (e.g. trees=200, max_depth=6)")
	f.StringVar(&valid, "valid", "", "validation data, for metrics and early stopping")
	f.Float64Var(&validFraction, "valid-fraction", 0, "hold out this share of the rows for validation instead")
	f.StringVar(&out, "o", "model.sluice", "output artifact; a JSON dump is written beside it")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if data == "" || label == "" {
		return errors.New("-data and -label are required")
	}
	if valid != "" && validFraction != 0 {
		return errors.New("give -valid or -valid-fraction, not both")
	}
	t, err := ml.ParseTask(task)
	if err != nil {
		return fmt.Errorf("-task: %w", err)
	}
	prog := newProgress(stderr, isTerminal(stderr), nil)
	defer prog.done()
	started := time.Now()
	train, err := sources.ReadDataset(ctx, data, ml.ArrowOptions{Label: label, Task: t}, prog.rows)
	if err != nil {
		return err
	}
	readTime := time.Since(started)
	var vd *ml.Dataset
	switch {
	case valid != "":
		vd, err = sources.ReadDataset(ctx, valid, ml.ArrowOptions{Label: label, Task: t, Columns: trainer.Columns(train), Classes: train.Classes}, nil)
	case validFraction != 0:
		train, vd, err = trainer.Split(train, validFraction, 1)
	}
	if err != nil {
		return err
	}
	prog.show(true, "training: binning %d features of %d rows", len(train.Features), train.Rows())
	started = time.Now()
	var grown time.Time // when the last tree was built
	onRound := func(cp *gbdt.Checkpoint) error {
		grown = time.Now()
		best := 0
		if cp.Params.EarlyStoppingRounds > 0 {
			best = cp.BestRound
		}
		prog.trees(cp.Round, cp.Params.Trees, best, started)
		return nil
	}
	a, err := trainer.Train(ctx, train, vd, trainer.Spec{Task: t, Algorithm: artifact.Algorithm(algo), Label: label, Params: params, OnRound: onRound})
	if err != nil {
		return err
	}
	finished := time.Now()
	prog.done()
	if err := writeArtifact(out, a); err != nil {
		return err
	}
	on := cmp.Or(a.EvaluatedOn, "training data")
	fmt.Fprintf(stdout, "trained %s %s model on %d rows × %d features → %s\n", t, algo, train.Rows(), len(train.Features), out)
	if grown.IsZero() { // a linear model
		grown = finished
	}
	fmt.Fprintf(stdout, "read the data in %.2f s, trained in %.2f s, scored the training data and packed the model in %.2f s\n",
		readTime.Seconds(), grown.Sub(started).Seconds(), finished.Sub(grown).Seconds())
	printMetrics(stdout, "metrics on "+on, a.Metrics)
	return nil
}

func writeArtifact(path string, a *artifact.Artifact) error {
	var buf bytes.Buffer
	if err := artifact.Encode(&buf, a); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	js, err := artifact.Dump(a)
	if err != nil {
		return err
	}
	return os.WriteFile(path+".json", js, 0o644)
}

func readArtifact(path string) (*artifact.Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := artifact.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func printMetrics(w io.Writer, title string, m map[string]float64) {
	fmt.Fprintln(w, title+":")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-10s %.6f\n", k, m[k])
	}
}

func runMLPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("ml predict", stderr)
	var model, data, out string
	f.StringVar(&model, "model", "", "model artifact (required)")
	f.StringVar(&data, "data", "", "data to score: .csv or .parquet (required)")
	f.StringVar(&out, "o", "", "output: .csv or .parquet (required)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if model == "" || data == "" || out == "" {
		return errors.New("-model, -data and -o are required")
	}
	if _, err := sources.FormatOf(out); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	a, err := readArtifact(model)
	if err != nil {
		return err
	}
	d, err := sources.ReadDataset(ctx, data, ml.ArrowOptions{Columns: trainer.ArtifactColumns(a)}, nil)
	if err != nil {
		return err
	}
	preds, err := a.Predict(trainer.Columns2D(d), 0)
	if err != nil {
		return err
	}
	if err := sources.WriteFile(out, predictionColumns(a, preds, d.Rows())); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "scored %d rows → %s\n", d.Rows(), out)
	return nil
}

// predictionColumns lays out predictions: score and label for binary,
// prediction for regression, label and one probability per class for
// multiclass. Labels are class names when the training label had them.
func predictionColumns(a *artifact.Artifact, preds []float64, n int) []sources.Column {
	className := func(c int) string {
		if c < len(a.Classes) {
			return a.Classes[c]
		}
		return fmt.Sprint(c)
	}
	k := a.Outputs()
	switch a.Task {
	case ml.Binary:
		labels := make([]string, n)
		for r, p := range preds {
			labels[r] = className(b2i(p >= 0.5))
		}
		return []sources.Column{{Name: "score", Values: preds}, {Name: "label", Strings: labels}}
	case ml.Multiclass:
		cols := []sources.Column{{Name: "label", Strings: make([]string, n)}}
		for j := range k {
			vals := make([]float64, n)
			for r := range n {
				vals[r] = preds[r*k+j]
			}
			cols = append(cols, sources.Column{Name: "p_" + className(j), Values: vals})
		}
		for r := range n {
			best := 0
			for j := 1; j < k; j++ {
				if preds[r*k+j] > preds[r*k+best] {
					best = j
				}
			}
			cols[0].Strings[r] = className(best)
		}
		return cols
	}
	return []sources.Column{{Name: "prediction", Values: preds}}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func runMLEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("ml eval", stderr)
	var model, data, label string
	f.StringVar(&model, "model", "", "model artifact (required)")
	f.StringVar(&data, "data", "", "labelled data: .csv or .parquet (required)")
	f.StringVar(&label, "label", "", "label column (default: the model's)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if model == "" || data == "" {
		return errors.New("-model and -data are required")
	}
	a, err := readArtifact(model)
	if err != nil {
		return err
	}
	if label == "" {
		label = a.Label
	}
	if label == "" {
		return errors.New("-label is required: the model does not name its label")
	}
	d, err := sources.ReadDataset(ctx, data, ml.ArrowOptions{Label: label, Task: a.Task, Columns: trainer.ArtifactColumns(a), Classes: a.Classes}, nil)
	if err != nil {
		return err
	}
	preds, err := a.Predict(trainer.Columns2D(d), 0)
	if err != nil {
		return err
	}
	m, err := metrics.Evaluate(string(a.Task), d.Labels, preds, a.Outputs())
	if err != nil {
		return err
	}
	printMetrics(stdout, fmt.Sprintf("metrics on %d rows of %s", d.Rows(), data), m)
	return nil
}

func runMLImportXGBoost(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("ml import-xgboost", stderr)
	var out, catPath string
	f.StringVar(&out, "o", "model.sluice", "output artifact")
	f.StringVar(&catPath, "categories", "", `JSON file naming each categorical feature's categories in XGBoost's code order, {"colour": ["blue", "green"]}`)
	path, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if path == "" {
		return errors.New("usage: sluice ml import-xgboost MODEL.json [-categories CATEGORIES.json] -o model.sluice")
	}
	var categories map[string][]string
	if catPath != "" {
		cf, err := os.Open(catPath)
		if err != nil {
			return err
		}
		categories, err = xgboost.ReadCategories(cf)
		cf.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", catPath, err)
		}
	}
	r, err := os.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	m, features, err := xgboost.Import(r, categories)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	a := &artifact.Artifact{Task: m.Task, Algorithm: artifact.GBDT, GBDT: m, Source: "xgboost"}
	for _, ft := range features {
		kind := "numeric"
		if ft.Categories != nil {
			kind = "categorical"
		}
		a.Features = append(a.Features, artifact.Feature{Name: ft.Name, Kind: kind, Categories: ft.Categories})
	}
	if err := writeArtifact(out, a); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %s model with %d trees and %d features → %s\n", m.Task, len(m.Trees), m.NumFeatures, out)
	return nil
}

func runMLInspect(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("ml inspect", stderr)
	asJSON := false
	f.BoolVar(&asJSON, "json", false, "print the full JSON dump")
	path, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if path == "" {
		return errors.New("usage: sluice ml inspect MODEL [-json]")
	}
	a, err := readArtifact(path)
	if err != nil {
		return err
	}
	if asJSON {
		js, err := artifact.Dump(a)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", js)
		return err
	}
	fmt.Fprintf(stdout, "%s\n  task        %s\n  algorithm   %s (from %s)\n", path, a.Task, a.Algorithm, orDash(a.Source))
	if a.GBDT != nil {
		fmt.Fprintf(stdout, "  trees       %d (%d rounds)\n", len(a.GBDT.Trees), a.GBDT.BestRound)
	}
	if !a.CreatedAt.IsZero() {
		fmt.Fprintf(stdout, "  created     %s\n", a.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	}
	fmt.Fprintf(stdout, "  label       %s\n  features    %d\n", orDash(a.Label), len(a.Features))
	for _, ft := range a.Features {
		extra := ""
		if ft.Kind == "categorical" {
			extra = fmt.Sprintf(" (%d categories)", len(ft.Categories))
		}
		fmt.Fprintf(stdout, "    %-24s %s%s\n", ft.Name, ft.Kind, extra)
	}
	if len(a.Metrics) > 0 {
		printMetrics(stdout, "  metrics", a.Metrics)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
