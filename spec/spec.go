// Package spec reads and validates a project spec (sluice.yaml): sources,
// entities, feature views, models and pipelines. A spec error names the
// file, the line and the field, and says what was expected.
package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ml/sluice/gates"
	"gopkg.in/yaml.v3"
)

// Spec is a project.
type Spec struct {
	Project      string                 `yaml:"project"`
	Sources      map[string]Source      `yaml:"sources"`
	Entities     map[string]Entity      `yaml:"entities"`
	FeatureViews map[string]FeatureView `yaml:"feature_views"`
	Models       map[string]Model       `yaml:"models"`
	Pipelines    map[string]Pipeline    `yaml:"pipelines"`
}

// Source is where raw data comes from: exactly one of CSV, Parquet, JSONL
// (a file or folder) or Postgres (a query).
type Source struct {
	CSV       string          `yaml:"csv"`
	Parquet   string          `yaml:"parquet"`
	JSONL     string          `yaml:"jsonl"`
	Postgres  *PostgresSource `yaml:"postgres"`
	Key       string          `yaml:"key"`
	Timestamp string          `yaml:"timestamp"`
	Checks    []Check         `yaml:"checks"`
	// Schema declares column types (int64, float64, bool, string, date,
	// timestamp); undeclared columns are inferred.
	Schema map[string]string `yaml:"schema"`
	// Delimiter separates a CSV source's fields; a comma when empty.
	Delimiter string `yaml:"delimiter"`
}

// ColumnTypes are the types a source's schema may declare. The narrower
// integer and float types widen to int64 and float64 as they land: the
// lake has no 8- or 16-bit, unsigned or half-precision column.
var ColumnTypes = []string{"int64", "float64", "bool", "string", "date", "timestamp",
	"int8", "int16", "int32", "uint8", "uint16", "uint32", "uint64", "float16", "float32"}

// Check is a data-quality rule on a source column: exactly one of
// not_null, unique, min/max, allowed or freshness. Level is fail (the
// default: the ingest fails and commits nothing) or warn.
type Check struct {
	Column    string   `yaml:"column"`
	NotNull   bool     `yaml:"not_null"`
	Unique    bool     `yaml:"unique"`
	Min       *float64 `yaml:"min"`
	Max       *float64 `yaml:"max"`
	Allowed   []string `yaml:"allowed"`
	Freshness Duration `yaml:"freshness"`
	Level     string   `yaml:"level"`
}

// PostgresSource reads a query; its $1 is the last watermark.
type PostgresSource struct {
	Query string `yaml:"query"`
	// URL defaults to the platform's database.
	URL string `yaml:"url"`
}

// Format is the source's format: csv, parquet, jsonl or postgres.
func (s Source) Format() string {
	switch {
	case s.CSV != "":
		return "csv"
	case s.Parquet != "":
		return "parquet"
	case s.JSONL != "":
		return "jsonl"
	case s.Postgres != nil:
		return "postgres"
	}
	return ""
}

// Path is the file or folder of a file source.
func (s Source) Path() string { return s.CSV + s.Parquet + s.JSONL }

// Entity is what features describe, by key.
type Entity struct {
	Key string `yaml:"key"`
}

// FeatureView derives features of an entity from a source: plain columns
// or windowed aggregations.
type FeatureView struct {
	Entity       string        `yaml:"entity"`
	Source       string        `yaml:"source"`
	Columns      []string      `yaml:"columns"`
	Aggregations []Aggregation `yaml:"aggregations"`
	Online       bool          `yaml:"online"`
	TTL          Duration      `yaml:"ttl"`
}

// Aggregation is a function of a column over trailing windows.
type Aggregation struct {
	Column   string     `yaml:"column"`
	Function string     `yaml:"function"`
	Windows  []Duration `yaml:"windows"`
}

// Model is what to train, how to judge it, and what to score.
type Model struct {
	Task      string            `yaml:"task"`
	Label     Label             `yaml:"label"`
	Features  []string          `yaml:"features"`
	Algorithm string            `yaml:"algorithm"`
	Params    map[string]string `yaml:"params"`
	// Sweep is the search space: per parameter, a list of values or, in
	// a random search, a distribution like loguniform(0.01, 0.3).
	Sweep  Sweep        `yaml:"sweep"`
	Search Search       `yaml:"search"`
	Queue  string       `yaml:"queue"`
	Gates  []gates.Gate `yaml:"gates"`
	// Approval is manual to wait for `sluice models approve` after the
	// gates pass; empty or auto promotes at once.
	Approval   string     `yaml:"approval"`
	Scoring    Scoring    `yaml:"scoring"`
	Monitoring Monitoring `yaml:"monitoring"`
	Serving    Serving    `yaml:"serving"`
}

// Serving says how the online server answers for a model.
type Serving struct {
	// AllowMissing answers instances whose features neither the request
	// nor the online store supply, with those features missing (GBDT
	// routes missing values down a learned branch); otherwise such an
	// instance is a 400 that names them.
	AllowMissing bool `yaml:"allow_missing"`
}

// Monitoring says what drift of a model's scored population does: the
// levels' thresholds, where alerts go, and whether drift retrains.
type Monitoring struct {
	// PSIWarn and PSIAlert bound the population stability index (0.1
	// and 0.25 when unset); PValue the KS and chi-square tests (0.001).
	PSIWarn  float64 `yaml:"psi_warn"`
	PSIAlert float64 `yaml:"psi_alert"`
	PValue   float64 `yaml:"p_value"`
	// Webhook receives alerts as JSON (Format json, the default) or as a
	// Slack message (slack).
	Webhook string `yaml:"webhook"`
	Format  string `yaml:"format"`
	// OnDrift is retrain to run the model's pipeline when drift alerts,
	// at most once per Cooldown (24h when unset); none by default.
	OnDrift  string   `yaml:"on_drift"`
	Cooldown Duration `yaml:"cooldown"`
	// LabelWindow is how long after a prediction its label may arrive to
	// count in the realized performance (30d when unset).
	LabelWindow Duration `yaml:"label_window"`
	// OnlineWindow is the online traffic (logged predictions) whose drift
	// the monitor measures, ending at the run (24h when unset).
	OnlineWindow Duration `yaml:"online_window"`
}

// Sweep maps a parameter to the values to try. A single value may be
// written without brackets.
type Sweep map[string][]string

// UnmarshalYAML reads each parameter's values as a list or one scalar.
func (sw *Sweep) UnmarshalYAML(n *yaml.Node) error {
	var raw map[string]yaml.Node
	if err := n.Decode(&raw); err != nil {
		return err
	}
	out := make(Sweep, len(raw))
	for k, v := range raw {
		if v.Kind == yaml.ScalarNode {
			out[k] = []string{v.Value}
			continue
		}
		var vs []string
		if err := v.Decode(&vs); err != nil {
			return err
		}
		out[k] = vs
	}
	*sw = out
	return nil
}

// Search says how the sweep is explored: grid (every combination, the
// default) or random (Trials draws, repeatable for a Seed).
type Search struct {
	Method string `yaml:"method"`
	Trials int    `yaml:"trials"`
	Seed   int64  `yaml:"seed"`
	// MaxTrials caps the sweep's trials (1,000 when unset; at most
	// 100,000); apply refuses a sweep over it.
	MaxTrials int `yaml:"max_trials"`
}

// Label names the label column of a source.
type Label struct {
	Source string `yaml:"source"`
	Column string `yaml:"column"`
}

// Scoring says which entities a batch score covers.
type Scoring struct {
	Entities string `yaml:"entities"`
	// Retention drops prediction partitions older than this (relative to
	// the newest run's as-of time); 0 keeps them.
	Retention Duration `yaml:"retention"`
}

// Pipeline is a scheduled sequence of steps over some models.
type Pipeline struct {
	Models   []string `yaml:"models"`
	Steps    []string `yaml:"steps"`
	Schedule string   `yaml:"schedule"`
	// TimeZone is the schedule's IANA time zone; empty means UTC.
	TimeZone string `yaml:"time_zone"`
}

// Duration is a span written as 90d, 12h, 30m or 45s.
type Duration time.Duration

var durationRE = regexp.MustCompile(`^([0-9]+)([dhms])$`)

// ParseDuration reads 90d, 12h, 30m or 45s.
func ParseDuration(s string) (Duration, error) {
	m := durationRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("want a duration like 7d, 12h, 30m or 45s, got %q", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive duration, got %q", s)
	}
	unit := map[string]time.Duration{"d": 24 * time.Hour, "h": time.Hour, "m": time.Minute, "s": time.Second}[m[2]]
	return Duration(time.Duration(n) * unit), nil
}

// String writes the duration back in the spec's notation.
func (d Duration) String() string {
	td := time.Duration(d)
	for _, u := range []struct {
		s string
		d time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}} {
		if td%u.d == 0 && td != 0 {
			return strconv.FormatInt(int64(td/u.d), 10) + u.s
		}
	}
	return strconv.FormatInt(int64(td/time.Second), 10) + "s"
}

// UnmarshalYAML reads the notation.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// Error is a spec error at a place in the file.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("spec: invalid project spec")

// Load reads and validates a spec file.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	return Parse(path, b)
}

// MaxBytes caps a spec's size: a project's spec is a few kilobytes, and
// YAML's aliases can make a small file expand.
const MaxBytes = 1 << 20

// Parse reads and validates a spec; name labels errors.
func Parse(name string, data []byte) (*Spec, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: %s: %d bytes, over the %d-byte limit", ErrInvalid, name, len(data), MaxBytes)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: %s", ErrInvalid, name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	v := &validator{file: name, lines: map[string]int{}}
	if len(root.Content) > 0 {
		v.index(root.Content[0], "")
	}
	v.check(&s)
	if len(v.errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(v.errs...))
	}
	return &s, nil
}
