package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/quality"
)

func lakeCommands() []command {
	return []command{
		{"tables", "list the lake's tables", runLakeTables},
		{"show", "a table's schema, partitioning, snapshots and row count", runLakeShow},
		{"head", "a table's first rows", runLakeHead},
		{"checks", "a source's data-quality results, newest runs first", runLakeChecks},
	}
}

func runLake(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "lake", lakeCommands(), args, stdout, stderr)
}

// openLake parses the storage flags and opens the catalog. It takes the
// table name from the first argument when want is set.
func openLake(ctx context.Context, name string, args []string, stderr io.Writer, want bool, extra func(*flagSet)) (*lakehouse.Catalog, string, error) {
	cfg := defaultConfig()
	f := newFlagSet("lake "+name, stderr)
	cfg.storageFlags(f)
	if extra != nil {
		extra(f)
	}
	var table string
	var err error
	if want {
		table, err = f.parseOne(args)
	} else {
		err = f.parse(args, false)
	}
	if err != nil {
		return nil, "", err
	}
	if want && table == "" {
		return nil, "", fmt.Errorf("usage: sluice lake %s NAMESPACE.TABLE", name)
	}
	if err := cfg.validateStorage(); err != nil {
		return nil, "", err
	}
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{DatabaseURL: cfg.DatabaseURL, Lake: cfg.Lake})
	return cat, table, err
}

func runLakeTables(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cat, _, err := openLake(ctx, "tables", args, stderr, false, nil)
	if err != nil {
		return err
	}
	defer cat.Close()
	names, err := cat.Tables(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fmt.Fprintln(stdout, "no tables yet")
	}
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

func runLakeShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cat, table, err := openLake(ctx, "show", args, stderr, true, nil)
	if err != nil {
		return err
	}
	defer cat.Close()
	info, err := cat.Describe(ctx, table)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n  location   %s\n  rows       %d\n  partition  %s\n  schema\n", info.Name, info.Location, info.Rows(), info.Partition)
	for _, line := range strings.Split(strings.TrimSpace(info.Schema), "\n") {
		fmt.Fprintf(stdout, "    %s\n", strings.TrimSpace(line))
	}
	fmt.Fprintln(stdout, "  snapshots")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    id\ttime\toperation\trows\trun")
	for _, s := range info.Snapshots {
		cur := ""
		if s.ID == info.Current {
			cur = " (current)"
		}
		fmt.Fprintf(tw, "    %d%s\t%s\t%s\t%d\t%s\n", s.ID, cur, s.Time.Format("2006-01-02 15:04:05"), s.Operation, s.TotalRecords, orDash(s.RunID))
	}
	return tw.Flush()
}

func runLakeHead(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	n := 10
	cat, table, err := openLake(ctx, "head", args, stderr, true, func(f *flagSet) {
		f.IntVar(&n, "n", 10, "rows to print")
	})
	if err != nil {
		return err
	}
	defer cat.Close()
	if n < 1 {
		return errors.New("-n: want at least 1")
	}
	res, err := cat.Scan(ctx, table, lakehouse.ScanOptions{Limit: int64(n)})
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range res.Records {
			r.Release()
		}
	}()
	if len(res.Records) == 0 {
		fmt.Fprintln(stdout, "(empty)")
		return nil
	}
	return printRecords(stdout, res.Records, n)
}

// printRecords prints up to n rows as an aligned table.
func printRecords(w io.Writer, recs []arrow.RecordBatch, n int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	schema := recs[0].Schema()
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	printed := 0
	for _, r := range recs {
		for i := 0; i < int(r.NumRows()) && printed < n; i++ {
			cells := make([]string, r.NumCols())
			for c := range cells {
				col := r.Column(c)
				if col.IsNull(i) {
					cells[c] = "null"
				} else {
					cells[c] = col.ValueStr(i)
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
			printed++
		}
	}
	return tw.Flush()
}

func runLakeChecks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("lake checks", stderr)
	cfg.storageFlags(f)
	runs := 5
	f.IntVar(&runs, "runs", 5, "how many recent runs to show")
	source, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if source == "" {
		return errors.New("usage: sluice lake checks SOURCE [--runs 5]")
	}
	if cfg.DatabaseURL == "" {
		return errors.New("--database-url (SLUICE_DATABASE_URL) is required")
	}
	pool, err := metastore.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	results, err := (&quality.Store{DB: pool}).Recent(ctx, source, runs)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "checked\trun\tcheck\tstatus\tviolations\tdetail")
	for _, r := range results {
		status := "pass"
		if !r.Passed {
			status = r.Level
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", r.CheckedAt.UTC().Format("2006-01-02 15:04:05"), r.RunID, r.Check, status, r.Violations, r.Detail)
	}
	n := len(results)
	if n == 0 {
		fmt.Fprintf(stdout, "no quality results for source %s\n", source)
		return nil
	}
	return tw.Flush()
}
