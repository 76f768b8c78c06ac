package gates

import "testing"

func f(v float64) *float64 { return &v }

func TestEvaluate(t *testing.T) {
	gs := []Gate{{Metric: "auc", Min: f(0.75)}, {Metric: "auc", VsChampion: f(-0.005)}, {Metric: "rmse", VsChampion: f(0)}}
	cases := []struct {
		name      string
		cand      map[string]float64
		champ     int
		champM    map[string]float64
		passed    bool
		failCount int
	}{
		{"no champion", map[string]float64{"auc": 0.8, "rmse": 1}, 0, nil, true, 0},
		{"slightly worse but within", map[string]float64{"auc": 0.797, "rmse": 1}, 3, map[string]float64{"auc": 0.8, "rmse": 1}, true, 0},
		{"worse auc", map[string]float64{"auc": 0.79, "rmse": 1}, 3, map[string]float64{"auc": 0.8, "rmse": 1}, false, 1},
		{"below the floor", map[string]float64{"auc": 0.7, "rmse": 1}, 0, nil, false, 1},
		{"worse rmse (smaller is better)", map[string]float64{"auc": 0.9, "rmse": 1.2}, 3, map[string]float64{"auc": 0.8, "rmse": 1}, false, 1},
		{"missing metric fails both auc gates", map[string]float64{"rmse": 1}, 0, nil, false, 2},
	}
	for _, c := range cases {
		r := Evaluate(gs, c.cand, c.champ, c.champM)
		fails := 0
		for _, ch := range r.Checks {
			if !ch.Passed {
				fails++
			}
		}
		if r.Passed != c.passed || fails != c.failCount {
			t.Errorf("%s: passed %v with %d failures (%s), want %v and %d", c.name, r.Passed, fails, r.Failures(), c.passed, c.failCount)
		}
	}
}
