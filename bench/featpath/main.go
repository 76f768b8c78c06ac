// Command featpath times the feature store's product path, as a user runs
// it: the sluice CLI against a dev stack (`sluice dev`, whose own worker
// leaves the io queue to a `sluice worker --queues io` beside it, so the
// worker's CPU seconds and peak RSS are its own), on Parquet files it
// generates, beside DuckDB (bench/duckdb -product) on the same files in the
// same run. For each shape it times:
//
//   - ingest: `sluice ingest events --wait` (Parquet → the day-partitioned
//     raw table) against DuckDB's COPY to day-partitioned Parquet;
//   - training set: `sluice training-set m --rebuild` (labels joined with
//     the view's windows as of each label time, into the training table)
//     against DuckDB's best query on tables loaded beforehand, and the
//     same join Parquet to Parquet;
//   - materialize: `sluice materialize v --full` as of the data's last
//     day against DuckDB's as-of aggregation, and an incremental
//     materialize of the next day.
//
// The worker's phases (the CLI's --timings) show where the time goes.
// Sluice's tables are read back through the catalog and checksummed
// against DuckDB's results. It prints Markdown tables.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/sources"
)

// shape is one data set of the benchmark.
type shape struct {
	name               string
	events, entities   int
	labels             int
	stringKeys         bool
	columns            int // value columns: amount, or v0…v(n-1)
	functions, windows []string
}

var shapes = []shape{
	{name: "base", events: 10_000_000, entities: 100_000, labels: 1_000_000, columns: 1,
		functions: []string{"sum", "count", "mean"}, windows: []string{"7", "30"}},
	{name: "string-keys", events: 10_000_000, entities: 100_000, labels: 1_000_000, columns: 1, stringKeys: true,
		functions: []string{"sum", "count", "mean"}, windows: []string{"7", "30"}},
	{name: "wide", events: 10_000_000, entities: 100_000, labels: 1_000_000, columns: 10,
		functions: []string{"sum"}, windows: []string{"1", "3", "7", "14", "30"}},
	{name: "30m", events: 30_000_000, entities: 300_000, labels: 3_000_000, columns: 1,
		functions: []string{"sum", "count", "mean"}, windows: []string{"7", "30"}},
	{name: "100m", events: 100_000_000, entities: 1_000_000, labels: 10_000_000, columns: 1,
		functions: []string{"sum", "count", "mean"}, windows: []string{"7", "30"}},
}

// days is the span of the events; labels fall anywhere in it.
const days = 90

var start = time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)

func (s shape) valueColumns() []string {
	if s.columns == 1 {
		return []string{"amount"}
	}
	out := make([]string, s.columns)
	for i := range out {
		out[i] = fmt.Sprintf("v%d", i)
	}
	return out
}

func main() {
	data := flag.String("data", "bench/data/featpath", "folder of the generated Parquet files")
	only := flag.String("shapes", "base,string-keys,wide", "shapes to run, comma-separated (also 30m, 100m)")
	sluice := flag.String("sluice", "sluice", "the sluice binary")
	duck := flag.String("duckdb", "duckdb", "the bench/duckdb binary")
	flag.Parse()
	b := &bench{sluice: *sluice, duckdb: *duck}
	var err error
	if b.work, err = os.MkdirTemp("", "featpath"); err != nil {
		fail(err)
	}
	// A private PostgreSQL server (no SLUICE_DATABASE_URL) runs as its
	// own user, which must enter the folder.
	if err := os.Chmod(b.work, 0o711); err != nil {
		fail(err)
	}
	defer os.RemoveAll(b.work)
	var results []result
	for _, s := range shapes {
		if !slices.Contains(strings.Split(*only, ","), s.name) {
			continue
		}
		dir := filepath.Join(*data, s.name)
		if err := generate(dir, s); err != nil {
			fail(fmt.Errorf("%s: generating: %w", s.name, err))
		}
		r, err := b.run(s, dir)
		if err != nil {
			fail(fmt.Errorf("%s: %w", s.name, err))
		}
		results = append(results, r)
	}
	report(results)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "featpath:", err)
	os.Exit(1)
}

type bench struct {
	sluice, duckdb, work string
}

// measure is one timed step: wall seconds, the worker's CPU seconds and
// peak RSS, and the phases the CLI printed.
type measure struct {
	wall, cpu, rssMiB float64
	phases            map[string]float64
	around            float64 // wall time outside the activity
	out               string
}

// duck is DuckDB's figures for one step.
type duck struct {
	table, parquet, rssMiB float64
	best                   string
	forms                  map[string]float64 // each training-set formulation's seconds
	checksum               float64
	rows                   int64
}

type result struct {
	s                              shape
	ingest, training, full, incr   measure
	dIngest, dTraining, dMaterial  duck
	trainingCheck, materialCheck   float64
	trainingRows, materializedRows int64
}

// run starts a dev stack and an io worker for the shape and times its
// steps, then DuckDB's.
func (b *bench) run(s shape, dir string) (result, error) {
	r := result{s: s}
	proj := filepath.Join(b.work, s.name)
	if err := os.MkdirAll(proj, 0o755); err != nil {
		return r, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return r, err
	}
	if err := os.WriteFile(filepath.Join(proj, "sluice.yaml"), []byte(specFor(s, abs)), 0o644); err != nil {
		return r, err
	}
	stack, err := b.startStack(proj)
	if err != nil {
		return r, err
	}
	defer stack.stop()
	if _, err := b.cli(proj, stack, "apply"); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "%s: ingest...\n", s.name)
	if r.ingest, err = b.cli(proj, stack, "ingest", "events", "--wait"); err != nil {
		return r, err
	}
	if _, err := b.cli(proj, stack, "ingest", "labels", "--wait"); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "%s: training set...\n", s.name)
	if r.training, err = b.cli(proj, stack, "training-set", "m", "--rebuild", "--timings"); err != nil {
		return r, err
	}
	last := start.AddDate(0, 0, days)
	fmt.Fprintf(os.Stderr, "%s: materialize...\n", s.name)
	if r.full, err = b.cli(proj, stack, "materialize", "txn", "--full", "--timings", "--as-of", last.Add(-24*time.Hour).Format(time.RFC3339)); err != nil {
		return r, err
	}
	if r.incr, err = b.cli(proj, stack, "materialize", "txn", "--timings", "--as-of", last.Format(time.RFC3339)); err != nil {
		return r, err
	}
	if r.trainingCheck, r.trainingRows, err = stack.checksum(r.training.out, `in (\S+) \(snapshot (\d+)\)`); err != nil {
		return r, err
	}
	if r.materialCheck, r.materializedRows, err = stack.checksum(r.full.out, `^(\S+): \d+ entities .* in snapshot (\d+)`); err != nil {
		return r, err
	}
	stack.stop()

	fmt.Fprintf(os.Stderr, "%s: DuckDB...\n", s.name)
	args := []string{"-threads", "2", "-events", filepath.Join(abs, "events.parquet"), "-labels", filepath.Join(abs, "labels.parquet"),
		"-columns", strings.Join(s.valueColumns(), ","), "-functions", strings.Join(s.functions, ","), "-windows", strings.Join(s.windows, ",")}
	if r.dIngest, err = b.duckStep("ingest", args); err != nil {
		return r, err
	}
	// Every formulation once, then the fastest alone: its own process's
	// peak RSS, and Parquet to Parquet.
	// The range join and the RANGE-frame windows lose by 3-4× on base
	// and take minutes on wide: the other shapes time the prefix forms.
	forms := args
	if s.name != "base" {
		forms = append(append([]string(nil), args...), "-forms", "prefix_union,prefix")
	}
	all, err := b.duckStep("training-set", forms)
	if err != nil {
		return r, err
	}
	if r.dTraining, err = b.duckStep("training-set", append(args, "-forms", all.best)); err != nil {
		return r, err
	}
	r.dTraining.forms = all.forms
	if r.dMaterial, err = b.duckStep("materialize", append(args, "-as-of", last.Add(-24*time.Hour).Format(time.RFC3339))); err != nil {
		return r, err
	}
	return r, nil
}

// specFor is the shape's project: the events and labels, one view of the
// value columns' windows, one model.
func specFor(s shape, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "project: featpath\nsources:\n")
	fmt.Fprintf(&b, "  events: {parquet: %s, key: customer_id, timestamp: ts}\n", filepath.Join(dir, "events.parquet"))
	fmt.Fprintf(&b, "  labels: {parquet: %s, key: customer_id, timestamp: label_at}\n", filepath.Join(dir, "labels.parquet"))
	fmt.Fprintf(&b, "entities:\n  customer: {key: customer_id}\nfeature_views:\n  txn:\n    entity: customer\n    source: events\n    aggregations:\n")
	for _, c := range s.valueColumns() {
		for _, fn := range s.functions {
			fmt.Fprintf(&b, "      - {column: %s, function: %s, windows: [%sd]}\n", c, fn, strings.Join(s.windows, "d, "))
		}
	}
	fmt.Fprintf(&b, "models:\n  m:\n    task: binary\n    label: {source: labels, column: label}\n    features: [txn]\n    algorithm: gbdt\n")
	return b.String()
}

// stack is a running dev stack and io worker.
type stack struct {
	dev, worker *exec.Cmd
	env         []string
	catalog     *lakehouse.Catalog
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startStack starts `sluice dev` in proj (its own worker on every queue
// but io) and a `sluice worker --queues io` on its settings.
func (b *bench) startStack(proj string) (*stack, error) {
	args := []string{"dev", "--dir", filepath.Join(proj, ".sluice"), "--worker-queues", "control,cpu,gpu"}
	for _, flag := range []string{"--temporal-port", "--ui-port", "--api-port", "--serve-port"} {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		args = append(args, flag, strconv.Itoa(p))
	}
	st := &stack{}
	st.dev = exec.Command(b.sluice, args...)
	st.dev.Dir = proj
	st.dev.Env = append(os.Environ(), "SLUICE_LOG_LEVEL=warn")
	logf, err := os.Create(filepath.Join(proj, "dev.log"))
	if err != nil {
		return nil, err
	}
	st.dev.Stdout, st.dev.Stderr = logf, logf
	if err := st.dev.Start(); err != nil {
		return nil, err
	}
	envFile := filepath.Join(proj, ".sluice", "env")
	var settings map[string]string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if settings, err = readEnv(envFile); err == nil && settings["SLUICE_TEMPORAL_ADDRESS"] != "" {
			break
		}
		if time.Now().After(deadline) || st.dev.ProcessState != nil {
			st.stop()
			return nil, fmt.Errorf("sluice dev did not start; see %s", logf.Name())
		}
	}
	if os.Getenv("SLUICE_DATABASE_URL") != "" {
		settings["SLUICE_DATABASE_URL"] = os.Getenv("SLUICE_DATABASE_URL") // the file leaves a password out
	}
	for k, v := range settings {
		st.env = append(st.env, k+"="+v)
	}
	st.worker = exec.Command(b.sluice, "worker", "--queues", "io")
	st.worker.Dir = proj
	st.worker.Env = append(append(os.Environ(), "SLUICE_LOG_LEVEL=warn"), st.env...)
	wlog, err := os.Create(filepath.Join(proj, "worker.log"))
	if err != nil {
		st.stop()
		return nil, err
	}
	st.worker.Stdout, st.worker.Stderr = wlog, wlog
	if err := st.worker.Start(); err != nil {
		st.stop()
		return nil, err
	}
	ctx := context.Background()
	if st.catalog, err = lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: settings["SLUICE_DATABASE_URL"],
		Lake: lakehouse.Options{URL: settings["SLUICE_LAKE"]}}); err != nil {
		st.stop()
		return nil, err
	}
	return st, nil
}

func (st *stack) stop() {
	if st.catalog != nil {
		st.catalog.Close()
		st.catalog = nil
	}
	for _, c := range []*exec.Cmd{st.worker, st.dev} {
		if c != nil && c.Process != nil && c.ProcessState == nil {
			c.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				c.Process.Kill()
				<-done
			}
		}
	}
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// cli runs a sluice command in the project and measures it with the
// worker's CPU time and peak RSS (reset before the command).
func (b *bench) cli(proj string, st *stack, args ...string) (measure, error) {
	pid := st.worker.Process.Pid
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return measure{}, fmt.Errorf("resetting the worker's peak RSS: %w", err)
	}
	cpu0, err := cpuSeconds(pid)
	if err != nil {
		return measure{}, err
	}
	cmd := exec.Command(b.sluice, args...)
	cmd.Dir = proj
	cmd.Env = append(os.Environ(), st.env...)
	begin := time.Now()
	out, err := cmd.CombinedOutput()
	m := measure{wall: time.Since(begin).Seconds(), out: string(out)}
	if err != nil {
		return m, fmt.Errorf("sluice %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return m, err
	}
	m.cpu = cpu1 - cpu0
	if m.rssMiB, err = peakRSS(pid); err != nil {
		return m, err
	}
	m.phases, m.around = parseTimings(m.out)
	return m, nil
}

// cpuSeconds is a process's user and system time.
func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which may hold spaces.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	stt, _ := strconv.ParseFloat(f[12], 64)
	return (ut + stt) / 100, nil // USER_HZ
}

// peakRSS is a process's VmHWM in MiB.
func peakRSS(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for process %d", pid)
}

var (
	timeLine  = regexp.MustCompile(`time: ([0-9.]+) s wall, ([0-9.]+) s in the activity`)
	phaseLine = regexp.MustCompile(`(?m)^  (\w+)\s+([0-9.]+) s$`)
)

// parseTimings reads the CLI's --timings lines.
func parseTimings(out string) (map[string]float64, float64) {
	phases := map[string]float64{}
	for _, m := range phaseLine.FindAllStringSubmatch(out, -1) {
		phases[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	around := 0.0
	if m := timeLine.FindStringSubmatch(out); m != nil {
		wall, _ := strconv.ParseFloat(m[1], 64)
		act, _ := strconv.ParseFloat(m[2], 64)
		around = wall - act
	}
	return phases, around
}

// checksum finds the table and snapshot a command printed and adds up the
// feature columns (those named txn__…) of that snapshot.
func (st *stack) checksum(out, pattern string) (float64, int64, error) {
	m := regexp.MustCompile("(?m)" + pattern).FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no table and snapshot in %q", out)
	}
	snap, _ := strconv.ParseInt(m[2], 10, 64)
	rd, err := st.catalog.Read(context.Background(), m[1], lakehouse.ScanOptions{SnapshotID: snap})
	if err != nil {
		return 0, 0, err
	}
	var sum float64
	var rows int64
	for rec, err := range rd.Records {
		if err != nil {
			return 0, 0, err
		}
		rows += rec.NumRows()
		for i, f := range rec.Schema().Fields() {
			if !strings.HasPrefix(f.Name, "txn__") {
				continue
			}
			switch a := rec.Column(i).(type) {
			case *array.Float64:
				for j := range a.Len() {
					if a.IsValid(j) {
						sum += a.Value(j)
					}
				}
			case *array.Int64:
				for j := range a.Len() {
					sum += float64(a.Value(j))
				}
			}
		}
	}
	return sum, rows, nil
}

// duckStep runs one DuckDB step in its own process (its peak RSS is the
// step's).
func (b *bench) duckStep(step string, args []string) (duck, error) {
	cmd := exec.Command(b.duckdb, append([]string{"-product", step}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return duck{}, fmt.Errorf("duckdb %s: %w", step, err)
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		return duck{}, fmt.Errorf("duckdb %s: reading %q: %w", step, out, err)
	}
	num := func(k string) float64 { v, _ := res[k].(float64); return v }
	d := duck{rssMiB: float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024, checksum: num("checksum"), rows: int64(num("rows"))}
	d.best, _ = res["best"].(string)
	d.forms = map[string]float64{}
	for _, f := range []string{"prefix_union", "prefix", "range_join", "window"} {
		if v := num(f + "_seconds"); v > 0 {
			d.forms[f] = v
		}
	}
	switch step {
	case "ingest":
		d.table = num("copy_seconds")
	case "training-set":
		d.table, d.parquet = num("table_seconds"), num("parquet_seconds")
	case "materialize":
		d.table, d.parquet = num("table_seconds"), num("parquet_seconds")
	}
	return d, nil
}

// report prints the tables: each step beside DuckDB, then where the time
// went.
func report(results []result) {
	fmt.Println("| shape | step | Sluice wall s | worker CPU s | worker peak RSS MiB | DuckDB on tables s | DuckDB Parquet → Parquet s | DuckDB peak RSS MiB | DuckDB ÷ Sluice (tables; Parquet) | values agree |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		agree := func(a, b float64, ra, rb int64) string {
			if ra == rb && math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) {
				return "yes"
			}
			return fmt.Sprintf("NO: %d rows %.9g, DuckDB %d rows %.9g", ra, a, rb, b)
		}
		row := func(step string, m measure, d duck, check string) {
			fmt.Printf("| %s | %s | %.2f | %.2f | %.0f | %s | %s | %s | %s | %s |\n", r.s.name, step, m.wall, m.cpu, m.rssMiB,
				orDash(d.table), orDash(d.parquet), orDash(d.rssMiB), ratios(d, m.wall), check)
		}
		row("ingest (events)", r.ingest, r.dIngest, "")
		row("training set"+bestNote(r.dTraining), r.training, r.dTraining, agree(r.trainingCheck, r.dTraining.checksum, r.trainingRows, r.dTraining.rows))
		row("materialize, full", r.full, r.dMaterial, agree(r.materialCheck, r.dMaterial.checksum, r.materializedRows, r.dMaterial.rows))
		row("materialize, next day incremental", r.incr, duck{}, "")
	}
	for _, r := range results {
		var forms []string
		for f, v := range r.dTraining.forms {
			forms = append(forms, fmt.Sprintf("%s %.2f s", strings.ReplaceAll(f, "_", " "), v))
		}
		slices.Sort(forms)
		fmt.Printf("\n%s: DuckDB's training-set formulations on loaded tables: %s.\n", r.s.name, strings.Join(forms, ", "))
	}
	fmt.Println()
	fmt.Println("| shape | step | around the activity (Temporal) s | plan | read (scan, decode) | spill | unspill | compute | write (encode, upload) | commit | online |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		for _, st := range []struct {
			name string
			m    measure
		}{{"training set", r.training}, {"materialize, full", r.full}, {"materialize, incremental", r.incr}} {
			fmt.Printf("| %s | %s | %.2f |", r.s.name, st.name, st.m.around)
			for _, p := range []string{"plan", "read", "spill", "unspill", "compute", "write", "commit", "online"} {
				fmt.Printf(" %s |", orDash(st.m.phases[p]))
			}
			fmt.Println()
		}
	}
}

func bestNote(d duck) string {
	if d.best == "" {
		return ""
	}
	return " (DuckDB's best: " + strings.ReplaceAll(d.best, "_", " ") + ")"
}

func ratios(d duck, wall float64) string {
	if d.table == 0 {
		return "–"
	}
	if d.parquet == 0 {
		return fmt.Sprintf("%.2f", d.table/wall)
	}
	return fmt.Sprintf("%.2f; %.2f", d.table/wall, d.parquet/wall)
}

func orDash(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", v)
}

var tsType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}

// generate writes the shape's events (time-ordered, seconds resolution,
// values with two decimals) and labels (random entity, random time, a 0/1
// label) unless they exist.
func generate(dir string, s shape) error {
	evPath, labPath := filepath.Join(dir, "events.parquet"), filepath.Join(dir, "labels.parquet")
	if _, err := os.Stat(labPath); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: writing %d events and %d labels to %s...\n", s.name, s.events, s.labels, dir)
	r := rand.New(rand.NewPCG(1, 2))
	keyType := arrow.DataType(arrow.PrimitiveTypes.Int64)
	if s.stringKeys {
		keyType = arrow.BinaryTypes.String
	}
	appendKey := func(b array.Builder, k int) {
		if s.stringKeys {
			b.(*array.StringBuilder).Append(fmt.Sprintf("C%07d", k))
		} else {
			b.(*array.Int64Builder).Append(int64(k))
		}
	}
	fields := []arrow.Field{{Name: "customer_id", Type: keyType}, {Name: "ts", Type: tsType}}
	for _, c := range s.valueColumns() {
		fields = append(fields, arrow.Field{Name: c, Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	t0 := start.UnixMicro()
	span := int64(days * 24 * time.Hour / time.Microsecond)
	events := rows(schema, s.events, func(b *array.RecordBuilder, i int) {
		appendKey(b.Field(0), r.IntN(s.entities))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(t0 + int64(i)*(span/int64(s.events))/1_000_000*1_000_000))
		for c := range s.columns {
			b.Field(2 + c).(*array.Float64Builder).Append(float64(r.IntN(100_000)) / 100)
		}
	})
	if err := sources.WriteParquet(evPath, schema, events); err != nil {
		return err
	}
	lschema := arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: keyType}, {Name: "label_at", Type: tsType},
		{Name: "label", Type: arrow.PrimitiveTypes.Int64}}, nil)
	labels := rows(lschema, s.labels, func(b *array.RecordBuilder, _ int) {
		appendKey(b.Field(0), r.IntN(s.entities))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(t0 + r.Int64N(span)/1_000_000*1_000_000))
		b.Field(2).(*array.Int64Builder).Append(int64(r.IntN(2)))
	})
	return sources.WriteParquet(labPath, lschema, labels)
}

// rows yields n rows in batches of a million, each appended by fill with
// its row number.
func rows(schema *arrow.Schema, n int, fill func(b *array.RecordBuilder, i int)) func(func(arrow.RecordBatch, error) bool) {
	const batch = 1_000_000
	return func(yield func(arrow.RecordBatch, error) bool) {
		for done := 0; done < n; done += batch {
			b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			for i := done; i < min(done+batch, n); i++ {
				fill(b, i)
			}
			rec := b.NewRecordBatch()
			b.Release()
			ok := yield(rec, nil)
			rec.Release()
			if !ok {
				return
			}
		}
	}
}
