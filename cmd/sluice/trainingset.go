package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/sources"
	"github.com/sluice-ml/sluice/workflows"
)

func runTrainingSet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("training-set", stderr)
	cfg.temporalFlags(f)
	cfg.storageFlags(f)
	var specPath, out string
	var partitions int
	var rebuild, timings bool
	f.StringVar(&specPath, "f", "", "project spec (default ./sluice.yaml)")
	f.BoolVar(&timings, "timings", false, "print where the time went: the worker's phases and the rest of the wall time")
	f.BoolVar(&rebuild, "rebuild", false, "rebuild even when the inputs have not changed since the last build")
	f.StringVar(&out, "out", "", "also write the set to this Parquet file")
	f.IntVar(&partitions, "partitions", 0, "hash partitions that bound memory (default 16)")
	model, s, _, err := specArg(f, args, &specPath, "usage: sluice training-set MODEL [-f sluice.yaml] [--out file.parquet] [--rebuild]")
	if err != nil {
		return err
	}
	req, err := pipelines.TrainingSet(s, model)
	if err != nil {
		return err
	}
	req.Partitions, req.Rebuild = partitions, rebuild
	id := fmt.Sprintf("training-set/%s/%s", req.Model, time.Now().UTC().Format("2006-01-02T15:04:05Z"))
	tc, run, err := startRun(ctx, &cfg, stdout, id, workflows.TrainingSet, req)
	if err != nil {
		return err
	}
	defer tc.Close()
	var res activities.TrainingSetResult
	begin := time.Now()
	if err := waitRun(ctx, tc, run, &res, stderr); err != nil {
		return fmt.Errorf("training set %s: %w", id, err)
	}
	if timings {
		printTimings(stdout, res.Phases, res.Seconds, time.Since(begin))
	}
	verb := "wrote"
	if res.Reused {
		verb = "reused (inputs unchanged)"
	}
	fmt.Fprintf(stdout, "%s %d rows in %s (snapshot %d), reading", verb, res.Rows, res.Table, res.SnapshotID)
	for _, t := range slices.Sorted(maps.Keys(res.Read)) {
		fmt.Fprintf(stdout, " %s@%d", t, res.Read[t])
	}
	fmt.Fprintln(stdout)
	if out == "" {
		return nil
	}
	if err := cfg.validateStorage(); err != nil {
		return err
	}
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: cfg.DatabaseURL, Lake: cfg.Lake})
	if err != nil {
		return err
	}
	defer cat.Close()
	rd, err := cat.Read(ctx, res.Table, lakehouse.ScanOptions{SnapshotID: res.SnapshotID})
	if err != nil {
		return err
	}
	if err := sources.WriteParquet(out, rd.Schema, rd.Records); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", out)
	return nil
}

// printTimings prints a run's phases (features.Timings) and the wall time
// the worker's compute did not account for: Temporal's round trips and
// the wait for a worker.
func printTimings(w io.Writer, phases map[string]float64, compute float64, wall time.Duration) {
	order := []string{features.PhasePlan, features.PhaseRead, features.PhaseSpill, features.PhaseUnspill,
		features.PhaseCompute, features.PhaseWrite, features.PhaseCommit, features.PhaseOnline}
	fmt.Fprintf(w, "time: %.2f s wall, %.2f s in the activity, %.2f s around it (Temporal, queues)\n", wall.Seconds(), compute, wall.Seconds()-compute)
	for _, p := range order {
		if v, ok := phases[p]; ok {
			fmt.Fprintf(w, "  %-8s %6.2f s\n", p, v)
		}
	}
}
