package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/monitor"
)

// Monitoring measures what models did once their labels arrived.
type Monitoring struct {
	Catalog *lakehouse.Catalog
	DB      *pgxpool.Pool
}

// PerformanceInput names a model's predictions and the label table that
// tells how they turned out.
type PerformanceInput struct {
	Model, Task string
	// LabelTable holds Key, LabelTime and LabelColumn (bool or numeric).
	LabelTable, Key, LabelTime, LabelColumn string
	// Window is how long after a prediction its label may arrive; 0
	// means 30 days.
	Window time.Duration
}

// PerformanceResult reports the realized performance measured.
type PerformanceResult struct {
	Pairs   int
	Reports []monitor.Performance
}

// Performance joins predictions.<model> with the labels that arrived
// within the window after them and stores the realized metrics per model
// version and day in sluice.performance_reports.
func (a *Monitoring) Performance(ctx context.Context, in PerformanceInput) (PerformanceResult, error) {
	var res PerformanceResult
	window := in.Window
	if window <= 0 {
		window = 30 * 24 * time.Hour
	}
	table := pgx.Identifier{"predictions", in.Model}.Sanitize()
	var exists bool
	if err := a.DB.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
		return res, err // nothing scored yet
	}
	rows, err := a.DB.Query(ctx, fmt.Sprintf(`SELECT %s::text, as_of, score, model_version FROM %s`, pgx.Identifier{in.Key}.Sanitize(), table))
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", table, err)
	}
	preds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (monitor.Scored, error) {
		var s monitor.Scored
		err := r.Scan(&s.Key, &s.AsOf, &s.Score, &s.Version)
		return s, err
	})
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", table, err)
	}
	rd, err := a.Catalog.Read(ctx, in.LabelTable, lakehouse.ScanOptions{Columns: []string{in.Key, in.LabelTime, in.LabelColumn}})
	if err != nil {
		return res, badInputIfMissing(err)
	}
	var labels []monitor.Labeled
	for rec, err := range rd.Records {
		if err != nil {
			return res, err
		}
		got, err := labelRows(rec, in)
		rec.Release()
		if err != nil {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeBadInput, err)
		}
		labels = append(labels, got...)
	}
	pairs := monitor.Join(preds, labels, window)
	res.Pairs = len(pairs)
	if res.Reports, err = monitor.Realized(in.Model, in.Task, pairs); err != nil {
		return res, err
	}
	return res, (&monitor.Store{DB: a.DB}).SavePerformance(ctx, res.Reports)
}

// labelRows reads a batch of label rows: the key (string or integer), the
// label time and a bool or numeric label; null rows are skipped.
func labelRows(rec arrow.RecordBatch, in PerformanceInput) ([]monitor.Labeled, error) {
	key, at, label := rec.Column(0), rec.Column(1), rec.Column(2)
	ts, ok := at.(*array.Timestamp)
	if !ok {
		return nil, fmt.Errorf("%s.%s is %s, want a timestamp", in.LabelTable, in.LabelTime, at.DataType())
	}
	unit := ts.DataType().(*arrow.TimestampType).Unit
	out := make([]monitor.Labeled, 0, rec.NumRows())
	for i := range int(rec.NumRows()) {
		if key.IsNull(i) || at.IsNull(i) || label.IsNull(i) {
			continue
		}
		l := monitor.Labeled{Key: key.ValueStr(i), At: ts.Value(i).ToTime(unit)}
		switch c := label.(type) {
		case *array.Boolean:
			if c.Value(i) {
				l.Label = 1
			}
		case *array.Float64:
			l.Label = float32(c.Value(i))
		case *array.Int64:
			l.Label = float32(c.Value(i))
		default:
			return nil, fmt.Errorf("%s.%s is %s; realized performance reads bool or numeric labels", in.LabelTable, in.LabelColumn, label.DataType())
		}
		out = append(out, l)
	}
	return out, nil
}
