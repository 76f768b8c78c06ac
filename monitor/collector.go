package monitor

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the newest drift report of each model and source as
// Prometheus gauges, read when scraped: PSI per feature (and the score),
// and the report's level (0 ok, 1 warn, 2 alert).
type Collector struct {
	DB *pgxpool.Pool
}

var (
	psiDesc   = prometheus.NewDesc("sluice_drift_psi", "PSI of a feature (or the score) in the newest drift report of a model and source.", []string{"model", "source", "feature"}, nil)
	levelDesc = prometheus.NewDesc("sluice_drift_level", "Level of the newest drift report of a model and source: 0 ok, 1 warn, 2 alert.", []string{"model", "source"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- psiDesc
	ch <- levelDesc
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := c.DB.Query(ctx, `SELECT DISTINCT ON (model, source) model, source, report FROM sluice.drift_reports
		ORDER BY model, source, as_of DESC, id DESC`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(psiDesc, err)
		return
	}
	defer rows.Close()
	rank := map[string]float64{LevelOK: 0, LevelWarn: 1, LevelAlert: 2}
	for rows.Next() {
		var model, source string
		var body []byte
		if err := rows.Scan(&model, &source, &body); err != nil {
			ch <- prometheus.NewInvalidMetric(psiDesc, err)
			return
		}
		var rep Report
		if json.Unmarshal(body, &rep) != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(levelDesc, prometheus.GaugeValue, rank[rep.Level], model, source)
		fs := rep.Features
		if rep.Score != nil {
			fs = append(fs, *rep.Score)
		}
		for _, f := range fs {
			ch <- prometheus.MustNewConstMetric(psiDesc, prometheus.GaugeValue, f.PSI, model, source, f.Name)
		}
	}
}
