package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/sources"
	"github.com/sluice-ml/sluice/spec"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// runInit scaffolds a project from data files: it reads each file's
// schema and first rows, guesses keys, event times and the label, and
// writes a commented sluice.yaml with one feature view and one model to
// edit.
func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlagSet("init", stderr)
	var from repeated
	var project, out string
	var force bool
	f.Var(&from, "from", "a data file (.csv, .parquet, .jsonl) or a glob of them; repeat for each source")
	f.StringVar(&project, "project", "", "the project's name (default: this folder's name)")
	f.StringVar(&out, "f", "sluice.yaml", "the spec to write")
	f.BoolVar(&force, "force", false, "overwrite an existing spec")
	rest, err := f.parseMany(args)
	if err != nil {
		return err
	}
	from = append(from, rest...) // a shell-expanded glob after --from
	if len(from) == 0 {
		return errors.New("usage: sluice init --from data/events.parquet --from data/labels.csv [--project NAME] [-f sluice.yaml]")
	}
	if !force && fileExists(out) {
		return fmt.Errorf("%s exists: edit it, or pass --force to write a new one", out)
	}
	if project == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		project = identifier(filepath.Base(wd))
		if project == naming.Reserved {
			project += "_project"
		}
	}
	if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(project) || len(project) > naming.MaxProject || project == naming.Reserved {
		return fmt.Errorf("--project %q: want a lowercase name of letters, digits and _, starting with a letter, at most %d characters", project, naming.MaxProject)
	}
	var files []string
	for _, pattern := range from {
		matches, err := filepath.Glob(pattern)
		if err != nil || len(matches) == 0 {
			return fmt.Errorf("--from %s: no such file", pattern)
		}
		files = append(files, matches...)
	}
	baseDir, err := filepath.Abs(filepath.Dir(out))
	if err != nil {
		return err
	}
	var srcs []inferredSource
	for _, path := range files {
		s, err := inferSource(ctx, path, baseDir)
		if err != nil {
			return err
		}
		if slices.ContainsFunc(srcs, func(o inferredSource) bool { return o.name == s.name }) {
			return fmt.Errorf("two files make a source named %s: rename one", s.name)
		}
		srcs = append(srcs, s)
	}
	text, plan, err := scaffold(project, srcs)
	if err != nil {
		return err
	}
	if _, err := spec.Parse(out, []byte(text)); err != nil {
		return fmt.Errorf("the scaffolded spec does not validate (please report this): %w", err)
	}
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: project %s, %d sources, %s\n", out, project, len(srcs), plan)
	fmt.Fprintf(stdout, "read it and adjust the guesses (each is commented), then:\n")
	fmt.Fprintf(stdout, "  sluice apply --explain    # what it will create, changing nothing\n")
	fmt.Fprintf(stdout, "  sluice apply              # store the spec\n")
	fmt.Fprintf(stdout, "  sluice run train --wait   # ingest, materialize, train and promote\n")
	return nil
}

// inferredSource is what init read from a file.
type inferredSource struct {
	name, format, path string
	schema             *arrow.Schema
	sample             arrow.RecordBatch
	rows               int64
}

// inferSource reads a file's schema and first chunk.
func inferSource(ctx context.Context, path, baseDir string) (inferredSource, error) {
	format, err := sources.FormatOf(path)
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".jsonl" || ext == ".ndjson" {
		format, err = "jsonl", nil
	}
	if err != nil {
		return inferredSource{}, err
	}
	r, err := sources.Open(ctx, format, path, sources.Options{ChunkRows: 10_000})
	if err != nil {
		return inferredSource{}, fmt.Errorf("reading %s: %w", path, err)
	}
	defer r.Close()
	s := inferredSource{name: identifier(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))), format: format, path: path, schema: r.Schema()}
	if rel, err := filepath.Rel(baseDir, mustAbs(path)); err == nil && !strings.HasPrefix(rel, "..") {
		s.path = rel
	}
	ch, err := r.Next(ctx)
	if err != nil && !errors.Is(err, io.EOF) {
		return s, fmt.Errorf("reading %s: %w", path, err)
	}
	s.sample = ch.Records
	if e, ok := r.(interface{ EstimatedRows() int64 }); ok {
		s.rows = e.EstimatedRows()
	}
	return s, nil
}

// identifier turns a file or folder name into a spec name.
func identifier(s string) string {
	s = strings.ToLower(s)
	s = regexp.MustCompile(`[^a-z0-9_]+`).ReplaceAllString(s, "_")
	s = strings.Trim(s, "_")
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "p_" + s
	}
	return s
}

var (
	timeName  = regexp.MustCompile(`(^|_)(ts|time|timestamp|date|at|day)$|_at$|_time$|_date$`)
	labelName = regexp.MustCompile(`^(label|target|y|class|outcome|churned|churn|converted|fraud|is_fraud)$`)
)

func (s inferredSource) columns() []arrow.Field { return s.schema.Fields() }

// timeColumns are a source's timestamp and date columns, likeliest first.
func (s inferredSource) timeColumns() []string {
	var named, other []string
	for _, f := range s.columns() {
		if f.Type.ID() != arrow.TIMESTAMP && f.Type.ID() != arrow.DATE32 {
			continue
		}
		if timeName.MatchString(f.Name) {
			named = append(named, f.Name)
		} else {
			other = append(other, f.Name)
		}
	}
	return append(named, other...)
}

// keyColumns are the columns that look like keys: id or *_id.
func (s inferredSource) keyColumns() []string {
	var out []string
	for _, f := range s.columns() {
		if f.Name == "id" || strings.HasSuffix(f.Name, "_id") {
			out = append(out, f.Name)
		}
	}
	return out
}

func (s inferredSource) isNumeric(name string) bool {
	i := s.schema.FieldIndices(name)
	if len(i) == 0 {
		return false
	}
	switch s.schema.Field(i[0]).Type.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

// distinct counts a sampled column's distinct values, up to limit+1.
func (s inferredSource) distinct(name string, limit int) int {
	if s.sample == nil {
		return 0
	}
	i := s.sample.Schema().FieldIndices(name)
	if len(i) == 0 {
		return 0
	}
	col := s.sample.Column(i[0])
	seen := map[string]bool{}
	for r := 0; r < col.Len() && len(seen) <= limit; r++ {
		if col.IsValid(r) {
			seen[col.ValueStr(r)] = true
		}
	}
	return len(seen)
}

// scaffold writes the spec's text: every source, one entity on the key
// they share, a feature view over the largest non-label source and a
// model of the label, and a train pipeline. plan says what it guessed.
func scaffold(project string, srcs []inferredSource) (string, string, error) {
	// The key: the *_id column most sources share.
	count := map[string]int{}
	for _, s := range srcs {
		for _, k := range s.keyColumns() {
			count[k]++
		}
	}
	key := ""
	for _, s := range srcs {
		for _, k := range s.keyColumns() {
			if key == "" || count[k] > count[key] {
				key = k
			}
		}
	}
	if key == "" {
		return "", "", errors.New("no column looks like an entity key (id or *_id) in any file: name one with --from files that share a key column")
	}
	// The label source: a file named like labels, else one with a column
	// named like a label, else the smallest.
	labelIdx := -1
	for i, s := range srcs {
		if strings.Contains(s.name, "label") || strings.Contains(s.name, "target") {
			labelIdx = i
		}
	}
	label := ""
	if labelIdx < 0 {
		for i, s := range srcs {
			for _, f := range s.columns() {
				if labelName.MatchString(f.Name) {
					labelIdx, label = i, f.Name
				}
			}
		}
	}
	if labelIdx < 0 {
		labelIdx = 0
		for i, s := range srcs {
			if s.rows < srcs[labelIdx].rows {
				labelIdx = i
			}
		}
	}
	ls := srcs[labelIdx]
	if label == "" {
		for _, f := range ls.columns() {
			if labelName.MatchString(f.Name) {
				label = f.Name
			}
		}
	}
	if label == "" {
		for _, f := range ls.columns() {
			if f.Name != key && !slices.Contains(ls.timeColumns(), f.Name) {
				label = f.Name
			}
		}
	}
	if label == "" {
		return "", "", fmt.Errorf("%s has no column to use as the label", ls.path)
	}
	task := "regression"
	labelType := ls.schema.Field(ls.schema.FieldIndices(label)[0]).Type
	switch n := ls.distinct(label, 20); {
	case labelType.ID() == arrow.BOOL || (n <= 2 && ls.isNumeric(label)):
		task = "binary"
	case labelType.ID() == arrow.STRING || (n <= 20 && !slices.Contains([]arrow.Type{arrow.FLOAT32, arrow.FLOAT64}, labelType.ID())):
		task = "multiclass"
	}
	// The feature source: the largest other source with the key.
	featIdx := -1
	for i, s := range srcs {
		if i != labelIdx && slices.Contains(s.keyColumns(), key) && (featIdx < 0 || s.rows > srcs[featIdx].rows) {
			featIdx = i
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by sluice init. Every guess is commented: check them, then\n")
	fmt.Fprintf(&b, "# `sluice apply --explain` shows what the spec creates. The fields are\n")
	fmt.Fprintf(&b, "# documented in docs/spec.md.\n")
	fmt.Fprintf(&b, "project: %s\n\nsources:\n", project)
	for _, s := range srcs {
		fmt.Fprintf(&b, "  %s:\n    %s: %s\n", s.name, s.format, s.path)
		if slices.Contains(s.keyColumns(), key) {
			fmt.Fprintf(&b, "    key: %s\n", key)
		} else {
			fmt.Fprintf(&b, "    # key: (no %s column found)\n", key)
		}
		if ts := s.timeColumns(); len(ts) > 0 {
			note := "the event time"
			if s.name == ls.name {
				note = "the label time: features are computed as of it"
			}
			fmt.Fprintf(&b, "    timestamp: %s   # %s", ts[0], note)
			if len(ts) > 1 {
				fmt.Fprintf(&b, "; other candidates: %s", strings.Join(ts[1:], ", "))
			}
			b.WriteString("\n")
		} else {
			b.WriteString("    # timestamp: no timestamp or date column found; a label source needs one\n")
		}
		var cols []string
		for _, f := range s.columns() {
			cols = append(cols, fmt.Sprintf("%s %s", f.Name, f.Type))
		}
		fmt.Fprintf(&b, "    # columns read: %s\n", strings.Join(cols, ", "))
	}
	entity := strings.TrimSuffix(key, "_id")
	if entity == "" || entity == key {
		entity = "entity"
	}
	fmt.Fprintf(&b, "\nentities:\n  %s: {key: %s}\n", entity, key)
	view := ""
	if featIdx >= 0 {
		fs := srcs[featIdx]
		view = identifier(fs.name + "_features")
		fmt.Fprintf(&b, "\nfeature_views:\n  %s:\n    entity: %s\n    source: %s\n", view, entity, fs.name)
		var nums, plain []string
		for _, f := range fs.columns() {
			if f.Name == key || slices.Contains(fs.timeColumns(), f.Name) {
				continue
			}
			if fs.isNumeric(f.Name) {
				nums = append(nums, f.Name)
			} else {
				plain = append(plain, f.Name)
			}
		}
		if len(fs.timeColumns()) > 0 && len(nums) > 0 {
			b.WriteString("    # windowed aggregations of the numeric columns; an empty window gives count 0 and null sums\n    aggregations:\n")
			for _, n := range nums {
				fmt.Fprintf(&b, "      - {column: %s, function: sum, windows: [7d, 30d]}\n", n)
			}
			fmt.Fprintf(&b, "      - {column: %s, function: count, windows: [7d, 30d]}\n", nums[0])
		} else {
			cols := append(nums, plain...)
			if len(cols) == 0 {
				return "", "", fmt.Errorf("%s has no feature column besides the key and times", fs.path)
			}
			fmt.Fprintf(&b, "    columns: [%s]   # each entity's newest values\n", strings.Join(cols, ", "))
		}
		b.WriteString("    online: true   # served by sluice serve\n")
	}
	if view == "" {
		return "", "", errors.New("no source besides the label source shares its key: give a file of events or attributes too")
	}
	fmt.Fprintf(&b, "\nmodels:\n  %s:\n", identifier(label+"_model"))
	fmt.Fprintf(&b, "    task: %s   # guessed from %s (%s, %d distinct values in the first rows)\n", task, label, labelType, ls.distinct(label, 20))
	fmt.Fprintf(&b, "    label: {source: %s, column: %s}\n", ls.name, label)
	fmt.Fprintf(&b, "    features: [%s]\n    algorithm: gbdt\n    params: {trees: 200, max_depth: 6, learning_rate: 0.1}\n", view)
	b.WriteString("    # gates:\n    #   - {metric: auc, min: 0.7}\n")
	fmt.Fprintf(&b, "\npipelines:\n  train: {models: [%s], steps: [ingest, materialize, train, promote]}\n", identifier(label+"_model"))
	plan := fmt.Sprintf("entity %s, view %s over %s, %s model of %s.%s", entity, view, srcs[featIdx].name, task, ls.name, label)
	return b.String(), plan, nil
}
