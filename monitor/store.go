package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Stored is a drift report as kept in sluice.drift_reports.
type Stored struct {
	Model   string    `json:"model"`
	Version int       `json:"version"`
	Source  string    `json:"source"`
	RunID   string    `json:"run_id"`
	AsOf    time.Time `json:"as_of"`
	Report  Report    `json:"report"`
	Created time.Time `json:"created_at"`
}

// Store keeps drift reports in PostgreSQL.
type Store struct {
	DB *pgxpool.Pool
}

// Save stores a report; saving a run's report again replaces it.
func (s *Store) Save(ctx context.Context, r Stored) error {
	body, err := json.Marshal(r.Report)
	if err != nil {
		return err
	}
	_, err = s.DB.Exec(ctx, `INSERT INTO sluice.drift_reports (model, version, source, run_id, as_of, rows, level, report)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (run_id, source) DO UPDATE SET version = excluded.version, as_of = excluded.as_of, rows = excluded.rows,
			level = excluded.level, report = excluded.report, created_at = now()`,
		r.Model, r.Version, r.Source, r.RunID, r.AsOf, r.Report.Rows, r.Report.Level, body)
	if err != nil {
		return fmt.Errorf("monitor: saving the drift report of %s: %w", r.RunID, err)
	}
	return nil
}

// Latest lists a model's newest reports, newest as-of first.
func (s *Store) Latest(ctx context.Context, model string, limit int) ([]Stored, error) {
	rows, err := s.DB.Query(ctx, `SELECT model, version, source, run_id, as_of, report, created_at FROM sluice.drift_reports
		WHERE model = $1 ORDER BY as_of DESC, id DESC LIMIT $2`, model, limit)
	if err != nil {
		return nil, fmt.Errorf("monitor: reading drift reports of %s: %w", model, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Stored, error) {
		var st Stored
		var body []byte
		if err := r.Scan(&st.Model, &st.Version, &st.Source, &st.RunID, &st.AsOf, &body, &st.Created); err != nil {
			return st, err
		}
		return st, json.Unmarshal(body, &st.Report)
	})
	if err != nil {
		return nil, fmt.Errorf("monitor: reading drift reports of %s: %w", model, err)
	}
	return out, nil
}
