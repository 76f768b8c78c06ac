package spec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDesignExampleParses: the full example of the design (the churn
// project, with every section) is valid.
func TestDesignExampleParses(t *testing.T) {
	s, err := Load("testdata/churn.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Sources["labels"].Format() != "postgres" || s.Sources["transactions"].Path() != "data/transactions/" {
		t.Errorf("sources: %+v", s.Sources)
	}
	agg := s.FeatureViews["customer_txn"].Aggregations[0]
	if agg.Function != "sum" || time.Duration(agg.Windows[1]) != 30*24*time.Hour || s.FeatureViews["customer_txn"].TTL.String() != "90d" {
		t.Errorf("aggregation %+v ttl %v", agg, s.FeatureViews["customer_txn"].TTL)
	}
	m := s.Models["churn"]
	if m.Params["trees"] != "200" || len(m.Sweep["max_depth"]) != 2 || *m.Gates[1].VsChampion != -0.005 {
		t.Errorf("model %+v", m)
	}
}

func TestErrorsNameFileLineAndField(t *testing.T) {
	base := `project: p
sources:
  s: {csv: a.csv, key: id}
entities:
  e: {key: id}
feature_views:
  v:
    entity: e
    source: s
    aggregations:
      - {column: amount, function: avg, windows: [7d]}
models:
  m:
    task: binary
    label: {source: s, column: y}
    features: [v]
`
	tests := []struct {
		name, yaml, want string
	}{
		{"bad function", base, `f.yaml:11: feature_views.v.aggregations[0].function: want one of sum, count, mean, min, max; got "avg"`},
		{"unknown view", strings.Replace(base, "features: [v]", "features: [v, w]", 1) + "", `f.yaml:16: models.m.features[1]: want one of the feature views (v); got "w"`},
		{"bad window", strings.Replace(base, "[7d]", "[7x]", 1), "want a duration like 7d"},
		{"unknown field", base + "    colour: red\n", "field colour not found"},
		{"two formats", strings.Replace(base, "{csv: a.csv, key: id}", "{csv: a.csv, parquet: b/, key: id}", 1), "f.yaml:3: sources.s: want exactly one of csv, parquet, jsonl or postgres; got 2"},
		{"bad cron", base + "pipelines:\n  d: {models: [m], steps: [train], schedule: \"61 * * * *\"}\n", "pipelines.d.schedule: cron minute field"},
		{"bad step", base + "pipelines:\n  d: {models: [m], steps: [train, deploy]}\n", `pipelines.d.steps[1]: want one of ingest, materialize, train, promote, score, monitor; got "deploy"`},
		{"gate", base + "    gates: [{metric: auc}]\n", "models.m.gates[0]: want exactly one of min, max or vs_champion"},
		{"grid distribution", base + "    sweep: {lr: \"uniform(0.01, 0.1)\"}\n", "f.yaml:17: models.m.sweep.lr: a distribution like uniform(0.01, 0.1) is for a random search"},
		{"unquoted distribution", base + "    sweep: {lr: loguniform(0.01, 0.3)}\n    search: {method: random, trials: 2}\n", "quote it whole"},
		{"random trials", base + "    sweep: {lr: [0.1, 0.2]}\n    search: {method: random}\n", "models.m.search: a random search needs trials"},
		{"missing project", strings.Replace(base, "project: p\n", "", 1), "project: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.yaml))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

func TestCheckCron(t *testing.T) {
	for _, ok := range []string{"0 2 * * *", "*/15 * * * *", "0 9-17 * * 1-5", "0 0 1,15 * *"} {
		if err := checkCron(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "* * * *", "0 24 * * *", "0 0 0 * *", "*/0 * * * *", "a * * * *"} {
		if err := checkCron(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSourceChecks(t *testing.T) {
	ok := "project: p\nsources:\n  s:\n    csv: a.csv\n    checks:\n      - {column: id, not_null: true}\n      - {column: amount, min: 0, max: 100, level: warn}\n      - {column: ts, freshness: 2d}\n"
	s, err := Parse("f.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Sources["s"].Checks; len(c) != 3 || *c[1].Max != 100 || time.Duration(c[2].Freshness) != 48*time.Hour {
		t.Errorf("checks %+v", c)
	}
	bad := "project: p\nsources:\n  s:\n    csv: a.csv\n    checks:\n      - {column: id, not_null: true, unique: true}\n      - {column: id, not_null: true, level: loud}\n"
	_, err = Parse("f.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:6: sources.s.checks[0]: want exactly one of") || !strings.Contains(err.Error(), `sources.s.checks[1].level: want warn or fail; got "loud"`) {
		t.Fatalf("got %v", err)
	}
}

func TestSourceSchemaAndDelimiter(t *testing.T) {
	ok := "project: p\nsources:\n  s:\n    csv: a.csv\n    delimiter: \";\"\n    schema: {zip: string, born: date}\n"
	s, err := Parse("f.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if src := s.Sources["s"]; src.Delimiter != ";" || src.Schema["zip"] != "string" || src.Schema["born"] != "date" {
		t.Errorf("source %+v", src)
	}
	bad := "project: p\nsources:\n  s:\n    parquet: a/\n    delimiter: \"::\"\n    schema:\n      zip: text\n"
	_, err = Parse("f.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "sources.s.delimiter: only a csv source has a delimiter") ||
		!strings.Contains(err.Error(), `f.yaml:7: sources.s.schema.zip: want one of int64, float64, bool, string, date, timestamp, int8, int16, int32, uint8, uint16, uint32, uint64, float16, float32; got "text"`) {
		t.Fatalf("got %v", err)
	}
}

func TestRandomSearch(t *testing.T) {
	y := `project: p
sources:
  s: {csv: a.csv, key: id, timestamp: ts}
entities:
  e: {key: id}
feature_views:
  v: {source: s, entity: e, columns: [x]}
models:
  m:
    task: binary
    label: {source: s, column: y}
    features: [v]
    sweep:
      lr: loguniform(0.01, 0.3)
      depth: [4, 6]
    search: {method: random, trials: 8, seed: 3}
`
	s, err := Parse("f.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Models["m"]
	if m.Search != (Search{Method: "random", Trials: 8, Seed: 3}) || m.Sweep["lr"][0] != "loguniform(0.01, 0.3)" || len(m.Sweep["depth"]) != 2 {
		t.Fatalf("model %+v", m)
	}
}

// TestHugeSweepsAreRefusedAtApply: a 6 x 10 grid (a million trials) is
// refused when the spec is parsed, naming the sweep and the cap.
func TestHugeSweepsAreRefusedAtApply(t *testing.T) {
	grid := "{a: [0,1,2,3,4,5,6,7,8,9], b: [0,1,2,3,4,5,6,7,8,9], c: [0,1,2,3,4,5,6,7,8,9], d: [0,1,2,3,4,5,6,7,8,9], e: [0,1,2,3,4,5,6,7,8,9], f: [0,1,2,3,4,5,6,7,8,9]}"
	src := `project: p
sources:
  s: {csv: s.csv, key: id, timestamp: ts}
entities:
  e: {key: id}
feature_views:
  v: {entity: e, source: s, columns: [x]}
models:
  m: {task: binary, label: {source: s, column: y}, features: [v], sweep: ` + grid + `}
`
	if _, err := Parse("sluice.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "models.m.sweep") || !strings.Contains(err.Error(), "cap of 1000") {
		t.Fatalf("got %v, want the sweep refused over the cap", err)
	}
	raised := strings.Replace(src, "sweep: "+grid, "search: {max_trials: 10000}, sweep: {a: [0,1,2,3,4,5,6,7,8,9], b: [0,1,2,3,4,5,6,7,8,9], c: [0,1,2,3,4,5,6,7,8,9], d: [0,1,2,3,4,5,6,7,8,9]}", 1)
	if _, err := Parse("sluice.yaml", []byte(raised)); err != nil {
		t.Fatalf("10,000 trials under max_trials 10000: %v", err)
	}
}
