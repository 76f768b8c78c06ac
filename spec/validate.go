package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/sweep"
)

// Steps a pipeline may run, in the order they run.
var Steps = []string{"ingest", "materialize", "train", "promote", "score", "monitor"}

var (
	identRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	aggFns  = []string{"sum", "count", "mean", "min", "max"}
)

type validator struct {
	file  string
	lines map[string]int // field path → line
	errs  []error
}

// index records the line of every field path, like
// feature_views.customer_txn.aggregations[0].function.
func (v *validator) index(n *yaml.Node, path string) {
	v.lines[path] = n.Line
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := k
			if path != "" {
				p = path + "." + k
			}
			v.lines[p] = n.Content[i].Line
			v.index(n.Content[i+1], p)
			v.lines[p] = n.Content[i].Line
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			v.index(c, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// fail records an error at a field, at the line of the nearest field
// present in the file.
func (v *validator) fail(field, format string, args ...any) {
	line := 0
	for p := field; ; {
		if l, ok := v.lines[p]; ok {
			line = l
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			line = v.lines[""]
			break
		}
		p = p[:i]
	}
	v.errs = append(v.errs, &Error{File: v.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func sortedKeys[T any](m map[string]T) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (v *validator) name(field, s string) {
	if !identRE.MatchString(s) {
		v.fail(field, "want a lowercase name of letters, digits and _, starting with a letter; got %q", s)
	}
}

func (v *validator) check(s *Spec) {
	if s.Project == "" {
		v.fail("project", "missing: name the project")
	} else {
		v.name("project", s.Project)
		if s.Project == naming.Reserved {
			v.fail("project", "%q is reserved: sluice_online is the schema of the tables from before projects; choose another name", s.Project)
		}
		if len(s.Project) > naming.MaxProject {
			v.fail("project", "at most %d characters (its tables live in schemas named <project>_predictions, which PostgreSQL caps at 63); got %d", naming.MaxProject, len(s.Project))
		}
	}
	for _, n := range sortedKeys(s.Sources) {
		v.source("sources."+n, n, s.Sources[n])
	}
	for _, n := range sortedKeys(s.Entities) {
		f := "entities." + n
		v.name(f, n)
		if s.Entities[n].Key == "" {
			v.fail(f+".key", "missing: name the key column")
		}
	}
	for _, n := range sortedKeys(s.FeatureViews) {
		v.view(s, "feature_views."+n, n, s.FeatureViews[n])
	}
	for _, n := range sortedKeys(s.Models) {
		v.model(s, "models."+n, n, s.Models[n])
	}
	for _, n := range sortedKeys(s.Pipelines) {
		v.pipeline(s, "pipelines."+n, n, s.Pipelines[n])
	}
}

func (v *validator) source(f, name string, src Source) {
	v.name(f, name)
	set := 0
	for _, p := range []string{src.CSV, src.Parquet, src.JSONL} {
		if p != "" {
			set++
		}
	}
	if src.Postgres != nil {
		set++
		if strings.TrimSpace(src.Postgres.Query) == "" {
			v.fail(f+".postgres.query", "missing: give the SELECT to run")
		}
		if problem := sourceURLProblem(name, src.Postgres.URL); problem != "" {
			v.fail(f+".postgres.url", "%s", problem)
		}
	}
	if set != 1 {
		v.fail(f, "want exactly one of csv, parquet, jsonl or postgres; got %d", set)
	}
	for _, col := range sortedKeys(src.Schema) {
		if !slices.Contains(ColumnTypes, src.Schema[col]) {
			v.fail(f+".schema."+col, "want one of %s; got %q", strings.Join(ColumnTypes, ", "), src.Schema[col])
		}
	}
	if src.Delimiter != "" {
		if src.CSV == "" {
			v.fail(f+".delimiter", "only a csv source has a delimiter")
		} else if r := []rune(src.Delimiter); len(r) != 1 || r[0] > 0x7f || r[0] == '"' || r[0] == '\n' || r[0] == '\r' {
			v.fail(f+".delimiter", "want one ASCII character other than a quote or line break; got %q", src.Delimiter)
		}
	}
	for i, c := range src.Checks {
		cf := fmt.Sprintf("%s.checks[%d]", f, i)
		if c.Column == "" {
			v.fail(cf+".column", "missing: name the column to check")
		}
		kinds := 0
		for _, on := range []bool{c.NotNull, c.Unique, c.Min != nil || c.Max != nil, len(c.Allowed) > 0, c.Freshness > 0} {
			if on {
				kinds++
			}
		}
		if kinds != 1 {
			v.fail(cf, "want exactly one of not_null, unique, min/max, allowed or freshness")
		}
		if c.Level != "" && c.Level != "warn" && c.Level != "fail" {
			v.fail(cf+".level", "want warn or fail; got %q", c.Level)
		}
	}
}

func (v *validator) view(s *Spec, f, name string, fv FeatureView) {
	v.name(f, name)
	if _, ok := s.Entities[fv.Entity]; !ok {
		v.fail(f+".entity", "want one of the entities (%s); got %q", strings.Join(sortedKeys(s.Entities), ", "), fv.Entity)
	}
	if _, ok := s.Sources[fv.Source]; !ok {
		v.fail(f+".source", "want one of the sources (%s); got %q", strings.Join(sortedKeys(s.Sources), ", "), fv.Source)
	}
	if len(fv.Columns) == 0 && len(fv.Aggregations) == 0 {
		v.fail(f, "want columns or aggregations")
	}
	for i, a := range fv.Aggregations {
		af := fmt.Sprintf("%s.aggregations[%d]", f, i)
		if a.Column == "" {
			v.fail(af+".column", "missing: name the column to aggregate")
		}
		if !slices.Contains(aggFns, a.Function) {
			v.fail(af+".function", "want one of %s; got %q", strings.Join(aggFns, ", "), a.Function)
		}
		if len(a.Windows) == 0 {
			v.fail(af+".windows", "want at least one window, like [7d, 30d]")
		}
	}
}

func (v *validator) model(s *Spec, f, name string, m Model) {
	v.name(f, name)
	switch m.Task {
	case "binary", "regression", "multiclass":
	default:
		v.fail(f+".task", "want binary, regression or multiclass; got %q", m.Task)
	}
	if _, ok := s.Sources[m.Label.Source]; !ok {
		v.fail(f+".label.source", "want one of the sources (%s); got %q", strings.Join(sortedKeys(s.Sources), ", "), m.Label.Source)
	}
	if m.Label.Column == "" {
		v.fail(f+".label.column", "missing: name the label column")
	}
	if len(m.Features) == 0 {
		v.fail(f+".features", "want at least one feature view")
	}
	for i, fv := range m.Features {
		if _, ok := s.FeatureViews[fv]; !ok {
			v.fail(fmt.Sprintf("%s.features[%d]", f, i), "want one of the feature views (%s); got %q", strings.Join(sortedKeys(s.FeatureViews), ", "), fv)
		}
	}
	switch m.Algorithm {
	case "", "gbdt", "linear":
	default:
		v.fail(f+".algorithm", "want gbdt or linear; got %q", m.Algorithm)
	}
	mon := m.Monitoring
	switch mon.Format {
	case "", "json", "slack":
	default:
		v.fail(f+".monitoring.format", "want json or slack; got %q", mon.Format)
	}
	switch mon.OnDrift {
	case "", "none", "retrain":
	default:
		v.fail(f+".monitoring.on_drift", "want retrain or none; got %q", mon.OnDrift)
	}
	if problem := webhookProblem(mon.Webhook); mon.Webhook != "" && problem != "" {
		v.fail(f+".monitoring.webhook", "%s", problem)
	}
	if mon.PSIWarn < 0 || mon.PSIAlert < 0 || (mon.PSIAlert > 0 && mon.PSIWarn > mon.PSIAlert) || mon.PValue < 0 || mon.PValue >= 1 {
		v.fail(f+".monitoring", "want 0 ≤ psi_warn ≤ psi_alert and 0 ≤ p_value < 1")
	}
	switch m.Approval {
	case "", "auto", "manual":
	default:
		v.fail(f+".approval", "want auto or manual; got %q", m.Approval)
	}
	switch m.Queue {
	case "", "cpu", "gpu":
	default:
		v.fail(f+".queue", "want cpu or gpu; got %q", m.Queue)
	}
	if err := sweep.ValidateSearch(sweep.Search(m.Search)); err != nil {
		v.fail(f+".search", "%v", err)
	} else if err := sweep.ValidateCount(m.Sweep, sweep.Search(m.Search)); err != nil {
		v.fail(f+".sweep", "%v", err)
	}
	for _, k := range sortedKeys(m.Sweep) {
		if err := sweep.ValidateParam(m.Sweep[k], sweep.Search(m.Search)); err != nil {
			v.fail(f+".sweep."+k, "%v", err)
		}
	}
	for i, g := range m.Gates {
		gf := fmt.Sprintf("%s.gates[%d]", f, i)
		if g.Metric == "" {
			v.fail(gf+".metric", "missing: name the metric, like auc")
		}
		n := 0
		for _, p := range []*float64{g.Min, g.Max, g.VsChampion} {
			if p != nil {
				n++
			}
		}
		if n != 1 {
			v.fail(gf, "want exactly one of min, max or vs_champion")
		}
	}
	if m.Scoring.Entities != "" {
		if _, ok := s.Sources[m.Scoring.Entities]; !ok {
			v.fail(f+".scoring.entities", "want one of the sources (%s); got %q", strings.Join(sortedKeys(s.Sources), ", "), m.Scoring.Entities)
		}
	}
}

func (v *validator) pipeline(s *Spec, f, name string, p Pipeline) {
	v.name(f, name)
	if len(p.Steps) == 0 {
		v.fail(f+".steps", "want at least one of %s", strings.Join(Steps, ", "))
	}
	for i, st := range p.Steps {
		if !slices.Contains(Steps, st) {
			v.fail(fmt.Sprintf("%s.steps[%d]", f, i), "want one of %s; got %q", strings.Join(Steps, ", "), st)
		}
	}
	for i, m := range p.Models {
		if _, ok := s.Models[m]; !ok {
			v.fail(fmt.Sprintf("%s.models[%d]", f, i), "want one of the models (%s); got %q", strings.Join(sortedKeys(s.Models), ", "), m)
		}
	}
	if p.Schedule != "" {
		if err := checkCron(p.Schedule); err != nil {
			v.fail(f+".schedule", "%v", err)
		}
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil {
			v.fail(f+".time_zone", "want an IANA time zone like Europe/Paris; got %q", p.TimeZone)
		}
	}
}

// checkCron accepts five-field cron expressions (minute hour day month
// weekday) of numbers, ranges, lists, steps and *.
func checkCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Errorf("want a cron expression of 5 fields (minute hour day month weekday), like \"0 2 * * *\"; got %q", expr)
	}
	limits := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	names := [5]string{"minute", "hour", "day of month", "month", "day of week"}
	for i, fld := range fields {
		for _, part := range strings.Split(fld, ",") {
			rng, step, hasStep := strings.Cut(part, "/")
			if hasStep {
				if n, err := strconv.Atoi(step); err != nil || n < 1 {
					return fmt.Errorf("cron %s field %q: bad step", names[i], fld)
				}
			}
			if rng == "*" {
				continue
			}
			lo, hi, isRange := strings.Cut(rng, "-")
			for _, num := range []string{lo, hi} {
				if num == "" && !isRange {
					continue
				}
				n, err := strconv.Atoi(num)
				if err != nil || n < limits[i][0] || n > limits[i][1] {
					return fmt.Errorf("cron %s field %q: want numbers %d-%d", names[i], fld, limits[i][0], limits[i][1])
				}
			}
		}
	}
	return nil
}
