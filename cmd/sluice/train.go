package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/workflows"
)

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("train", stderr)
	cfg.temporalFlags(f)
	var specPath string
	var concurrency int
	var rebuild bool
	f.StringVar(&specPath, "f", "", "project spec (default ./sluice.yaml)")
	f.IntVar(&concurrency, "concurrency", 4, "trials run at once")
	f.BoolVar(&rebuild, "rebuild", false, "rebuild the training set even when its inputs have not changed")
	model, s, _, err := specArg(f, args, &specPath, "usage: sluice train MODEL [-f sluice.yaml] [--concurrency 4] [--rebuild]")
	if err != nil {
		return err
	}
	req, err := pipelines.Train(s, model, "", version)
	if err != nil {
		return err
	}
	req.TrainingSet.Rebuild, req.Concurrency = rebuild, concurrency
	id := fmt.Sprintf("train/%s/%s", req.Model, time.Now().UTC().Format("2006-01-02T15:04:05Z"))
	tc, run, err := startRun(ctx, &cfg, stdout, id, workflows.Train, req)
	if err != nil {
		return err
	}
	defer tc.Close()
	var res workflows.TrainResult
	if err := waitRun(ctx, tc, run, &res, stderr); err != nil {
		return fmt.Errorf("train %s: %w", id, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TRIAL\tVALID %s\tROUNDS\tRESUMED\tWORKER\tDEVICE\n", strings.ToUpper(res.Metric))
	for i, t := range res.Trials {
		mark := ""
		if i == res.Best {
			mark = " *"
		}
		fmt.Fprintf(tw, "%d%s\t%.4f\t%d\t%d\t%s\t%s\n", t.Trial, mark, t.Metrics[res.Metric], t.Rounds, t.ResumedFrom, t.Worker, t.Device)
	}
	tw.Flush()
	var test []string
	for _, k := range slices.Sorted(maps.Keys(res.Test)) {
		test = append(test, fmt.Sprintf("%s=%.4f", k, res.Test[k]))
	}
	built := "built"
	if res.TrainingSet.Reused {
		built = "reused"
	}
	fmt.Fprintf(stdout, "registered %s v%d (%s) from training set snapshot %d (%s); test: %s\n", res.Version.Model, res.Version.Version, res.Version.ArtifactKey,
		res.TrainingSet.SnapshotID, built, strings.Join(test, " "))
	return nil
}

func experimentsCommands() []command {
	return []command{{"list", "a model's trials, newest run first: sluice experiments list MODEL", runExperimentsList}}
}

func runExperiments(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "experiments", experimentsCommands(), args, stdout, stderr)
}

func runExperimentsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	reg, pos, done, err := openRegistry(ctx, "experiments list", args, stderr, nil)
	if err != nil {
		return err
	}
	defer done()
	if len(pos) != 1 {
		return errors.New("usage: sluice experiments list MODEL [--database-url URL]")
	}
	exps, err := reg.Experiments(ctx, pos[0])
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tTRIAL\tPARAMS\tMETRICS\tROUNDS\tWORKER\tDEVICE")
	for _, e := range exps {
		var params, metrics []string
		for _, k := range slices.Sorted(maps.Keys(e.Params)) {
			params = append(params, k+"="+e.Params[k])
		}
		for _, k := range slices.Sorted(maps.Keys(e.Metrics)) {
			metrics = append(metrics, fmt.Sprintf("%s=%.4f", k, e.Metrics[k]))
		}
		trial := fmt.Sprint(e.Trial)
		if e.Best {
			trial += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.RunID, trial, strings.Join(params, " "), strings.Join(metrics, " "), e.Rounds, e.Worker, e.Device)
	}
	return tw.Flush()
}
