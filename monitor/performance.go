package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-ml/sluice/ml/metrics"
)

// Scored is a prediction: an entity's score by a model version as of a
// time.
type Scored struct {
	Key     string
	AsOf    time.Time
	Score   float64
	Version int
}

// Labeled is an outcome that arrived: an entity's label at a time.
type Labeled struct {
	Key   string
	At    time.Time
	Label float32
}

// Pair is a prediction with the label it predicted.
type Pair struct {
	Day     time.Time
	Version int
	Score   float64
	Label   float32
}

// Join pairs each label with the newest prediction of its entity made
// before it, at most window earlier (as_of in [label time − window, label
// time)). Labels with no such prediction are left out.
func Join(preds []Scored, labels []Labeled, window time.Duration) []Pair {
	j := newJoiner(labels, window)
	for _, p := range preds {
		j.add(p)
	}
	return j.pairs()
}

// joiner is Join over a stream of predictions: it holds the labels and,
// per label, the best prediction so far, never the predictions.
type joiner struct {
	labels []Labeled
	byKey  map[string][]int
	best   []Scored
	found  []bool
	window time.Duration
}

func newJoiner(labels []Labeled, window time.Duration) *joiner {
	j := &joiner{labels: labels, byKey: map[string][]int{}, best: make([]Scored, len(labels)), found: make([]bool, len(labels)), window: window}
	for i, l := range labels {
		j.byKey[l.Key] = append(j.byKey[l.Key], i)
	}
	return j
}

// add offers a prediction to the labels of its entity.
func (j *joiner) add(p Scored) {
	for _, i := range j.byKey[p.Key] {
		l := j.labels[i]
		if !p.AsOf.Before(l.At) || l.At.Sub(p.AsOf) > j.window {
			continue
		}
		if !j.found[i] || p.AsOf.After(j.best[i].AsOf) {
			j.best[i], j.found[i] = p, true
		}
	}
}

// pairs are the labels that found a prediction, in label order.
func (j *joiner) pairs() []Pair {
	var out []Pair
	for i, l := range j.labels {
		if p := j.best[i]; j.found[i] {
			out = append(out, Pair{Day: p.AsOf.UTC().Truncate(24 * time.Hour), Version: p.Version, Score: p.Score, Label: l.Label})
		}
	}
	return out
}

// Performance is the realized quality of a version's predictions as of
// one day.
type Performance struct {
	Model   string             `json:"model"`
	Version int                `json:"version"`
	Day     time.Time          `json:"day"`
	Rows    int                `json:"rows"`
	Metrics map[string]float64 `json:"metrics"`
}

// Realized measures the pairs per version and day: AUC and log loss for
// binary models, RMSE, MAE and R² for regression.
func Realized(model, task string, pairs []Pair) ([]Performance, error) {
	type group struct {
		day     time.Time
		version int
	}
	groups := map[group][]Pair{}
	for _, p := range pairs {
		g := group{p.Day, p.Version}
		groups[g] = append(groups[g], p)
	}
	var out []Performance
	for g, ps := range groups {
		labels, scores := make([]float32, len(ps)), make([]float64, len(ps))
		for i, p := range ps {
			labels[i], scores[i] = p.Label, p.Score
		}
		m, err := metrics.Evaluate(task, labels, scores, 1)
		if err != nil {
			return nil, fmt.Errorf("monitor: %s v%d on %s: %w", model, g.version, g.day.Format("2006-01-02"), err)
		}
		out = append(out, Performance{Model: model, Version: g.version, Day: g.day, Rows: len(ps), Metrics: m})
	}
	slices.SortFunc(out, func(a, b Performance) int {
		return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

// SavePerformance upserts the reports.
func (s *Store) SavePerformance(ctx context.Context, ps []Performance) error {
	for _, p := range ps {
		m, err := json.Marshal(p.Metrics)
		if err != nil {
			return err
		}
		if _, err := s.DB.Exec(ctx, `INSERT INTO sluice.performance_reports (model, version, day, rows, metrics) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (model, version, day) DO UPDATE SET rows = excluded.rows, metrics = excluded.metrics, computed_at = now()`,
			p.Model, p.Version, p.Day, p.Rows, m); err != nil {
			return fmt.Errorf("monitor: saving performance of %s: %w", p.Model, err)
		}
	}
	return nil
}

// Performance lists a model's realized performance, newest day first.
func (s *Store) Performance(ctx context.Context, model string, limit int) ([]Performance, error) {
	rows, err := s.DB.Query(ctx, `SELECT model, version, day, rows, metrics FROM sluice.performance_reports WHERE model = $1
		ORDER BY day DESC, version DESC LIMIT $2`, model, limit)
	if err != nil {
		return nil, fmt.Errorf("monitor: reading performance of %s: %w", model, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Performance, error) {
		var p Performance
		var m []byte
		if err := r.Scan(&p.Model, &p.Version, &p.Day, &p.Rows, &m); err != nil {
			return p, err
		}
		return p, json.Unmarshal(m, &p.Metrics)
	})
}

// FormatMetrics writes metrics in name order: "auc 0.9100, logloss 0.3000".
// The sort makes the map's order irrelevant, so workflow code may call it.
//
//workflowcheck:ignore
func FormatMetrics(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.4f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
