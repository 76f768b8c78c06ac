package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/monitor"
)

func monitorCommands() []command {
	return []command{{"report", "a model's newest drift reports: sluice monitor report MODEL [--runs 1]", runMonitorReport}}
}

func runMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "monitor", monitorCommands(), args, stdout, stderr)
}

// runMonitorReport prints a model's newest drift reports: per feature and
// for the score, PSI, the KS or chi-square test and the level.
func runMonitorReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("monitor report", stderr)
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL connection URL")
	runs := 1
	f.IntVar(&runs, "runs", runs, "how many of the newest reports")
	model, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if model == "" {
		return errors.New("usage: sluice monitor report MODEL [--runs 1] [--database-url URL]")
	}
	if cfg.DatabaseURL == "" {
		return errors.New("--database-url (or SLUICE_DATABASE_URL) is needed")
	}
	db, err := metastore.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	reports, err := (&monitor.Store{DB: db}).Latest(ctx, model, max(runs, 1))
	if err != nil {
		return err
	}
	if len(reports) == 0 {
		return fmt.Errorf("no drift report for %s yet: scoring writes one (sluice score %s)", model, model)
	}
	for _, r := range reports {
		fmt.Fprintf(stdout, "%s v%d, %s run %s as of %s: %d rows, drift %s\n", r.Model, r.Version, r.Source, r.RunID,
			r.AsOf.UTC().Format(time.RFC3339), r.Report.Rows, r.Report.Level)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FEATURE\tKIND\tPSI\tTEST\tSTATISTIC\tP-VALUE\tLEVEL")
		findings := r.Report.Features
		if r.Report.Score != nil {
			findings = append(findings, *r.Report.Score)
		}
		for _, f := range findings {
			fmt.Fprintf(tw, "  %s\t%s\t%.4f\t%s\t%.4f\t%.3g\t%s\n", f.Name, f.Kind, f.PSI, f.Test, f.Statistic, f.PValue, f.Level)
		}
		tw.Flush()
	}
	return nil
}
