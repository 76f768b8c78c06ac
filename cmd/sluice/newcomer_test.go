package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/devstack/postgres"
	"github.com/sluice-ml/sluice/sources"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// writeNewcomerData writes a Parquet pair as a newcomer brings one:
// events (customer_id, ts, amount) and labels (customer_id, label_at,
// churned as int8, a type Iceberg lacks). Customers who spent little in
// the last 30 days before their label churn.
func writeNewcomerData(t *testing.T, dir string, customers int, seed uint64) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	rng := rand.New(rand.NewPCG(seed, 7))
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	evSchema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: ts}, {Name: "amount", Type: arrow.PrimitiveTypes.Float64}}, nil)
	lbSchema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String},
		{Name: "label_at", Type: ts}, {Name: "churned", Type: arrow.PrimitiveTypes.Int8}}, nil)
	ev := array.NewRecordBuilder(memory.DefaultAllocator, evSchema)
	lb := array.NewRecordBuilder(memory.DefaultAllocator, lbSchema)
	defer ev.Release()
	defer lb.Release()
	for c := range customers {
		labelAt := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(90)) * 24 * time.Hour)
		id := fmt.Sprintf("C%05d", c)
		active := rng.Float64() < 0.6
		spent := 0.0
		for range 5 + rng.IntN(10) {
			back := time.Duration(rng.IntN(90*24)) * time.Hour
			if !active && back < 30*24*time.Hour {
				back += 30 * 24 * time.Hour
			}
			amount := 5 + rng.Float64()*50
			ev.Field(0).(*array.StringBuilder).Append(id)
			ev.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(labelAt.Add(-back).UnixMicro()))
			ev.Field(2).(*array.Float64Builder).Append(amount)
			spent += amount
		}
		churned := int8(0)
		if !active {
			churned = 1
		}
		lb.Field(0).(*array.StringBuilder).Append(id)
		lb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(labelAt.UnixMicro()))
		lb.Field(2).(*array.Int8Builder).Append(churned)
	}
	for _, f := range []struct {
		name   string
		schema *arrow.Schema
		b      *array.RecordBuilder
	}{{"events.parquet", evSchema, ev}, {"labels.parquet", lbSchema, lb}} {
		rec := f.b.NewRecordBatch()
		must(t, sources.WriteParquet(filepath.Join(dir, f.name), f.schema, func(yield func(arrow.RecordBatch, error) bool) { yield(rec, nil) }))
		rec.Release()
	}
}

// cli runs a sluice command the way a user types it: in dir, with no
// flags beyond the command's own arguments and no SLUICE_* variable but
// the ones given, so it must find the dev stack by itself.
func cli(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := cliErr(dir, env, args...)
	if err != nil {
		t.Fatalf("sluice %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return out
}

// cliErr is cli for a command that may fail.
func cliErr(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, runMainEnv+"=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestNewcomerProjectsFromTheReadme plays a newcomer: `sluice dev` in a
// project folder, then sluice init on a Parquet pair, apply, ingest,
// training-set and train, every command without a flag. A second project
// with the same source, view and model names runs beside it from another
// folder, and neither sees the other's data.
func TestNewcomerProjectsFromTheReadme(t *testing.T) {
	if _, err := postgres.FindBinDir(); err != nil {
		testenv.Unavailable(t, "sluice dev needs PostgreSQL's binaries: %v", err)
	}
	root := testenv.ServerDir(t)
	alpha, beta := filepath.Join(root, "alpha"), filepath.Join(root, "beta")
	writeNewcomerData(t, filepath.Join(alpha, "data"), 300, 1)
	writeNewcomerData(t, filepath.Join(beta, "data"), 120, 2)

	ports := freePorts(t, 4)
	dev := exec.Command(os.Args[0], "dev", "--temporal-port", strconv.Itoa(ports[0]), "--ui-port", strconv.Itoa(ports[1]),
		"--api-port", strconv.Itoa(ports[2]), "--serve-port", strconv.Itoa(ports[3]))
	dev.Dir = alpha
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			dev.Env = append(dev.Env, kv)
		}
	}
	dev.Env = append(dev.Env, runMainEnv+"=1")
	p := &process{cmd: dev, out: &syncBuffer{}, done: make(chan struct{})}
	dev.Stdout, dev.Stderr = p.out, p.out
	must(t, dev.Start())
	go func() { p.err = dev.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = dev.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = dev.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of sluice dev:\n%s", p.out.String())
		}
	})
	p.waitFor(t, "Sluice dev stack is ready", 90*time.Second)
	envFile := filepath.Join(alpha, ".sluice", "env")
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sluice dev wrote no private %s: %v", envFile, err)
	}
	if b, _ := os.ReadFile(envFile); !strings.Contains(string(b), "SLUICE_DATABASE_URL=") || !strings.Contains(string(b), "SLUICE_API_TOKEN_FILE=") {
		t.Errorf("%s lacks the stack's settings:\n%s", envFile, b)
	} else if token, _ := os.ReadFile(filepath.Join(alpha, ".sluice", "api-token")); strings.Contains(string(b), strings.TrimSpace(string(token))) {
		t.Errorf("%s holds the API token itself", envFile)
	}

	// The second project finds the stack through SLUICE_DEV_DIR.
	otherEnv := []string{"SLUICE_DEV_DIR=" + filepath.Join(alpha, ".sluice")}
	for _, proj := range []struct {
		dir  string
		env  []string
		rows int
	}{{alpha, nil, 300}, {beta, otherEnv, 120}} {
		name := filepath.Base(proj.dir)
		out := cli(t, proj.dir, proj.env, "init", "--from", "data/events.parquet", "--from", "data/labels.parquet")
		if !strings.Contains(out, "wrote sluice.yaml: project "+name) || !strings.Contains(out, "binary model of labels.churned") ||
			!strings.Contains(out, "sluice apply --explain") {
			t.Fatalf("sluice init in %s said:\n%s", name, out)
		}
		if out := cli(t, proj.dir, proj.env, "apply", "--explain"); !strings.Contains(out, name+"_raw.events") || !strings.Contains(out, "registry "+name+".churned_model") {
			t.Errorf("apply --explain in %s said:\n%s", name, out)
		}
		if out := cli(t, proj.dir, proj.env, "apply"); !strings.Contains(out, name+": spec version 1 stored (the first)") {
			t.Errorf("apply in %s said:\n%s", name, out)
		}
		for _, src := range []string{"events", "labels"} {
			out := cli(t, proj.dir, proj.env, "ingest", src)
			if !strings.Contains(out, "into "+name+"_raw."+src) {
				t.Errorf("ingest %s in %s said:\n%s", src, name, out)
			}
		}
		out = cli(t, proj.dir, proj.env, "training-set", "churned_model")
		if !strings.Contains(out, fmt.Sprintf("wrote %d rows in %s_training.churned_model", proj.rows, name)) {
			t.Errorf("training-set in %s said:\n%s", name, out)
		}
		out = cli(t, proj.dir, proj.env, "train", "churned_model")
		// The run's link in the Temporal UI at once.
		if !strings.Contains(out, "/namespaces/default/workflows/train%2F"+name+".churned_model%2F") {
			t.Errorf("train in %s showed no link to the run:\n%s", name, out)
		}
		if !strings.Contains(out, "registered "+name+".churned_model v1") {
			t.Errorf("train in %s said:\n%s", name, out)
		}
		if m := regexp.MustCompile(`auc=([0-9.]+)`).FindStringSubmatch(out); m == nil {
			t.Errorf("train in %s reported no test auc:\n%s", name, out)
		} else if auc, _ := strconv.ParseFloat(m[1], 64); auc < 0.8 {
			t.Errorf("%s's model learned little (test auc %.3f): the features do not reach it", name, auc)
		}
	}

	// The README's third command: the whole pipeline, then a prediction
	// from the online store the pipeline filled.
	out := cli(t, alpha, nil, "run", "train", "--wait")
	if !strings.Contains(out, "materialize") || !strings.Contains(out, "promoted true") {
		t.Errorf("sluice run train --wait said:\n%s", out)
	}
	// Not a terminal: one line per step, from Temporal's describe.
	if !strings.Contains(out, "step Pipeline > ") {
		t.Errorf("sluice run train --wait showed no progress:\n%s", out)
	}

	// Neither project sees the other's data.
	tables := cli(t, alpha, nil, "lake", "tables")
	for _, want := range []string{"alpha_raw.events", "alpha_raw.labels", "beta_raw.events", "alpha_training.churned_model", "beta_training.churned_model"} {
		if !strings.Contains(tables, want) {
			t.Errorf("lake tables lacks %s:\n%s", want, tables)
		}
	}
	if regexp.MustCompile(`(?m)^raw\.`).MatchString(tables) {
		t.Errorf("a table landed outside the projects:\n%s", tables)
	}
	for _, c := range []struct {
		table string
		rows  int
	}{{"alpha_raw.labels", 300}, {"beta_raw.labels", 120}, {"alpha_training.churned_model", 300}, {"beta_training.churned_model", 120}} {
		out := cli(t, alpha, nil, "lake", "show", c.table)
		if !regexp.MustCompile(fmt.Sprintf(`rows +%d\n`, c.rows)).MatchString(out) {
			t.Errorf("%s should hold %d rows:\n%s", c.table, c.rows, out)
		}
	}
	models := cli(t, beta, otherEnv, "models", "list")
	if !strings.Contains(models, "alpha.churned_model") || !strings.Contains(models, "beta.churned_model") {
		t.Errorf("models list:\n%s", models)
	}
	// From its folder, a bare model name means the folder's project.
	if out := cli(t, beta, otherEnv, "models", "show", "churned_model"); !strings.Contains(out, "beta.churned_model") && !strings.Contains(out, "v1") {
		t.Errorf("models show in beta:\n%s", out)
	}
	// A copied spec that keeps another project's name is refused.
	spec, err := os.ReadFile(filepath.Join(alpha, "sluice.yaml"))
	must(t, err)
	copied := filepath.Join(root, "copied")
	must(t, os.MkdirAll(copied, 0o755))
	must(t, os.WriteFile(filepath.Join(copied, "sluice.yaml"), spec, 0o644))
	if out, err := cliErr(copied, otherEnv, "apply"); err == nil || !strings.Contains(out, "project alpha belongs to the spec in "+alpha) {
		t.Errorf("applying a copy of alpha's spec from another folder: %v\n%s", err, out)
	}
}
