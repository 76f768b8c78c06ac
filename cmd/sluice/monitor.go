package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/registry"
)

func monitorCommands() []command {
	return []command{
		{"report", "a model's newest drift reports: sluice monitor report MODEL [--runs 1]", runMonitorReport},
		{"alerts", "the raised alerts, newest first: sluice monitor alerts [MODEL] [--limit 20]", runMonitorAlerts},
	}
}

func runMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "monitor", monitorCommands(), args, stdout, stderr)
}

// runMonitorReport prints a model's newest drift reports: per feature and
// for the score, PSI, the KS or chi-square test and the level.
func runMonitorReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	runs := 1
	htmlOut := ""
	db, pos, err := openDB(ctx, "monitor report", args, stderr, func(f *flagSet) {
		f.IntVar(&runs, "runs", runs, "how many of the newest reports (--html: for PSI over time, default 30)")
		f.StringVar(&htmlOut, "html", "", "write the report as a self-contained HTML page to this file")
	})
	if err != nil {
		return err
	}
	defer db.Close()
	if len(pos) != 1 {
		return errors.New("usage: sluice monitor report MODEL [--runs 1] [--html report.html] [--database-url URL]")
	}
	model, err := qualifyModel(ctx, &registry.Registry{DB: db}, pos[0])
	if err != nil {
		return err
	}
	if htmlOut != "" && runs == 1 {
		runs = 30
	}
	reports, err := (&monitor.Store{DB: db}).Latest(ctx, model, max(runs, 1))
	if err != nil {
		return err
	}
	if len(reports) == 0 {
		return fmt.Errorf("no drift report for %s yet: scoring writes one (sluice score %s)", model, model)
	}
	perf, err := (&monitor.Store{DB: db}).Performance(ctx, model, 30)
	if err != nil {
		return err
	}
	if htmlOut != "" {
		var buf bytes.Buffer
		if err := monitor.WriteHTML(&buf, model, reports, perf); err != nil {
			return err
		}
		if err := os.WriteFile(htmlOut, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d drift reports, %d performance days)\n", htmlOut, len(reports), len(perf))
		return nil
	}
	if len(perf) > 0 {
		fmt.Fprintf(stdout, "realized performance of %s (predictions joined to the labels that arrived after them):\n", model)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  AS OF\tVERSION\tLABELS\tMETRICS")
		for _, p := range perf {
			fmt.Fprintf(tw, "  %s\tv%d\t%d\t%s\n", p.Day.Format("2006-01-02"), p.Version, p.Rows, monitor.FormatMetrics(p.Metrics))
		}
		tw.Flush()
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

// runMonitorAlerts lists raised alerts with their delivery.
func runMonitorAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	limit := 20
	db, pos, err := openDB(ctx, "monitor alerts", args, stderr, func(f *flagSet) {
		f.IntVar(&limit, "limit", limit, "at most this many")
	})
	if err != nil {
		return err
	}
	defer db.Close()
	if len(pos) > 1 {
		return errors.New("usage: sluice monitor alerts [MODEL] [--limit 20]")
	}
	model := ""
	if len(pos) == 1 {
		if model, err = qualifyModel(ctx, &registry.Registry{DB: db}, pos[0]); err != nil {
			return err
		}
	}
	alerts, err := (&monitor.Alerts{DB: db}).List(ctx, model, max(limit, 1))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODEL\tKIND\tLEVEL\tRAISED\tSENT\tMESSAGE")
	for _, a := range alerts {
		sent := "-"
		if a.SentAt != nil {
			sent = a.SentAt.UTC().Format(time.RFC3339)
		} else if a.LastError != "" {
			sent = "failed: " + a.LastError
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Model, a.Kind, a.Level, a.Created.UTC().Format(time.RFC3339), sent, a.Message)
	}
	return tw.Flush()
}
