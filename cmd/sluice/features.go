package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/online"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/workflows"
)

// sourcedView resolves a feature view of the spec and the table it reads.
func parseDay(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: want a date (2026-11-01) or an RFC 3339 time", flag, v)
}

func runMaterialize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("materialize", stderr)
	cfg.temporalFlags(f)
	var specPath, asOfFlag, startFlag, endFlag string
	var full, timings bool
	var concurrency int
	f.StringVar(&specPath, "f", "", "project spec (default ./sluice.yaml)")
	f.StringVar(&asOfFlag, "as-of", "", "compute as of this time (default now)")
	f.StringVar(&startFlag, "start", "", "backfill from this day (with --end): one as-of time per day, at its end")
	f.StringVar(&endFlag, "end", "", "backfill up to this day, excluded")
	f.BoolVar(&full, "full", false, "recompute every entity, not only those changed since the last run")
	f.BoolVar(&timings, "timings", false, "print where the time went: the worker's phases and the rest of the wall time")
	f.IntVar(&concurrency, "concurrency", 4, "backfill days computed at once")
	name, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if name == "" {
		return errors.New("usage: sluice materialize VIEW [-f sluice.yaml] [--as-of T | --start DAY --end DAY] [--full]")
	}
	s, _, err := loadSpec(specPath)
	if err != nil {
		return err
	}
	view, onlineToo, err := pipelines.View(s, name)
	if err != nil {
		return err
	}
	req := workflows.MaterializeRequest{View: view, Online: onlineToo, Full: full, Concurrency: concurrency}
	if req.AsOf, err = parseDay("as-of", asOfFlag); err != nil {
		return err
	}
	if req.Start, err = parseDay("start", startFlag); err != nil {
		return err
	}
	if req.End, err = parseDay("end", endFlag); err != nil {
		return err
	}
	if req.Start.IsZero() != req.End.IsZero() {
		return errors.New("a backfill needs both --start and --end")
	}
	var id string
	switch {
	case !req.Start.IsZero():
		id = fmt.Sprintf("materialize/%s/backfill/%s/%s", view.View.Name, req.Start.Format("2006-01-02"), req.End.Format("2006-01-02"))
	default:
		if req.AsOf.IsZero() {
			req.AsOf = time.Now().UTC().Truncate(time.Second)
		}
		id = fmt.Sprintf("materialize/%s/%s", view.View.Name, req.AsOf.Format(time.RFC3339))
	}
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl}, workflows.Materialize, req)
	if err != nil {
		return fmt.Errorf("starting materialize: %w", err)
	}
	announce(stdout, &cfg, id, run.GetRunID())
	var res workflows.MaterializeResult
	begin := time.Now()
	if err := waitRun(ctx, tc, run, &res, stderr); err != nil {
		return fmt.Errorf("materialize %s: %w", id, err)
	}
	if timings && len(res.Runs) == 1 {
		printTimings(stdout, res.Runs[0].Phases, res.Runs[0].Seconds, time.Since(begin))
	}
	for _, r := range res.Runs {
		from := "all entities"
		if !r.Since.IsZero() {
			from = "changed since " + r.Since.Format(time.RFC3339)
		}
		if r.Reused {
			from = "already materialized from the same source snapshot"
		}
		fmt.Fprintf(stdout, "%s: %d entities (%s) in snapshot %d, %d online\n", r.Table, r.Entities, from, r.SnapshotID, r.Online)
		if r.EmptyWindows {
			fmt.Fprintf(stderr, "warning: every window of %s (snapshot %d) is empty: no source row falls in any window. "+
				"For historical data, pass --as-of a time within it (the source's newest event time, say)\n", r.Table, r.SnapshotID)
		}
	}
	return nil
}

func featuresCommands() []command {
	return []command{
		{"get", "read entities' online features: sluice features get VIEW KEY...", runFeaturesGet},
	}
}

func runFeatures(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "features", featuresCommands(), args, stdout, stderr)
}

func runFeaturesGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("features get", stderr)
	cfg.storageFlags(f)
	rest, err := f.parseMany(args)
	if err != nil {
		return err
	}
	if len(rest) < 2 {
		return errors.New("usage: sluice features get VIEW KEY... [--database-url URL]")
	}
	if cfg.DatabaseURL == "" {
		return errors.New("--database-url (or SLUICE_DATABASE_URL) is needed")
	}
	pool, err := metastore.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	rows, err := online.NewReader(pool, online.CacheOptions{}).Get(ctx, qualifyBySpec(rest[0]), rest[1:])
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for i, row := range rows {
		if row == nil {
			row = online.Row{"key": rest[1+i], "found": false}
		}
		if err := enc.Encode(row); err != nil {
			return err
		}
	}
	return nil
}
