package quality

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store keeps check results in sluice.quality_results, one row per run
// and check.
type Store struct {
	DB *pgxpool.Pool
}

// Save records a run's results at a time, replacing an earlier attempt's.
func (s *Store) Save(ctx context.Context, runID, source string, rs []Result, at time.Time) error {
	at = at.UTC()
	for _, r := range rs {
		if _, err := s.DB.Exec(ctx, `
			INSERT INTO sluice.quality_results (run_id, source, check_name, level, passed, violations, detail, checked_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (run_id, check_name) DO UPDATE SET level = EXCLUDED.level, passed = EXCLUDED.passed,
				violations = EXCLUDED.violations, detail = EXCLUDED.detail, checked_at = EXCLUDED.checked_at`,
			runID, source, r.Check, r.Level, r.Passed, r.Violations, r.Detail, at); err != nil {
			return fmt.Errorf("storing quality results: %w", err)
		}
	}
	return nil
}

// Stored is a result as recorded for a run.
type Stored struct {
	Result
	RunID     string
	CheckedAt time.Time
}

// Recent lists the results of a source's newest runs (at most runs of
// them), newest first.
func (s *Store) Recent(ctx context.Context, source string, runs int) ([]Stored, error) {
	rows, err := s.DB.Query(ctx, `
		SELECT run_id, check_name, level, passed, violations, detail, checked_at
		FROM sluice.quality_results
		WHERE source = $1 AND run_id IN (
			SELECT run_id FROM sluice.quality_results WHERE source = $1
			GROUP BY run_id ORDER BY max(checked_at) DESC LIMIT $2)
		ORDER BY checked_at DESC, check_name`, source, runs)
	if err != nil {
		return nil, fmt.Errorf("reading quality results: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stored, error) {
		var s Stored
		err := r.Scan(&s.RunID, &s.Check, &s.Level, &s.Passed, &s.Violations, &s.Detail, &s.CheckedAt)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading quality results: %w", err)
	}
	return out, nil
}
