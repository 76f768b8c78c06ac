package monitor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultLogRetention is how long the prediction log keeps a day.
const DefaultLogRetention = 14 * 24 * time.Hour

// ExpireLog drops the prediction log's day partitions that end at least
// retention before now (0 means DefaultLogRetention), whole: no row is
// deleted one by one, and the days kept are untouched. It returns the days
// dropped.
func (m *Meter) ExpireLog(ctx context.Context, retention time.Duration, now time.Time) ([]time.Time, error) {
	if retention <= 0 {
		retention = DefaultLogRetention
	}
	rows, err := m.DB.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'sluice.prediction_log'::regclass ORDER BY c.relname`)
	if err != nil {
		return nil, fmt.Errorf("listing the prediction log's days: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the prediction log's days: %w", err)
	}
	cutoff := now.Add(-retention)
	var dropped []time.Time
	for _, name := range names {
		day, err := time.Parse("20060102", strings.TrimPrefix(name, "prediction_log_"))
		if err != nil || !strings.HasPrefix(name, "prediction_log_") {
			continue // not one of the days the log makes
		}
		if day.Add(24 * time.Hour).After(cutoff) {
			continue
		}
		// Detached concurrently first, so readers and writers of the log
		// are never locked out; then the detached day is dropped.
		part := pgx.Identifier{"sluice", name}.Sanitize()
		if _, err := m.DB.Exec(ctx, `ALTER TABLE sluice.prediction_log DETACH PARTITION `+part+` CONCURRENTLY`); err != nil {
			return dropped, fmt.Errorf("detaching the prediction log of %s: %w", day.Format(time.DateOnly), err)
		}
		if _, err := m.DB.Exec(ctx, `DROP TABLE IF EXISTS `+part); err != nil {
			return dropped, fmt.Errorf("dropping the prediction log of %s: %w", day.Format(time.DateOnly), err)
		}
		dropped = append(dropped, day)
	}
	return dropped, nil
}
