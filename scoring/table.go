package scoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-ml/sluice/naming"
)

// Table is a model's prediction table in PostgreSQL,
// predictions.<model>: natively partitioned by as_of, one partition per
// as-of time, indexed on the entity key, with the view
// predictions.<model>_latest holding each entity's newest row.
//
// A run loads into a staging table of its own and publishes by swapping
// it in as its as-of time's partition, in one transaction: readers see
// the old rows or the new ones, and running an as-of time again replaces
// its rows.
type Table struct {
	Model   string
	Key     string
	KeyType arrow.DataType
}

// maxModelName keeps the staging table's name (model + 14 characters)
// within PostgreSQL's 63.
const maxModelName = 48

// schema is the PostgreSQL schema of the model's project:
// <project>_predictions (predictions for a bare name).
func (t Table) schema() string { return naming.Namespace(naming.Project(t.Model), naming.Predictions) }

// base is the model's name inside its project's schema.
func (t Table) base() string { return naming.Base(t.Model) }

func (t Table) ident(name string) string { return pgx.Identifier{t.schema(), name}.Sanitize() }

func (t Table) parent() string { return t.ident(t.base()) }

// Name is the prediction table's quoted "schema"."table" name.
func (t Table) Name() string { return t.parent() }

// StagingName is the run's staging table.
func (t Table) StagingName(run string) string {
	sum := sha256.Sum256([]byte(run))
	return t.base() + "_s" + hex.EncodeToString(sum[:6])
}

// PartitionName is an as-of time's partition.
func (t Table) PartitionName(asOf time.Time) string {
	return t.base() + "_p" + strconv.FormatInt(asOf.Unix(), 10)
}

func (t Table) pgKeyType() (string, error) {
	if err := KeyType(t.KeyType); err != nil {
		return "", err
	}
	if t.KeyType.ID() == arrow.INT64 {
		return "bigint", nil
	}
	return "text", nil
}

// Columns lists the table's columns in COPY order.
func (t Table) Columns() string {
	cols := []string{ColRunID, ColVersion, t.Key, ColScore, ColLabel, ColScoredAt, ColAsOf}
	for i, c := range cols {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(cols, ", ")
}

// lock serialises changes to one model's tables.
func (t Table) lock(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sluice.predictions.' || $1))`, t.Model)
	return err
}

// Ensure creates the partitioned table, its key index and the _latest
// view when missing, and checks an existing table has the same key.
func (t Table) Ensure(ctx context.Context, db *pgxpool.Pool) error {
	if len(t.base()) > maxModelName {
		return fmt.Errorf("scoring: model name %q is longer than %d characters", t.base(), maxModelName)
	}
	keyType, err := t.pgKeyType()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := t.lock(ctx, tx); err != nil {
			return err
		}
		var have string
		err := tx.QueryRow(ctx, `SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
			WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`, t.parent(), t.Key).Scan(&have)
		switch {
		case err == nil && have != keyType:
			return fmt.Errorf("scoring: %s has key %s of type %s, not %s", t.parent(), t.Key, have, keyType)
		case err == nil:
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("scoring: looking up %s: %w", t.parent(), err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, t.parent()).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("scoring: %s exists without the key column %s", t.parent(), t.Key)
		}
		key := pgx.Identifier{t.Key}.Sanitize()
		// Byte order for text keys: indexes build and probe without the
		// locale's collation rules.
		collate := ""
		if keyType == "text" {
			collate = `COLLATE "C"`
		}
		for _, q := range []string{
			`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{t.schema()}.Sanitize(),
			fmt.Sprintf(`CREATE TABLE %s (
				run_id        text             NOT NULL,
				model_version integer          NOT NULL,
				%s            %s               %s NOT NULL,
				score         double precision NOT NULL,
				label         text,
				scored_at     timestamptz      NOT NULL,
				as_of         timestamptz      NOT NULL
			) PARTITION BY LIST (as_of)`, t.parent(), key, keyType, collate),
			fmt.Sprintf(`CREATE INDEX ON %s (%s)`, t.parent(), key),
			fmt.Sprintf(`CREATE VIEW %s AS SELECT DISTINCT ON (%s) * FROM %s ORDER BY %[2]s, as_of DESC, scored_at DESC`,
				t.ident(t.base()+"_latest"), key, t.parent()),
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("scoring: creating %s: %w", t.parent(), err)
			}
		}
		return nil
	})
}

// Stage creates the run's staging table: the parent's columns and a
// check that every row is of the as-of time, so attaching it as a
// partition needs no scan.
func (t Table) Stage(ctx context.Context, db *pgxpool.Pool, run string, asOf time.Time) error {
	_, err := db.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (LIKE %s INCLUDING DEFAULTS, CHECK (as_of = %s))`,
		t.ident(t.StagingName(run)), t.parent(), quoteTime(asOf)))
	if err != nil {
		return fmt.Errorf("scoring: creating the staging table of %s: %w", run, err)
	}
	return nil
}

func quoteTime(at time.Time) string {
	return "'" + at.UTC().Format("2006-01-02 15:04:05.999999Z07:00") + "'::timestamptz"
}

// Part is what a loaded partition recorded.
type Part struct {
	Part      int
	Rows      int64
	LakeFiles []string
	Timings   map[string]float64
	// Drift is the part's drift tally (monitor.Tally as JSON), if any.
	Drift json.RawMessage
}

// Load copies a partition's batch into the run's staging table and
// records the partition, in one transaction (a nil batch records only:
// a run writing the lake alone). finish, when not nil, runs
// after the COPY and before the commit, and may complete the record (the
// lake files written alongside). A partition already recorded loads
// nothing and returns what was recorded (loaded false): a retry, or a
// twin attempt that finished first, never duplicates rows.
func (t Table) Load(ctx context.Context, db *pgxpool.Pool, run string, p Part, b *Batch, finish func(*Part) error) (rec Part, loaded bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO sluice.score_parts (run, part, rows, lake_files, timings) VALUES ($1, $2, $3, '[]', '{}')
			ON CONFLICT DO NOTHING`, run, p.Part, p.Rows)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errAlreadyLoaded
		}
		if b != nil {
			if _, err = tx.Conn().PgConn().CopyFrom(ctx, CopyReader(b),
				fmt.Sprintf(`COPY %s (%s) FROM STDIN (FORMAT binary)`, t.ident(t.StagingName(run)), t.Columns())); err != nil {
				return err
			}
		}
		if finish != nil {
			if err := finish(&p); err != nil {
				return err
			}
		}
		files, _ := json.Marshal(nonNil(p.LakeFiles))
		timings, _ := json.Marshal(p.Timings)
		var drift any
		if len(p.Drift) > 0 {
			drift = string(p.Drift)
		}
		_, err = tx.Exec(ctx, `UPDATE sluice.score_parts SET lake_files = $3, timings = $4, drift = $5::jsonb WHERE run = $1 AND part = $2`,
			run, p.Part, files, timings, drift)
		return err
	})
	if errors.Is(err, errAlreadyLoaded) {
		parts, err := Parts(ctx, db, run)
		for _, q := range parts {
			if q.Part == p.Part {
				return q, false, err
			}
		}
		return p, false, err
	}
	if err != nil {
		return p, false, fmt.Errorf("scoring: loading part %d of %s: %w", p.Part, run, err)
	}
	return p, true, nil
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// RowsProcessed is the part's rows (workers' metrics).
func (p Part) RowsProcessed() int64 { return p.Rows }

var errAlreadyLoaded = errors.New("already loaded")

// Parts lists a run's loaded partitions in order.
func Parts(ctx context.Context, db *pgxpool.Pool, run string) ([]Part, error) {
	rows, err := db.Query(ctx, `SELECT part, rows, lake_files, timings, coalesce(drift::text, '') FROM sluice.score_parts WHERE run = $1 ORDER BY part`, run)
	if err != nil {
		return nil, fmt.Errorf("scoring: listing the parts of %s: %w", run, err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Part, error) {
		var p Part
		var drift string
		err := r.Scan(&p.Part, &p.Rows, &p.LakeFiles, &p.Timings, &drift)
		if drift != "" {
			p.Drift = json.RawMessage(drift)
		}
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("scoring: listing the parts of %s: %w", run, err)
	}
	return parts, nil
}

// Publish swaps the run's staging table in as its as-of time's
// partition, replacing any rows an earlier run left for that time, and
// forgets the run's parts, in one transaction. The key index is built
// first, outside it. Publishing a published run does nothing; published
// is false then.
func (t Table) Publish(ctx context.Context, db *pgxpool.Pool, run string, asOf time.Time) (published bool, err error) {
	stg := t.ident(t.StagingName(run))
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, stg).Scan(&exists); err != nil {
		return false, fmt.Errorf("scoring: %w", err)
	}
	if !exists {
		return false, nil
	}
	// The index is built in one sort, with room to sort in memory.
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL maintenance_work_mem = '512MB'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (%s)`,
			pgx.Identifier{t.StagingName(run) + "_key"}.Sanitize(), stg, pgx.Identifier{t.Key}.Sanitize()))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("scoring: indexing %s: %w", stg, err)
	}
	part := t.PartitionName(asOf)
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := t.lock(ctx, tx); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, stg).Scan(&exists); err != nil || !exists {
			return err // a twin published it meanwhile
		}
		var old bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, t.ident(part)).Scan(&old); err != nil {
			return err
		}
		var qs []string
		if old {
			qs = append(qs, fmt.Sprintf(`ALTER TABLE %s DETACH PARTITION %s`, t.parent(), t.ident(part)),
				fmt.Sprintf(`DROP TABLE %s`, t.ident(part)))
		}
		qs = append(qs, fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, stg, pgx.Identifier{part}.Sanitize()),
			fmt.Sprintf(`ALTER TABLE %s ATTACH PARTITION %s FOR VALUES IN (%s)`, t.parent(), t.ident(part), quoteTime(asOf)))
		for _, q := range qs {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sluice.score_parts WHERE run = $1`, run); err != nil {
			return err
		}
		published = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("scoring: publishing %s into %s: %w", run, t.parent(), err)
	}
	return published, nil
}

// Retain drops the partitions of as-of times before cutoff and returns
// their names.
func (t Table) Retain(ctx context.Context, db *pgxpool.Pool, cutoff time.Time) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass($1)`, t.parent())
	if err != nil {
		return nil, fmt.Errorf("scoring: listing the partitions of %s: %w", t.parent(), err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("scoring: listing the partitions of %s: %w", t.parent(), err)
	}
	var dropped []string
	for _, n := range names {
		secs, err := strconv.ParseInt(strings.TrimPrefix(n, t.base()+"_p"), 10, 64)
		if err != nil || !strings.HasPrefix(n, t.base()+"_p") || !time.Unix(secs, 0).Before(cutoff) {
			continue
		}
		if _, err := db.Exec(ctx, `DROP TABLE IF EXISTS `+t.ident(n)); err != nil {
			return dropped, fmt.Errorf("scoring: dropping %s: %w", n, err)
		}
		dropped = append(dropped, n)
	}
	return dropped, nil
}

// Discard drops a run's staging table and parts: a run abandoned before
// it published.
func (t Table) Discard(ctx context.Context, db *pgxpool.Pool, run string) error {
	_, err := db.Exec(ctx, `DROP TABLE IF EXISTS `+t.ident(t.StagingName(run)))
	if err == nil {
		_, err = db.Exec(ctx, `DELETE FROM sluice.score_parts WHERE run = $1`, run)
	}
	if err != nil {
		return fmt.Errorf("scoring: discarding %s: %w", run, err)
	}
	return nil
}
