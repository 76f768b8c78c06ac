// Package relocate moves an install of the first release, whose tables
// and models had no project (raw.labels, predictions.churn, model churn),
// into one project's namespaces (naming): lake tables are renamed in the
// Iceberg catalog (their files stay where they are), PostgreSQL's
// prediction and online schemas are renamed, and every row that names a
// model or source gets the project.
//
// Each step finds what is left to move and moves it, so a move that
// stopped half way finishes when run again, and a second run moves
// nothing.
package relocate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/naming"
)

// ErrSeveralProjects reports an install whose first-release tables could
// belong to more than one applied project: the move needs to be told
// which.
var ErrSeveralProjects = errors.New("relocate: several projects are applied; name the one the unprefixed tables belong to")

// Report is what a move did.
type Report struct {
	Project string
	// Tables are the lake tables renamed, "from -> to".
	Tables []string
	// Schemas are the PostgreSQL schemas renamed, "from -> to".
	Schemas []string
	// Rows counts the metadata rows renamed, by table.
	Rows map[string]int64
}

// Moved says whether the move changed anything.
func (r Report) Moved() bool {
	n := len(r.Tables) + len(r.Schemas)
	for _, c := range r.Rows {
		n += int(c)
	}
	return n > 0
}

// Mover moves the first release's layout into a project.
type Mover struct {
	DB *pgxpool.Pool
	// Catalog is the lake's catalog; nil moves the PostgreSQL side only.
	Catalog *lakehouse.Catalog
}

// Pending lists the lake tables still in the first release's layout.
func (m *Mover) Pending(ctx context.Context) ([]string, error) {
	if m.Catalog == nil {
		return nil, nil
	}
	tables, err := m.Catalog.Tables(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tables {
		ns, _, _ := strings.Cut(t, ".")
		for _, layer := range naming.Layers {
			if ns == layer {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// Project picks the project to move into: the one given, else the one
// project ever applied. With none applied there is nothing to own the
// tables yet: "" and no error.
func (m *Mover) Project(ctx context.Context, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	rows, err := m.DB.Query(ctx, `SELECT DISTINCT project FROM sluice.spec_versions ORDER BY project`)
	if err != nil {
		return "", fmt.Errorf("relocate: listing projects: %w", err)
	}
	projects, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("relocate: listing projects: %w", err)
	}
	switch len(projects) {
	case 0:
		return "", nil
	case 1:
		return projects[0], nil
	}
	return "", fmt.Errorf("%w (%s)", ErrSeveralProjects, strings.Join(projects, ", "))
}

// Move moves every first-release table, schema and name into project.
func (m *Mover) Move(ctx context.Context, project string) (Report, error) {
	rep := Report{Project: project, Rows: map[string]int64{}}
	if project == "" || strings.Contains(project, ".") {
		return rep, fmt.Errorf("relocate: %q is not a project name", project)
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		return rep, err
	}
	for _, from := range pending {
		ns, name, _ := strings.Cut(from, ".")
		to := naming.Table(ns, naming.Qualify(project, name))
		if ok, err := m.Catalog.Exists(ctx, to); err != nil {
			return rep, err
		} else if ok {
			return rep, fmt.Errorf("relocate: both %s and %s exist: move or drop one by hand", from, to)
		}
		if err := m.Catalog.Rename(ctx, from, to); err != nil {
			return rep, fmt.Errorf("relocate: %w", err)
		}
		rep.Tables = append(rep.Tables, from+" -> "+to)
	}
	err = pgx.BeginFunc(ctx, m.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sluice.relocate'))`); err != nil {
			return err
		}
		for _, layer := range []string{naming.Predictions, naming.Online} {
			from, to := naming.Namespace("", layer), naming.Namespace(project, layer)
			moved, err := renameSchema(ctx, tx, from, to)
			if err != nil {
				return err
			}
			if moved {
				rep.Schemas = append(rep.Schemas, from+" -> "+to)
			}
		}
		return m.renameRows(ctx, tx, project, rep.Rows)
	})
	if err != nil {
		return rep, fmt.Errorf("relocate: moving into %s: %w", project, err)
	}
	return rep, nil
}

// renameSchema renames a schema when the new name is free; when both
// exist, it moves the old schema's tables and views one by one.
func renameSchema(ctx context.Context, tx pgx.Tx, from, to string) (bool, error) {
	var fromOK, toOK bool
	if err := tx.QueryRow(ctx, `SELECT to_regnamespace($1) IS NOT NULL, to_regnamespace($2) IS NOT NULL`,
		pgx.Identifier{from}.Sanitize(), pgx.Identifier{to}.Sanitize()).Scan(&fromOK, &toOK); err != nil {
		return false, err
	}
	if !fromOK {
		return false, nil
	}
	if !toOK {
		_, err := tx.Exec(ctx, fmt.Sprintf(`ALTER SCHEMA %s RENAME TO %s`, pgx.Identifier{from}.Sanitize(), pgx.Identifier{to}.Sanitize()))
		return err == nil, err
	}
	// Tables, partitions (which stay behind when their parent moves) and
	// views, one by one; indexes and owned sequences follow their table.
	rows, err := tx.Query(ctx, `SELECT c.relname, c.relkind FROM pg_class c
		WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p', 'v', 'm')`, pgx.Identifier{from}.Sanitize())
	if err != nil {
		return false, err
	}
	type rel struct {
		name string
		kind byte
	}
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		var kind string
		err := r.Scan(&x.name, &kind)
		x.kind = kind[0]
		return x, err
	})
	if err != nil {
		return false, err
	}
	for _, r := range rels {
		what := "TABLE"
		switch r.kind {
		case 'v':
			what = "VIEW"
		case 'm':
			what = "MATERIALIZED VIEW"
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`ALTER %s %s SET SCHEMA %s`, what, pgx.Identifier{from, r.name}.Sanitize(), pgx.Identifier{to}.Sanitize())); err != nil {
			return false, fmt.Errorf("moving %s.%s: %w", from, r.name, err)
		}
	}
	// The old schema goes only when nothing is left in it.
	var left int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace($1)`, pgx.Identifier{from}.Sanitize()).Scan(&left); err != nil {
		return false, err
	}
	if left == 0 {
		if _, err := tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{from}.Sanitize()); err != nil {
			return false, err
		}
	}
	return len(rels) > 0, nil
}

// nameColumns are the metadata columns that name a model or a source.
var nameColumns = []struct{ table, column string }{
	{"sluice.models", "name"}, // versions and aliases follow by ON UPDATE CASCADE
	{"sluice.model_alias_history", "model"},
	{"sluice.experiments", "model"},
	{"sluice.prediction_log", "model"},
	{"sluice.drift_reports", "model"},
	{"sluice.alerts", "model"},
	{"sluice.performance_reports", "model"},
	{"sluice.quality_results", "source"},
}

// renameRows gives every bare model and source name the project, and
// points recorded lineage at the tables' new names.
func (m *Mover) renameRows(ctx context.Context, tx pgx.Tx, project string, counts map[string]int64) error {
	for _, c := range nameColumns {
		tag, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE %s SET %s = $1 || '.' || %[2]s WHERE strpos(%[2]s, '.') = 0`, c.table, c.column), project)
		if err != nil {
			return fmt.Errorf("renaming %s.%s: %w", c.table, c.column, err)
		}
		if n := tag.RowsAffected(); n > 0 {
			counts[c.table] = n
		}
	}
	// Lineage: each version's training snapshots are keyed by table name.
	tag, err := tx.Exec(ctx, `UPDATE sluice.model_versions SET training_snapshots = (
			SELECT jsonb_object_agg(CASE WHEN split_part(key, '.', 1) = ANY($2) THEN $1 || '_' || key ELSE key END, value)
			FROM jsonb_each(training_snapshots))
		WHERE EXISTS (SELECT 1 FROM jsonb_object_keys(training_snapshots) k WHERE split_part(k, '.', 1) = ANY($2))`,
		project, naming.Layers)
	if err != nil {
		return fmt.Errorf("renaming lineage: %w", err)
	}
	if n := tag.RowsAffected(); n > 0 {
		counts["sluice.model_versions (lineage)"] = n
	}
	return nil
}
