package monitor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/registry"
)

// Meter measures what models meet in production: the drift of their
// online traffic, and their realized performance once labels arrive.
type Meter struct {
	Catalog *lakehouse.Catalog
	DB      *pgxpool.Pool
	// Lake holds the model artifacts (for online drift).
	Lake lakehouse.ObjectStore
	// DriftSample bounds the logged rows online drift measures: a
	// uniform sample of the window's traffic; 0 means 100,000.
	DriftSample int
}

// OnlineDriftRequest names a model version's online traffic to measure: the
// predictions logged in [Since, Until).
type OnlineDriftRequest struct {
	Model        string
	Version      int
	Since, Until time.Time
	Thresholds   Thresholds
}

// OnlineDriftResult is the window's drift; Rows is 0 when there was no
// traffic (and no report).
type OnlineDriftResult struct {
	Rows    int
	Level   string
	Drifted []string
}

// OnlineDrift measures the drift of a version's online traffic in a
// window, from the input rows the server logged with its predictions
// (shadow traffic left out), against the version's training reference,
// and stores the report (source online).
func (m *Meter) OnlineDrift(ctx context.Context, in OnlineDriftRequest) (OnlineDriftResult, error) {
	var res OnlineDriftResult
	rows, err := m.DB.Query(ctx, `SELECT features, score FROM sluice.prediction_log WHERE model = $1 AND version = $2
		AND variant NOT LIKE 'shadow:%' AND features IS NOT NULL AND logged_at >= $3 AND logged_at < $4`, in.Model, in.Version, in.Since, in.Until)
	if err != nil {
		return res, fmt.Errorf("reading the prediction log: %w", err)
	}
	// A reservoir (Vitter's algorithm R) keeps a uniform sample of the
	// window's rows, however many the server logged.
	size := m.DriftSample
	if size <= 0 {
		size = 100_000
	}
	rng := rand.New(rand.NewPCG(uint64(in.Version), uint64(in.Until.UnixNano())))
	var xs [][]float32
	var scores []float64
	for seen := 0; rows.Next(); seen++ {
		var x []float32
		var score float64
		if err := rows.Scan(&x, &score); err != nil {
			rows.Close()
			return res, fmt.Errorf("reading the prediction log: %w", err)
		}
		if seen < size {
			xs, scores = append(xs, x), append(scores, score)
		} else if j := rng.IntN(seen + 1); j < size {
			xs[j], scores[j] = x, score
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	if len(xs) == 0 || m.Lake == nil {
		return res, nil // no traffic (or nowhere to read the model from)
	}
	v, err := (&registry.Registry{DB: m.DB}).Get(ctx, in.Model, in.Version)
	if err != nil {
		return res, permanent.Wrap(permanent.BadInput, err)
	}
	art, err := registry.ReadArtifact(ctx, m.Lake, v.ArtifactKey)
	if err != nil {
		return res, err
	}
	d := &ml.Dataset{}
	for _, c := range trainer.ArtifactColumns(art) {
		d.Features = append(d.Features, ml.Feature{Name: c.Name, Kind: c.Kind, Categories: c.Categories})
	}
	kept := scores[:0]
	for i, x := range xs {
		if len(x) != len(d.Features) {
			continue // logged by another feature layout
		}
		for j, v := range x {
			d.Features[j].Values = append(d.Features[j].Values, v)
		}
		kept = append(kept, scores[i])
	}
	scores = kept
	if len(scores) == 0 {
		return res, nil
	}
	th := in.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds()
	}
	k := 1
	if art.Outputs() > 1 {
		scores, k = nil, 0 // the log holds the chosen class's probability, not the reference's first output
	}
	rep := Compute(art, d, scores, k, th)
	res.Rows, res.Level = rep.Rows, rep.Level
	res.Drifted = rep.Drifted()
	return res, (&Store{DB: m.DB}).Save(ctx, Stored{Model: in.Model, Version: in.Version, Source: "online",
		RunID: fmt.Sprintf("online/%s/v%d/%s", in.Model, in.Version, in.Until.UTC().Format(time.RFC3339)), AsOf: in.Until, Report: rep})
}

// PerformanceRequest names a model's predictions and the label table that
// tells how they turned out.
type PerformanceRequest struct {
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
	Reports []Performance
}

// Performance joins predictions.<model> with the labels that arrived
// within the window after them and stores the realized metrics per model
// version and day in sluice.performance_reports.
func (m *Meter) Performance(ctx context.Context, in PerformanceRequest) (PerformanceResult, error) {
	var res PerformanceResult
	window := in.Window
	if window <= 0 {
		window = 30 * 24 * time.Hour
	}
	table := pgx.Identifier(naming.Ident(naming.Predictions, in.Model)).Sanitize()
	var exists bool
	if err := m.DB.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil || !exists {
		return res, err // nothing scored yet
	}
	rd, err := m.Catalog.Read(ctx, in.LabelTable, lakehouse.ScanOptions{Columns: []string{in.Key, in.LabelTime, in.LabelColumn}})
	if err != nil {
		return res, permanent.WrapIf(permanent.BadInput, err, lakehouse.ErrNoSuchTable)
	}
	var labels []Labeled
	var newest time.Time
	for rec, err := range rd.Records {
		if err != nil {
			return res, err
		}
		got, err := labelRows(rec, in)
		rec.Release()
		if err != nil {
			return res, permanent.Wrap(permanent.BadInput, err)
		}
		for _, l := range got {
			if l.At.After(newest) {
				newest = l.At
			}
		}
		labels = append(labels, got...)
	}
	// Days of predictions that ended a window and a day before the newest
	// label are final: no label still to come can reach them. Only the
	// predictions after that are read, as a stream joined against the
	// labels that can reach them.
	// (Whole days: a day's report is rebuilt from all of its predictions.)
	cutoff := newest.Add(-window - 24*time.Hour).UTC().Truncate(24 * time.Hour)
	labels = slices.DeleteFunc(labels, func(l Labeled) bool { return l.At.Before(cutoff) })
	j := newJoiner(labels, window)
	rows, err := m.DB.Query(ctx, fmt.Sprintf(`SELECT %s::text, as_of, score, model_version FROM %s WHERE as_of >= $1 AND as_of < $2`,
		pgx.Identifier{in.Key}.Sanitize(), table), cutoff, newest)
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", table, err)
	}
	for rows.Next() {
		var s Scored
		if err := rows.Scan(&s.Key, &s.AsOf, &s.Score, &s.Version); err != nil {
			rows.Close()
			return res, fmt.Errorf("reading %s: %w", table, err)
		}
		j.add(s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("reading %s: %w", table, err)
	}
	pairs := j.pairs()
	res.Pairs = len(pairs)
	if res.Reports, err = Realized(in.Model, in.Task, pairs); err != nil {
		return res, err
	}
	return res, (&Store{DB: m.DB}).SavePerformance(ctx, res.Reports)
}

// labelRows reads a batch of label rows: the key (string or integer), the
// label time and a bool or numeric label; null rows are skipped.
func labelRows(rec arrow.RecordBatch, in PerformanceRequest) ([]Labeled, error) {
	key, at, label := rec.Column(0), rec.Column(1), rec.Column(2)
	ts, ok := at.(*array.Timestamp)
	if !ok {
		return nil, fmt.Errorf("%s.%s is %s, want a timestamp", in.LabelTable, in.LabelTime, at.DataType())
	}
	unit := ts.DataType().(*arrow.TimestampType).Unit
	out := make([]Labeled, 0, rec.NumRows())
	for i := range int(rec.NumRows()) {
		if key.IsNull(i) || at.IsNull(i) || label.IsNull(i) {
			continue
		}
		l := Labeled{Key: key.ValueStr(i), At: ts.Value(i).ToTime(unit)}
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
