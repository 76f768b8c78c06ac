// Command duckdb times DuckDB on the lake benchmark's files: read_csv (and
// read_parquet) written out as zstd Parquet, the reference that Sluice's
// ingestion is compared with. It is its own module, so Sluice does not
// depend on DuckDB.
package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	csvPath := flag.String("csv", "", "the CSV file")
	pqPath := flag.String("parquet", "", "the Parquet file")
	threads := flag.Int("threads", 2, "DuckDB threads")
	level := flag.Int("level", 1, "zstd level (Sluice's lake tables write level 1)")
	events := flag.String("events", "", "the feature benchmark's events (instead of -csv/-parquet)")
	labels := flag.String("labels", "", "the feature benchmark's labels")
	step := flag.String("product", "", "a step of the product-path benchmark (bench/featpath): training-set, materialize or ingest")
	var p productFlags
	flag.StringVar(&p.key, "key", "customer_id", "product path: the entity key column")
	flag.StringVar(&p.ts, "ts", "ts", "product path: the event time column")
	flag.StringVar(&p.labelTime, "label-time", "label_at", "product path: the label time column")
	flag.StringVar(&p.label, "label", "label", "product path: the label column")
	flag.StringVar(&p.columns, "columns", "amount", "product path: the aggregated columns, comma-separated")
	flag.StringVar(&p.functions, "functions", "sum,count,mean", "product path: the aggregations, comma-separated")
	flag.StringVar(&p.windows, "windows", "7,30", "product path: the windows in days, comma-separated")
	flag.StringVar(&p.asOf, "as-of", "", "product path: the materialize as-of time (RFC 3339)")
	flag.StringVar(&p.forms, "forms", "prefix_union,prefix,range_join,window", "product path: the training-set formulations to time")
	flag.Parse()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(fmt.Sprintf("SET threads = %d", *threads)); err != nil {
		log.Fatal(err)
	}
	if *step != "" {
		p.events, p.labels = *events, *labels
		if err := productStep(db, *step, p); err != nil {
			log.Fatalf("%s: %v", *step, err)
		}
		return
	}
	if *events != "" {
		featureQueries(db, *events, *labels)
		return
	}
	if *csvPath == "" || *pqPath == "" {
		log.Fatal("usage: duckdb -csv FILE -parquet FILE | -events FILE -labels FILE [-threads N]")
	}
	out, err := os.MkdirTemp("", "duckdb-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(out)
	res := map[string]float64{}
	for name, src := range map[string]string{"csv": "read_csv('" + quote(*csvPath) + "')", "parquet": "read_parquet('" + quote(*pqPath) + "')"} {
		dst := filepath.Join(out, name+".parquet")
		start := time.Now()
		if _, err := db.Exec(fmt.Sprintf("COPY (SELECT * FROM %s) TO '%s' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL %d)", src, quote(dst), *level)); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		secs := time.Since(start).Seconds()
		var rows int64
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", quote(dst))).Scan(&rows); err != nil {
			log.Fatal(err)
		}
		res[name+"_rows_per_s"] = float64(rows) / secs
		res[name+"_seconds"] = secs
		if st, err := os.Stat(dst); err == nil {
			res[name+"_output_mib"] = float64(st.Size()) / (1 << 20)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}

func quote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// featureQueries times the feature store's two references: windowed
// aggregations at every event (window functions over RANGE frames; the
// frames start a microsecond after t-w, as Sluice's windows (t-w, t] do)
// and a point-in-time join (ASOF JOIN), each summed into a checksum.
func featureQueries(db *sql.DB, events, labels string) {
	ev, lab := quote(events), quote(labels)
	queries := map[string]string{
		"windows": fmt.Sprintf(`SELECT count(*), sum(s7) + sum(c7) + sum(m7) + sum(s30) + sum(c30) + sum(m30) FROM (
			SELECT sum(amount) OVER w7 AS s7, count(amount) OVER w7 AS c7, avg(amount) OVER w7 AS m7,
			       sum(amount) OVER w30 AS s30, count(amount) OVER w30 AS c30, avg(amount) OVER w30 AS m30
			FROM read_parquet('%s')
			WINDOW w7 AS (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN INTERVAL '604799999999 microseconds' PRECEDING AND CURRENT ROW),
			       w30 AS (PARTITION BY customer_id ORDER BY ts RANGE BETWEEN INTERVAL '2591999999999 microseconds' PRECEDING AND CURRENT ROW))`, ev),
		"pit": fmt.Sprintf(`SELECT (SELECT count(*) FROM read_parquet('%s')), sum(e.amount)
			FROM read_parquet('%s') l ASOF LEFT JOIN read_parquet('%s') e ON l.customer_id = e.customer_id AND l.label_at >= e.ts`, lab, lab, ev),
	}
	res := map[string]float64{}
	for name, q := range queries {
		start := time.Now()
		var rows int64
		var check float64
		if err := db.QueryRow(q).Scan(&rows, &check); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		res[name+"_seconds"] = time.Since(start).Seconds()
		res[name+"_rows"] = float64(rows)
		res[name+"_checksum"] = check
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}

// productFlags describe the product-path benchmark's data and view.
type productFlags struct {
	events, labels, key, ts, labelTime, label string
	columns, functions, windows, asOf         string
	forms                                     string
}

// aggregations are the view's features as SQL over the events e, each
// restricted to its window before the time expression at: sum, count and
// mean over (at - w, at], as Sluice's windows are.
func (p productFlags) aggregations(at string) []string {
	var out []string
	for _, c := range strings.Split(p.columns, ",") {
		for _, fn := range strings.Split(p.functions, ",") {
			for _, d := range strings.Split(p.windows, ",") {
				sqlFn := map[string]string{"sum": "sum", "count": "count", "mean": "avg", "min": "min", "max": "max"}[fn]
				out = append(out, fmt.Sprintf("%s(e.%s) FILTER (WHERE e.%s > %s - INTERVAL %s DAY) AS %s_%s_%sd", sqlFn, c, p.ts, at, d, c, fn, d))
			}
		}
	}
	return out
}

// maxWindow is the longest window in days.
func (p productFlags) maxWindow() string {
	best := 0
	for _, d := range strings.Split(p.windows, ",") {
		var n int
		fmt.Sscan(d, &n)
		best = max(best, n)
	}
	return fmt.Sprint(best)
}

// checksumOf adds up a result's aggregation columns, as bench/featpath
// does with Sluice's table.
func (p productFlags) checksumOf(db *sql.DB, from string) (float64, int64, error) {
	var terms []string
	for _, a := range p.aggregations("x") {
		name := a[strings.LastIndex(a, " AS ")+4:]
		terms = append(terms, fmt.Sprintf("coalesce(sum(%s), 0)", name))
	}
	var check float64
	var rows int64
	err := db.QueryRow(fmt.Sprintf("SELECT count(*), %s FROM %s", strings.Join(terms, " + "), from)).Scan(&rows, &check)
	return check, rows, err
}

// productStep times one step of the product path (bench/featpath): the
// best of two queries on tables loaded beforehand (untimed) and the same
// work Parquet to Parquet, or the day-partitioned COPY that ingest does.
// It prints JSON.
func productStep(db *sql.DB, step string, p productFlags) error {
	out, err := os.MkdirTemp("", "duckdb-product")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	r := &stepRun{db: db, p: p, out: out, res: map[string]any{}, ev: "read_parquet('" + quote(p.events) + "')"}
	run, ok := map[string]func() error{"ingest": r.ingest, "training-set": r.trainingSet, "materialize": r.materialize}[step]
	if !ok {
		return fmt.Errorf("unknown step %q (want training-set, materialize or ingest)", step)
	}
	if err := run(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r.res)
}

// stepRun is one product step's database, flags, scratch folder and
// results; ev reads the events file.
type stepRun struct {
	db      *sql.DB
	p       productFlags
	out, ev string
	res     map[string]any
}

// timed runs q and records its seconds under name.
func (r *stepRun) timed(name, q string) error {
	start := time.Now()
	if _, err := r.db.Exec(q); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.res[name+"_seconds"] = time.Since(start).Seconds()
	return nil
}

// ingest is the day-partitioned COPY.
func (r *stepRun) ingest() error {
	p, ev := r.p, r.ev
	// The day as a date (a time-zone conversion for a TIMESTAMPTZ)
	// or as whole days since the epoch (UTC, integer arithmetic):
	// the faster counts.
	for name, day := range map[string]string{"copy_date": "CAST(" + p.ts + " AS DATE)", "copy_epoch": "epoch_us(" + p.ts + ") // 86400000000"} {
		if err := r.timed(name, fmt.Sprintf(`COPY (SELECT *, %s AS day FROM %s) TO '%s'
			(FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd, COMPRESSION_LEVEL 1)`, day, ev, quote(filepath.Join(r.out, name)))); err != nil {
			return err
		}
	}
	r.res["copy_seconds"] = math.Min(r.res["copy_date_seconds"].(float64), r.res["copy_epoch_seconds"].(float64))
	return nil
}

// trainingSet times the formulations on loaded tables, then the fastest
// Parquet to Parquet.
func (r *stepRun) trainingSet() error {
	p, ev := r.p, r.ev
	var err error
	lab := "read_parquet('" + quote(p.labels) + "')"
	if _, err := r.db.Exec(fmt.Sprintf("CREATE TABLE events AS SELECT * FROM %s", ev)); err != nil {
		return err
	}
	if _, err := r.db.Exec(fmt.Sprintf("CREATE TABLE labels AS SELECT row_number() OVER () AS lid, * FROM %s", lab)); err != nil {
		return err
	}
	join := func(events, labels string) string {
		return fmt.Sprintf(`SELECT l.lid, any_value(l.%[1]s) AS %[1]s, any_value(l.%[2]s) AS %[2]s, any_value(l.%[3]s) AS %[3]s, %[4]s
			FROM %[5]s l LEFT JOIN %[6]s e ON e.%[1]s = l.%[1]s AND e.%[7]s <= l.%[2]s AND e.%[7]s > l.%[2]s - INTERVAL %[8]s DAY
			GROUP BY l.lid`, p.key, p.labelTime, p.label, strings.Join(p.aggregations("l."+p.labelTime), ", "), labels, events, p.ts, p.maxWindow())
	}
	// Four formulations; the fastest counts. The range join groups
	// each label's window rows; the window form sorts labels in
	// among the events and aggregates over RANGE frames; the prefix
	// form takes running sums and counts per entity and subtracts
	// the one at t - w from the one at t (an ASOF join a window, or
	// one sort of the labels' points among the events).
	queries := map[string]string{"prefix_union": prefixUnionQuery(p), "prefix": prefixQuery(p), "range_join": join("events", "labels"), "window": windowQuery(p)}
	forms := strings.Split(p.forms, ",")
	for _, f := range forms {
		q, ok := queries[f]
		if !ok {
			return fmt.Errorf("unknown form %q (want prefix_union, prefix, range_join or window)", f)
		}
		if err := r.timed(f, "CREATE TABLE ts_"+f+" AS "+q); err != nil {
			return err
		}
	}
	best := forms[0]
	for _, f := range forms[1:] {
		if r.res[f+"_seconds"].(float64) < r.res[best+"_seconds"].(float64) {
			best = f
		}
	}
	r.res["best"], r.res["table_seconds"] = best, r.res[best+"_seconds"]
	// Parquet to Parquet: the best form straight from the files,
	// the tables' names now views over them.
	for _, stmt := range []string{"DROP TABLE events", "DROP TABLE labels", "CREATE VIEW events AS SELECT * FROM " + ev,
		fmt.Sprintf("CREATE VIEW labels AS SELECT row_number() OVER () AS lid, * FROM %s", lab)} {
		if _, err := r.db.Exec(stmt); err != nil {
			return err
		}
	}
	if err := r.timed("parquet", fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
		queries[best], quote(filepath.Join(r.out, "set.parquet")))); err != nil {
		return err
	}
	var rows int64
	var check float64
	if check, rows, err = p.checksumOf(r.db, "ts_"+forms[0]); err != nil {
		return err
	}
	r.res["checksum"], r.res["rows"] = check, rows
	for _, f := range forms[1:] {
		// Running sums differ from direct ones in the last bits.
		if check2, _, err := p.checksumOf(r.db, "ts_"+f); err != nil {
			return err
		} else if math.Abs(check2-check) > 1e-7*math.Max(1, math.Abs(check)) {
			return fmt.Errorf("the formulations disagree: %s %v, %s %v", forms[0], check, f, check2)
		}
	}
	return nil
}

// materialize is the as-of GROUP BY, on a table and Parquet to Parquet.
func (r *stepRun) materialize() error {
	p, ev := r.p, r.ev
	at := fmt.Sprintf("TIMESTAMPTZ '%s'", p.asOf)
	q := func(events string) string {
		return fmt.Sprintf(`SELECT e.%[1]s, %[2]s FROM %[3]s e WHERE e.%[4]s <= %[5]s GROUP BY e.%[1]s`,
			p.key, strings.Join(p.aggregations(at), ", "), events, p.ts, at)
	}
	if _, err := r.db.Exec(fmt.Sprintf("CREATE TABLE events AS SELECT * FROM %s", ev)); err != nil {
		return err
	}
	if err := r.timed("table", "CREATE TABLE snapshot AS "+q("events")); err != nil {
		return err
	}
	if err := r.timed("parquet", fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
		q(ev), quote(filepath.Join(r.out, "snapshot.parquet")))); err != nil {
		return err
	}
	check, rows, err := p.checksumOf(r.db, "snapshot")
	if err != nil {
		return err
	}
	r.res["checksum"], r.res["rows"] = check, rows
	return nil
}

// windowQuery is the training set as window functions: labels sorted in
// among the events by time (ties: events first, so a label sees the
// events at its own time), each aggregation over a RANGE frame
// (t - w, t], kept for the label rows.
func windowQuery(p productFlags) string {
	var aggs, wins []string
	for _, c := range strings.Split(p.columns, ",") {
		for _, fn := range strings.Split(p.functions, ",") {
			for _, d := range strings.Split(p.windows, ",") {
				sqlFn := map[string]string{"sum": "sum", "count": "count", "mean": "avg", "min": "min", "max": "max"}[fn]
				aggs = append(aggs, fmt.Sprintf("%s(%s) OVER w%s AS %s_%s_%sd", sqlFn, c, d, c, fn, d))
			}
		}
	}
	for _, d := range strings.Split(p.windows, ",") {
		var days int64
		fmt.Sscan(d, &days)
		wins = append(wins, fmt.Sprintf("w%s AS (PARTITION BY %s ORDER BY %s RANGE BETWEEN INTERVAL '%d microseconds' PRECEDING AND CURRENT ROW)",
			d, p.key, p.ts, days*86_400_000_000-1))
	}
	var nulls []string
	for _, c := range strings.Split(p.columns, ",") {
		nulls = append(nulls, "NULL AS "+c)
	}
	return fmt.Sprintf(`SELECT lid, %[1]s, %[2]s AS %[3]s, %[4]s, %[5]s FROM (
		SELECT NULL::BIGINT AS lid, %[1]s, %[2]s, NULL::BIGINT AS %[4]s, %[6]s FROM events
		UNION ALL SELECT lid, %[1]s, %[3]s, %[4]s, %[7]s FROM labels)
		WINDOW %[8]s
		QUALIFY lid IS NOT NULL`, p.key, p.ts, p.labelTime, p.label, strings.Join(aggs, ", "), strings.Join(strings.Split(p.columns, ","), ", "),
		strings.Join(nulls, ", "), strings.Join(wins, ", "))
}

// prefixQuery is the training set from running sums: per entity, the
// running sum and count of each column over the events in time order
// (RANGE frames, so rows at one time share the value), looked up with an
// ASOF join at the label time t and at t - w for each window w; a
// window's sum or count is the difference, its mean their ratio. It
// serves sum, count and mean only.
func prefixQuery(p productFlags) string {
	cols := strings.Split(p.columns, ",")
	return prefixCTEs(p, cols) + prefixSelect(p, cols, "lid, "+p.key+", "+p.labelTime+", "+p.label, prefixLast(p))
}

func prefixLast(p productFlags) string { return fmt.Sprintf("j%d", len(strings.Split(p.windows, ","))) }

// prefixUnionQuery is prefixQuery with one sort instead of ASOF joins:
// each label enters the events as a point at t and at t - w for each
// window (no values, so they add nothing), one running-sum pass over
// them all reads each point's sums (RANGE frames: the events at the
// point's time included), and a GROUP BY gathers a label's points.
func prefixUnionQuery(p productFlags) string {
	cols := strings.Split(p.columns, ",")
	windows := strings.Split(p.windows, ",")
	var vals, nulls, run, piv []string
	for _, c := range cols {
		vals = append(vals, c+" AS v_"+c)
		nulls = append(nulls, "NULL::DOUBLE AS v_"+c)
		run = append(run, fmt.Sprintf("sum(v_%[1]s) OVER w AS s_%[1]s, count(v_%[1]s) OVER w AS c_%[1]s", c))
		for k, suffix := range append([]string{"h"}, windows...) {
			piv = append(piv, fmt.Sprintf("coalesce(any_value(s_%[1]s) FILTER (WHERE k = %[2]d), 0) AS s%[3]s_%[1]s, coalesce(any_value(c_%[1]s) FILTER (WHERE k = %[2]d), 0) AS c%[3]s_%[1]s", c, k, suffix))
		}
	}
	points := fmt.Sprintf("SELECT %s, %s, %s, NULL::BIGINT AS lid, -1 AS k FROM events", p.key, p.ts, strings.Join(vals, ", "))
	for k, d := range append([]string{"0"}, windows...) {
		points += fmt.Sprintf("\n\t\tUNION ALL SELECT %s, %s - INTERVAL %s DAY, %s, lid, %d FROM labels", p.key, p.labelTime, d, strings.Join(nulls, ", "), k)
	}
	q := fmt.Sprintf(`WITH pts AS (%[1]s),
		run AS (SELECT lid, k, %[2]s FROM pts
			WINDOW w AS (PARTITION BY %[3]s ORDER BY %[4]s RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
			QUALIFY lid IS NOT NULL),
		piv AS (SELECT lid, %[5]s FROM run GROUP BY lid),
		joined AS (SELECT l.lid, l.%[3]s, l.%[6]s, l.%[7]s, piv.* EXCLUDE (lid) FROM labels l JOIN piv USING (lid))`,
		points, strings.Join(run, ", "), p.key, p.ts, strings.Join(piv, ", "), p.labelTime, p.label)
	return q + prefixSelect(p, cols, "lid, "+p.key+", "+p.labelTime+", "+p.label, "joined")
}

// prefixCTEs are prefixQuery's running sums and ASOF lookups.
func prefixCTEs(p productFlags, cols []string) string {
	var run []string
	for _, c := range cols {
		run = append(run, fmt.Sprintf("sum(%[1]s) OVER w AS s_%[1]s, count(%[1]s) OVER w AS c_%[1]s", c))
	}
	lookup := func(suffix string) string {
		var out []string
		for _, c := range cols {
			out = append(out, fmt.Sprintf("coalesce(c.s_%[1]s, 0) AS s%[2]s_%[1]s, coalesce(c.c_%[1]s, 0) AS c%[2]s_%[1]s", c, suffix))
		}
		return strings.Join(out, ", ")
	}
	q := fmt.Sprintf(`WITH cum AS (SELECT %[1]s, %[2]s, %[3]s FROM events
		WINDOW w AS (PARTITION BY %[1]s ORDER BY %[2]s RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)),
		j0 AS (SELECT l.*, %[4]s FROM labels l ASOF LEFT JOIN cum c ON l.%[1]s = c.%[1]s AND l.%[5]s >= c.%[2]s)`,
		p.key, p.ts, strings.Join(run, ", "), lookup("h"), p.labelTime)
	prev := "j0"
	for i, d := range strings.Split(p.windows, ",") {
		q += fmt.Sprintf(`,
		j%[1]d AS (SELECT l.*, %[2]s FROM %[3]s l ASOF LEFT JOIN cum c ON l.%[4]s = c.%[4]s AND l.%[5]s - INTERVAL %[6]s DAY >= c.%[7]s)`,
			i+1, lookup(d), prev, p.key, p.labelTime, d, p.ts)
		prev = fmt.Sprintf("j%d", i+1)
	}
	return q
}

// prefixSelect turns the running sums and counts at t (sh_, ch_) and at
// t - w (s<w>_, c<w>_) of from into the features.
func prefixSelect(p productFlags, cols []string, keep, from string) string {
	var outs []string
	for _, c := range cols {
		for _, fn := range strings.Split(p.functions, ",") {
			for _, d := range strings.Split(p.windows, ",") {
				sum := fmt.Sprintf("(sh_%[1]s - s%[2]s_%[1]s)", c, d)
				cnt := fmt.Sprintf("(ch_%[1]s - c%[2]s_%[1]s)", c, d)
				var e string
				switch fn {
				case "sum":
					e = fmt.Sprintf("CASE WHEN %s > 0 THEN %s END", cnt, sum)
				case "count":
					e = cnt
				case "mean":
					e = fmt.Sprintf("CASE WHEN %s > 0 THEN %s / %s END", cnt, sum, cnt)
				default:
					e = "error('the prefix form serves sum, count and mean')"
				}
				outs = append(outs, fmt.Sprintf("%s AS %s_%s_%sd", e, c, fn, d))
			}
		}
	}
	return fmt.Sprintf(`
		SELECT %s, %s FROM %s`, keep, strings.Join(outs, ", "), from)
}
