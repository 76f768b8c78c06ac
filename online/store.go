// Package online is the online feature store: the newest features of
// every entity in PostgreSQL, one table per view (<project>_online.<view>,
// one row per entity key, typed columns and the event time the values
// are as of), written by materialization and read by serving.
//
// A load stages its rows with COPY into a temporary table and upserts
// them with INSERT … ON CONFLICT in one transaction, keeping a row whose
// event time is newer than the incoming one (a backfill of older days
// never overwrites newer values). The same transaction sends
// NOTIFY sluice_online with the view's name, which empties the caches of
// every reader.
package online

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-ml/sluice/naming"
)

// Channel is the NOTIFY channel a load announces its view on.
const Channel = "sluice_online"

// EventTime is the column holding the time a row's values are as of.
const EventTime = "event_time"

// Store reads and writes the online tables.
type Store struct {
	DB *pgxpool.Pool
}

// pgType is the column type of an Arrow type.
func pgType(t arrow.DataType) (string, error) {
	switch t.ID() {
	case arrow.INT64, arrow.INT32:
		return "bigint", nil
	case arrow.FLOAT64, arrow.FLOAT32:
		return "double precision", nil
	case arrow.BOOL:
		return "boolean", nil
	case arrow.STRING, arrow.LARGE_STRING:
		return "text", nil
	case arrow.TIMESTAMP:
		return "timestamptz", nil
	case arrow.DATE32:
		return "date", nil
	}
	return "", fmt.Errorf("online: no column type for %s", t)
}

// table is a view's online table: <project>_online.<view> for a qualified
// view name, sluice_online.<view> for a bare one.
func table(view string) string { return pgx.Identifier(naming.Ident(naming.Online, view)).Sanitize() }

// schemaOf is the schema of a view's online table.
func schemaOf(view string) string {
	return pgx.Identifier{naming.Namespace(naming.Project(view), naming.Online)}.Sanitize()
}

// ensure creates the view's table, and adds columns it lacks, to hold
// rows of the schema keyed by key.
func ensure(ctx context.Context, tx pgx.Tx, view, key string, schema *arrow.Schema) error {
	var cols []string
	for _, f := range schema.Fields() {
		t, err := pgType(f.Type)
		if err != nil {
			return fmt.Errorf("%w (column %s)", err, f.Name)
		}
		def := pgx.Identifier{f.Name}.Sanitize() + " " + t
		if f.Name == key {
			if t == "text" {
				// Byte order: keys are identifiers, and the index on them
				// builds and probes faster than under a locale.
				def += ` COLLATE "C"`
			}
			def += " PRIMARY KEY"
		}
		cols = append(cols, def)
	}
	stmts := []string{
		"CREATE SCHEMA IF NOT EXISTS " + schemaOf(view),
		// Half-full pages leave room for a load to rewrite a row on its
		// own page (a HOT update), with no new index entry: most loads
		// update every row they touch.
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s, %s timestamptz NOT NULL) WITH (fillfactor = 50)", table(view), strings.Join(cols, ", "), EventTime),
	}
	// Concurrent loads of one view would race on CREATE TABLE: a lock per
	// view serialises them.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "sluice_online."+view); err != nil {
		return fmt.Errorf("online: locking %s: %w", view, err)
	}
	// ALTER TABLE takes an exclusive lock even when the column exists,
	// held until the load commits: every online read of the view would
	// wait for the whole load. Only missing columns are added.
	existing := map[string]bool{}
	rows, err := tx.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, table(view))
	if err != nil {
		return fmt.Errorf("online: reading the columns of %s: %w", view, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("online: reading the columns of %s: %w", view, err)
		}
		existing[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("online: reading the columns of %s: %w", view, err)
	}
	for i, c := range cols {
		if f := schema.Field(i); f.Name != key && !existing[f.Name] && len(existing) > 0 {
			stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s", table(view), c))
		}
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("online: preparing %s: %w", view, err)
		}
	}
	return nil
}

// Upsert loads the records (the key column and feature columns) as the
// view's values as of asOf, in one transaction. It returns the rows
// loaded.
func (s *Store) Upsert(ctx context.Context, view, key string, schema *arrow.Schema, recs func(yield func(arrow.RecordBatch, error) bool), asOf time.Time) (int64, error) {
	if len(schema.FieldIndices(key)) == 0 {
		return 0, fmt.Errorf("online: the rows of %s lack the key column %s", view, key)
	}
	// The key goes first, so the table's first column is its key.
	order := []int{schema.FieldIndices(key)[0]}
	for i, f := range schema.Fields() {
		if f.Name != key {
			order = append(order, i)
		}
	}
	fields := make([]arrow.Field, len(order))
	names := make([]string, len(order)+1)
	for j, i := range order {
		fields[j] = schema.Field(i)
		names[j] = fields[j].Name
	}
	names[len(order)] = EventTime
	tx, err := s.DB.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("online: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := ensure(ctx, tx, view, key, arrow.NewSchema(fields, nil)); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE online_load (LIKE %s) ON COMMIT DROP", table(view))); err != nil {
		return 0, fmt.Errorf("online: staging %s: %w", view, err)
	}
	src := &copySource{order: order, asOf: asOf.UTC()}
	var n int64
	for rec, err := range recs {
		if err != nil {
			return 0, err
		}
		src.reset(rec)
		c, err := tx.CopyFrom(ctx, pgx.Identifier{"online_load"}, names, src)
		if err != nil {
			return 0, fmt.Errorf("online: copying rows of %s: %w", view, err)
		}
		n += c
	}
	quoted := make([]string, len(names))
	var sets []string
	for i, c := range names {
		quoted[i] = pgx.Identifier{c}.Sanitize()
		if i > 0 {
			sets = append(sets, quoted[i]+" = EXCLUDED."+quoted[i])
		}
	}
	cols := strings.Join(quoted, ", ")
	upsert := fmt.Sprintf(`INSERT INTO %s AS t (%s) SELECT %s FROM online_load
		ON CONFLICT (%s) DO UPDATE SET %s WHERE t.%s <= EXCLUDED.%s`,
		table(view), cols, cols, quoted[0], strings.Join(sets, ", "), EventTime, EventTime)
	if _, err := tx.Exec(ctx, upsert); err != nil {
		return 0, fmt.Errorf("online: upserting %s: %w", view, err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, view); err != nil {
		return 0, fmt.Errorf("online: notifying: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("online: committing %s: %w", view, err)
	}
	return n, nil
}

// copySource feeds a record batch's rows to COPY, in the table's column
// order, with the event time last.
type copySource struct {
	rec   arrow.RecordBatch
	order []int
	asOf  time.Time
	row   int
	vals  []any
}

func (c *copySource) reset(rec arrow.RecordBatch) { c.rec, c.row = rec, -1 }

func (c *copySource) Next() bool {
	c.row++
	return c.row < int(c.rec.NumRows())
}

func (c *copySource) Values() ([]any, error) {
	c.vals = c.vals[:0]
	for _, i := range c.order {
		c.vals = append(c.vals, value(c.rec.Column(i), c.row))
	}
	return append(c.vals, c.asOf), nil
}

func (c *copySource) Err() error { return nil }

// value is one cell as the Go value pgx encodes.
func value(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch c := a.(type) {
	case *array.Int64:
		return c.Value(i)
	case *array.Int32:
		return int64(c.Value(i))
	case *array.Float64:
		return c.Value(i)
	case *array.Float32:
		return float64(c.Value(i))
	case *array.Boolean:
		return c.Value(i)
	case *array.String:
		return c.Value(i)
	case *array.LargeString:
		return c.Value(i)
	case *array.Timestamp:
		return c.Value(i).ToTime(c.DataType().(*arrow.TimestampType).Unit)
	case *array.Date32:
		return c.Value(i).ToTime()
	}
	return a.ValueStr(i)
}
