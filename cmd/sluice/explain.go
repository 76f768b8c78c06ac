package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/spec"
)

// explainSpec prints what a spec makes once applied and run: the lake
// tables, the online and prediction tables in PostgreSQL, the registry's
// models and the schedules, each under the project's names. It reads
// nothing and changes nothing.
func explainSpec(w io.Writer, s *spec.Spec) error {
	p := s.Project
	fmt.Fprintf(w, "project %s: lake namespaces %s_*, PostgreSQL schemas %s and %s, models %s.*\n",
		p, p, naming.Namespace(p, naming.Online), naming.Namespace(p, naming.Predictions), p)
	if len(s.Sources) > 0 {
		fmt.Fprintln(w, "\nsources (sluice ingest SOURCE):")
	}
	for _, n := range slices.Sorted(maps.Keys(s.Sources)) {
		q, src := naming.Qualify(p, n), s.Sources[n]
		fmt.Fprintf(w, "  %s (%s) -> lake %s; rejected rows -> %s\n", n, src.Format(), naming.Table(naming.Raw, q), naming.Table(naming.Quarantine, q))
	}
	if len(s.FeatureViews) > 0 {
		fmt.Fprintln(w, "\nfeature views (sluice materialize VIEW):")
	}
	for _, n := range slices.Sorted(maps.Keys(s.FeatureViews)) {
		q := naming.Qualify(p, n)
		v, err := features.ViewFromSpec(s, n)
		if err != nil {
			return err
		}
		where := "lake " + naming.Table(naming.Features, q)
		if s.FeatureViews[n].Online {
			where += ", online " + naming.Table(naming.Online, q)
		}
		fmt.Fprintf(w, "  %s (from %s, by %s) -> %s\n      columns: %s\n", n, s.FeatureViews[n].Source, v.Key, where, strings.Join(v.OutputNames(), ", "))
	}
	if len(s.Models) > 0 {
		fmt.Fprintln(w, "\nmodels (sluice train MODEL):")
	}
	for _, n := range slices.Sorted(maps.Keys(s.Models)) {
		q, m := naming.Qualify(p, n), s.Models[n]
		fmt.Fprintf(w, "  %s (%s %s, %s queue) -> registry %s; training set lake %s\n", n, m.Task, m.Algorithm, m.Queue, q, naming.Table(naming.Training, q))
		if m.Scoring.Entities != "" {
			t := naming.Table(naming.Predictions, q)
			fmt.Fprintf(w, "      predictions (sluice score %s): lake %s, PostgreSQL %s and %s_latest\n", n, t, t, t)
		}
	}
	if len(s.Pipelines) > 0 {
		fmt.Fprintln(w, "\npipelines (sluice run PIPELINE):")
	}
	for _, n := range slices.Sorted(maps.Keys(s.Pipelines)) {
		pl := s.Pipelines[n]
		sched := "no schedule"
		if pl.Schedule != "" {
			sched = fmt.Sprintf("Temporal Schedule %s at %q", pipelines.ScheduleID(p, n), pl.Schedule)
			if pl.TimeZone != "" {
				sched += " " + pl.TimeZone
			}
		}
		fmt.Fprintf(w, "  %s: %s for %s; %s\n", n, strings.Join(pl.Steps, ", "), strings.Join(pl.Models, ", "), sched)
	}
	return nil
}
