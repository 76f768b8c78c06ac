// Package gates decides whether a model version may be promoted: absolute
// limits on its test metrics, and limits relative to the current champion
// measured on the same test split. It is pure, so workflows can run it.
package gates

import (
	"fmt"
	"strings"
)

// Gate is one condition on a metric: exactly one of Min, Max or
// VsChampion is set.
//
// The spec's models.<m>.gates are these, as written in sluice.yaml.
type Gate struct {
	Metric string   `json:"metric" yaml:"metric"`
	Min    *float64 `json:"min,omitempty" yaml:"min"`
	Max    *float64 `json:"max,omitempty" yaml:"max"`
	// VsChampion is the least improvement over the champion: for metrics
	// where larger is better, candidate − champion ≥ VsChampion; where
	// smaller is better (rmse, mae, logloss), champion − candidate ≥
	// VsChampion. -0.005 on auc allows a loss of up to 0.005.
	VsChampion *float64 `json:"vs_champion,omitempty" yaml:"vs_champion"`
}

// Check is one gate's verdict.
type Check struct {
	Gate   Gate    `json:"gate"`
	Value  float64 `json:"value"`
	Passed bool    `json:"passed"`
	Detail string  `json:"detail"`
}

// Report is the verdict on a version, stored with it.
type Report struct {
	Passed bool    `json:"passed"`
	Checks []Check `json:"checks"`
	// Champion is the version compared against (0: none).
	Champion        int                `json:"champion,omitempty"`
	ChampionMetrics map[string]float64 `json:"champion_metrics,omitempty"`
}

// smallerIsBetter lists the metrics that improve downwards.
func smallerIsBetter(metric string) bool {
	switch metric {
	case "rmse", "mae", "logloss":
		return true
	}
	return false
}

// Evaluate checks the candidate's metrics. Without a champion, relative
// gates pass (there is nothing to lose to).
func Evaluate(gates []Gate, candidate map[string]float64, champion int, championMetrics map[string]float64) Report {
	r := Report{Passed: true, Champion: champion, ChampionMetrics: championMetrics}
	for _, g := range gates {
		c := Check{Gate: g}
		v, ok := candidate[g.Metric]
		c.Value = v
		switch {
		case !ok:
			c.Detail = fmt.Sprintf("the version has no %s", g.Metric)
		case g.Min != nil:
			c.Passed = v >= *g.Min
			c.Detail = fmt.Sprintf("%s %.4f, at least %.4f", g.Metric, v, *g.Min)
		case g.Max != nil:
			c.Passed = v <= *g.Max
			c.Detail = fmt.Sprintf("%s %.4f, at most %.4f", g.Metric, v, *g.Max)
		case g.VsChampion != nil:
			cv, has := championMetrics[g.Metric]
			if champion == 0 || !has {
				c.Passed, c.Detail = true, "no champion to compare with"
				break
			}
			gain := v - cv
			if smallerIsBetter(g.Metric) {
				gain = cv - v
			}
			c.Passed = gain >= *g.VsChampion
			c.Detail = fmt.Sprintf("%s %.4f against champion v%d's %.4f: improvement %+.4f, at least %+.4f", g.Metric, v, champion, cv, gain, *g.VsChampion)
		default:
			c.Detail = "the gate sets none of min, max or vs_champion"
		}
		if !c.Passed {
			r.Passed = false
		}
		r.Checks = append(r.Checks, c)
	}
	return r
}

// Failures describes the failed checks.
func (r Report) Failures() string {
	var out []string
	for _, c := range r.Checks {
		if !c.Passed {
			out = append(out, c.Detail)
		}
	}
	return strings.Join(out, "; ")
}
