// Package pipelines runs a project's pipelines: it turns the spec into the
// requests of the step workflows (what the CLI's commands start too), and
// the Pipeline workflow runs a pipeline's steps in order for each of its
// models, as child workflows.
package pipelines

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/activities"
	"github.com/sluice-ml/sluice/features"
	"github.com/sluice-ml/sluice/gates"
	"github.com/sluice-ml/sluice/monitor"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/quality"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/sweep"
	"github.com/sluice-ml/sluice/workflows"
)

// Ingest is the request that lands a source; relative paths resolve
// against dir, the spec file's folder.
func Ingest(s *spec.Spec, dir, source string) (workflows.IngestRequest, error) {
	src, ok := s.Sources[source]
	if !ok {
		return workflows.IngestRequest{}, fmt.Errorf("the spec has no source %q", source)
	}
	format := src.Format()
	req := workflows.IngestRequest{Source: naming.Qualify(s.Project, source), Format: format, Key: src.Key, Timestamp: src.Timestamp,
		Schema: src.Schema, Delimiter: src.Delimiter}
	for _, c := range src.Checks {
		req.Checks = append(req.Checks, quality.Check{Column: c.Column, NotNull: c.NotNull, Unique: c.Unique, Min: c.Min, Max: c.Max,
			Allowed: c.Allowed, Freshness: time.Duration(c.Freshness), Level: c.Level})
	}
	if format == "postgres" {
		req.Query, req.SourceURL = src.Postgres.Query, src.Postgres.URL
	} else {
		req.Path = src.Path()
		if !filepath.IsAbs(req.Path) && !strings.HasPrefix(req.Path, "s3://") {
			req.Path = filepath.Join(dir, req.Path)
		}
	}
	return req, nil
}

// View is a feature view with the lake table it reads, and whether it is
// served online.
func View(s *spec.Spec, name string) (activities.SourcedView, bool, error) {
	v, err := features.ViewFromSpec(s, name)
	if err != nil {
		return activities.SourcedView{}, false, err
	}
	fv := s.FeatureViews[name]
	v.Name = naming.Qualify(s.Project, name)
	return activities.SourcedView{View: activities.ViewOf(v), Table: rawTable(s, fv.Source)}, fv.Online, nil
}

// rawTable is the lake table a source of the spec lands in.
func rawTable(s *spec.Spec, source string) string {
	return naming.Table(naming.Raw, naming.Qualify(s.Project, source))
}

// TrainingSet is a model's labels and the views its training set joins.
func TrainingSet(s *spec.Spec, model string) (workflows.TrainingSetRequest, error) {
	m, ok := s.Models[model]
	if !ok {
		return workflows.TrainingSetRequest{}, fmt.Errorf("the spec has no model %q", model)
	}
	labels := s.Sources[m.Label.Source]
	if labels.Timestamp == "" {
		return workflows.TrainingSetRequest{}, fmt.Errorf("model %s: the label source %s needs a timestamp (the label time)", model, m.Label.Source)
	}
	req := workflows.TrainingSetRequest{Model: naming.Qualify(s.Project, model), LabelTable: rawTable(s, m.Label.Source), LabelTime: labels.Timestamp, LabelColumn: m.Label.Column}
	for _, name := range m.Features {
		sv, _, err := View(s, name)
		if err != nil {
			return req, err
		}
		if req.Key != "" && sv.View.Key != req.Key {
			return req, fmt.Errorf("model %s: its views key on %s and %s; one entity per model", model, req.Key, sv.View.Key)
		}
		req.Key = sv.View.Key
		req.Views = append(req.Views, sv)
	}
	return req, nil
}

// Train is a model's training run.
func Train(s *spec.Spec, model, specVersion, codeVersion string) (workflows.TrainRequest, error) {
	ts, err := TrainingSet(s, model)
	if err != nil {
		return workflows.TrainRequest{}, err
	}
	m := s.Models[model]
	return workflows.TrainRequest{Model: ts.Model, TrainingSet: ts, Task: m.Task, Algorithm: m.Algorithm, Params: m.Params, Sweep: m.Sweep,
		Search: sweep.Search(m.Search), Queue: m.Queue, SpecVersion: specVersion, CodeVersion: codeVersion}, nil
}

// Gates are a model's promotion gates.
func Gates(s *spec.Spec, model string) []gates.Gate {
	gs := s.Models[model].Gates
	if len(gs) == 0 {
		return nil // as recorded histories hold it
	}
	return slices.Clone(gs)
}

// Score is a model's bulk scoring of its population as of a time.
func Score(s *spec.Spec, model, alias string, asOf time.Time) (workflows.ScoreRequest, error) {
	m, ok := s.Models[model]
	if !ok {
		return workflows.ScoreRequest{}, fmt.Errorf("the spec has no model %q", model)
	}
	if m.Scoring.Entities == "" {
		return workflows.ScoreRequest{}, fmt.Errorf("model %s has no scoring population: set models.%s.scoring.entities to a source", model, model)
	}
	ts, err := TrainingSet(s, model)
	if err != nil {
		return workflows.ScoreRequest{}, err
	}
	th := monitor.DefaultThresholds()
	if mon := m.Monitoring; mon.PSIWarn > 0 || mon.PSIAlert > 0 || mon.PValue > 0 {
		th = monitor.Thresholds{PSIWarn: cmp.Or(mon.PSIWarn, th.PSIWarn), PSIAlert: cmp.Or(mon.PSIAlert, th.PSIAlert), PValue: cmp.Or(mon.PValue, th.PValue)}
	}
	return workflows.ScoreRequest{Model: ts.Model, Alias: alias, AsOf: asOf, Population: rawTable(s, m.Scoring.Entities), Key: ts.Key,
		Views: ts.Views, Retention: time.Duration(m.Scoring.Retention), Drift: activities.DriftThresholdsOf(th)}, nil
}

// ModelPlan is what a pipeline does for one model.
type ModelPlan struct {
	Model      string
	Train      workflows.TrainRequest
	Gates      []gates.Gate
	Manual     bool
	Score      workflows.ScoreRequest
	Monitoring spec.Monitoring
	// Performance measures realized performance once labels arrive.
	Performance *activities.PerformanceInput
	// OnlineWindow is the online traffic the monitor step measures.
	OnlineWindow time.Duration
}

// Plan is a pipeline run, resolved from one spec version: the sources to
// ingest, the views to materialize and each model's work, for the steps
// it names.
type Plan struct {
	Pipeline    string
	SpecVersion string
	AsOf        time.Time
	Steps       []string
	Ingest      []workflows.IngestRequest
	Materialize []workflows.MaterializeRequest
	Models      []ModelPlan
}

// Has says whether the plan runs a step.
func (p Plan) Has(step string) bool { return slices.Contains(p.Steps, step) }

// NewPlan resolves a pipeline of the spec as of a time: every source its
// models read (labels, views, population) and every view they use, once
// each, in name order.
func NewPlan(s *spec.Spec, dir, pipeline, specVersion, codeVersion string, asOf time.Time) (Plan, error) {
	p, ok := s.Pipelines[pipeline]
	if !ok {
		return Plan{}, fmt.Errorf("the spec has no pipeline %q", pipeline)
	}
	plan := Plan{Pipeline: pipeline, SpecVersion: specVersion, AsOf: asOf, Steps: p.Steps}
	var sources, views []string
	for _, model := range p.Models {
		m := s.Models[model]
		sources = append(sources, m.Label.Source, m.Scoring.Entities)
		for _, v := range m.Features {
			views = append(views, v)
			sources = append(sources, s.FeatureViews[v].Source)
		}
		mp := ModelPlan{Model: naming.Qualify(s.Project, model), Gates: Gates(s, model), Manual: m.Approval == "manual", Monitoring: m.Monitoring,
			OnlineWindow: cmp.Or(time.Duration(m.Monitoring.OnlineWindow), 24*time.Hour)}
		var err error
		if mp.Train, err = Train(s, model, specVersion, codeVersion); err != nil {
			return plan, err
		}
		if slices.Contains(p.Steps, "score") {
			if mp.Score, err = Score(s, model, "champion", asOf); err != nil {
				return plan, err
			}
		}
		if m.Task != "multiclass" {
			ts := mp.Train.TrainingSet
			mp.Performance = &activities.PerformanceInput{Model: mp.Model, Task: m.Task, LabelTable: ts.LabelTable, Key: ts.Key,
				LabelTime: ts.LabelTime, LabelColumn: ts.LabelColumn, Window: time.Duration(m.Monitoring.LabelWindow)}
		}
		plan.Models = append(plan.Models, mp)
	}
	slices.Sort(sources)
	for _, src := range slices.Compact(sources) {
		if src == "" {
			continue
		}
		req, err := Ingest(s, dir, src)
		if err != nil {
			return plan, err
		}
		plan.Ingest = append(plan.Ingest, req)
	}
	slices.Sort(views)
	for _, name := range slices.Compact(views) {
		sv, online, err := View(s, name)
		if err != nil {
			return plan, err
		}
		plan.Materialize = append(plan.Materialize, workflows.MaterializeRequest{View: sv, Online: online, AsOf: asOf})
	}
	return plan, nil
}
