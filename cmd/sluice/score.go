package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/scoring"
	"github.com/sluice-ml/sluice/workflows"
)

func runScore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("score", stderr)
	cfg.temporalFlags(f)
	var specPath, alias, asOfFlag string
	var parts, concurrency int
	var lakeOnly bool
	f.StringVar(&specPath, "f", "", "project spec (default ./sluice.yaml)")
	f.StringVar(&alias, "alias", "champion", "the version to score with, by alias")
	f.StringVar(&asOfFlag, "as-of", "", "score as of this time (default now)")
	f.IntVar(&parts, "parts", 16, "hash partitions the population splits into")
	f.IntVar(&concurrency, "concurrency", 4, "parts scored at once")
	f.BoolVar(&lakeOnly, "lake-only", false, "write the predictions to the lake only, not to PostgreSQL")
	model, s, _, err := specArg(f, args, &specPath, "usage: sluice score MODEL [-f sluice.yaml] [--alias champion] [--as-of T] [--lake-only]")
	if err != nil {
		return err
	}
	asOf, err := parseDay("as-of", asOfFlag)
	if err != nil {
		return err
	}
	req, err := pipelines.Score(s, model, alias, asOf)
	if err != nil {
		return err
	}
	req.Parts, req.Concurrency, req.LakeOnly = parts, concurrency, lakeOnly
	if req.AsOf.IsZero() {
		req.AsOf = time.Now().UTC().Truncate(time.Second)
	}
	id := fmt.Sprintf("score/%s/%s", req.Model, req.AsOf.Format(time.RFC3339))
	tc, run, err := startRun(ctx, &cfg, stdout, id, workflows.BatchScore, req)
	if err != nil {
		return err
	}
	defer tc.Close()
	var res workflows.ScoreResult
	if err := waitRun(ctx, tc, run, &res, stderr); err != nil {
		return fmt.Errorf("score %s: %w", id, err)
	}
	var steps []string
	for _, k := range slices.Sorted(maps.Keys(res.Timings)) {
		steps = append(steps, fmt.Sprintf("%s %.2fs", k, res.Timings[k]))
	}
	where := "PostgreSQL and the lake"
	if lakeOnly {
		where = "the lake"
	}
	fmt.Fprintf(stdout, "scored %d entities with %s v%d as of %s: %s in %s (snapshot %d)\n",
		res.Rows, req.Model, res.Version, res.AsOf.Format(time.RFC3339), naming.Table(naming.Predictions, req.Model), where, res.LakeSnapshot)
	fmt.Fprintf(stdout, "time: %s\n", strings.Join(steps, ", "))
	if len(res.Dropped) > 0 {
		fmt.Fprintf(stdout, "retention dropped %s\n", strings.Join(res.Dropped, ", "))
	}
	return nil
}

func runPredictions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("predictions", stderr)
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL connection URL")
	var entity string
	var limit int
	f.StringVar(&entity, "entity", "", "only this entity's predictions")
	f.IntVar(&limit, "limit", 20, "at most this many rows, newest first")
	model, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if model == "" {
		return errors.New("usage: sluice predictions MODEL [--entity K] [--limit 20] [--database-url URL]")
	}
	if cfg.DatabaseURL == "" {
		return errors.New("--database-url (or SLUICE_DATABASE_URL) is needed")
	}
	db, err := metastore.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if model, err = qualifyModel(ctx, &registry.Registry{DB: db}, model); err != nil {
		return err
	}
	table := pgx.Identifier(naming.Ident(naming.Predictions, model)).Sanitize()
	var key string
	err = db.QueryRow(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum = 3 AND NOT attisdropped`, table).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no predictions for %s: score it first (sluice score %s)", model, model)
	}
	if err != nil {
		return err
	}
	q := fmt.Sprintf(`SELECT %s FROM %s`, scoring.Table{Key: key}.Columns(), table)
	var qargs []any
	if entity != "" {
		q += fmt.Sprintf(` WHERE %s::text = $1`, pgx.Identifier{key}.Sanitize())
		qargs = append(qargs, entity)
	}
	q += fmt.Sprintf(` ORDER BY as_of DESC, %s LIMIT %d`, pgx.Identifier{key}.Sanitize(), max(limit, 0))
	rows, err := db.Query(ctx, q, qargs...)
	if err != nil {
		return err
	}
	defer rows.Close()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	var head []string
	for _, fd := range rows.FieldDescriptions() {
		head = append(head, strings.ToUpper(fd.Name))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				cells[i] = "-"
			case time.Time:
				cells[i] = v.UTC().Format(time.RFC3339)
			case float64:
				cells[i] = fmt.Sprintf("%.6f", v)
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return tw.Flush()
}
