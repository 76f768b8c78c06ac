// Package monitor measures how far the data a model meets has moved from
// the data it was trained on: per feature and for the score, the
// population stability index over the training reference's quantile bins,
// and a two-sample Kolmogorov–Smirnov test (numeric features) or a
// chi-square test (categorical ones).
package monitor

import (
	"math"
	"runtime"
	"slices"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
)

// Levels of a drift finding.
const (
	LevelOK    = "ok"
	LevelWarn  = "warn"
	LevelAlert = "alert"
)

// Thresholds decide a finding's level: PSI at or above PSIWarn warns and
// at or above PSIAlert alerts; a KS or chi-square p-value below PValue
// alerts too.
type Thresholds struct {
	PSIWarn, PSIAlert float64
	PValue            float64
}

// DefaultThresholds are PSI 0.1 to warn, 0.25 to alert, p < 0.001.
func DefaultThresholds() Thresholds { return Thresholds{PSIWarn: 0.1, PSIAlert: 0.25, PValue: 0.001} }

// Epsilon stands in for the share of a bin that is empty on one side, so
// PSI stays finite.
const Epsilon = 1e-4

// PSI is the population stability index of current counts against
// reference counts over the same bins: Σ (c − r) ln(c / r) over the bins'
// shares, an empty bin's share counting as Epsilon.
func PSI(ref, cur []uint64) float64 {
	var rn, cn float64
	for i := range ref {
		rn += float64(ref[i])
		cn += float64(cur[i])
	}
	if rn == 0 || cn == 0 {
		return 0
	}
	psi := 0.0
	for i := range ref {
		r, c := float64(ref[i])/rn, float64(cur[i])/cn
		if r == 0 {
			r = Epsilon
		}
		if c == 0 {
			c = Epsilon
		}
		psi += (c - r) * math.Log(c/r)
	}
	return psi
}

// KS is the two-sample Kolmogorov–Smirnov statistic of a and b (the
// largest gap between their empirical distribution functions) and its
// asymptotic p-value, from the Kolmogorov distribution at the effective
// sample size n·m/(n+m). Both slices are sorted in place.
func KS(a, b []float64) (d, p float64) {
	if len(a) == 0 || len(b) == 0 {
		return 0, 1
	}
	slices.Sort(a)
	slices.Sort(b)
	n, m := float64(len(a)), float64(len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/n-float64(j)/m))
	}
	en := math.Sqrt(n * m / (n + m))
	return d, kolmogorovSF(en * d)
}

// kolmogorovSF is P(K > x) for the Kolmogorov distribution:
// 2 Σ_{k≥1} (−1)^(k−1) exp(−2k²x²).
func kolmogorovSF(x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x < 0.2 {
		// The alternating series converges slowly here; the complement
		// (√(2π)/x) Σ exp(−(2k−1)²π²/(8x²)) is exact and fast.
		s := 0.0
		for k := 1; k < 50; k++ {
			s += math.Exp(-float64((2*k-1)*(2*k-1)) * math.Pi * math.Pi / (8 * x * x))
		}
		return 1 - math.Sqrt(2*math.Pi)/x*s
	}
	s := 0.0
	for k := 1; k < 200; k++ {
		t := math.Exp(-2 * float64(k*k) * x * x)
		if k%2 == 0 {
			s -= t
		} else {
			s += t
		}
		if t < 1e-18 {
			break
		}
	}
	return min(1, max(0, 2*s))
}

// ChiSquare is the chi-square test of homogeneity of two samples of
// category counts (the reference's and the current ones, both samples):
// the statistic Σ (o − e)²/e over the 2 × k table, e the count expected
// if both came from one distribution, and its p-value with k − 1 degrees
// of freedom, k the categories seen on either side.
func ChiSquare(ref, cur []uint64) (stat, p float64) {
	var rn, cn float64
	k := 0
	for i := range ref {
		rn += float64(ref[i])
		cn += float64(cur[i])
		if ref[i]+cur[i] > 0 {
			k++
		}
	}
	if rn == 0 || cn == 0 || k < 2 {
		return 0, 1
	}
	total := rn + cn
	for i := range ref {
		col := float64(ref[i] + cur[i])
		if col == 0 {
			continue
		}
		for _, side := range [2][2]float64{{float64(ref[i]), rn}, {float64(cur[i]), cn}} {
			e := side[1] * col / total
			stat += (side[0] - e) * (side[0] - e) / e
		}
	}
	return stat, distuv.ChiSquared{K: float64(k - 1)}.Survival(stat)
}

// Finding is one feature's (or the score's) drift.
type Finding struct {
	Name string  `json:"name"`
	Kind string  `json:"kind"`
	PSI  float64 `json:"psi"`
	// Test is ks or chi2, with its statistic and p-value.
	Test      string  `json:"test"`
	Statistic float64 `json:"statistic"`
	PValue    float64 `json:"p_value"`
	Level     string  `json:"level"`
	// Reference and Current are the bin counts compared, the missing
	// values' bin last; Edges are the numeric bins' edges.
	Reference []uint64  `json:"reference"`
	Current   []uint64  `json:"current"`
	Edges     []float64 `json:"edges,omitempty"`
}

// Report is a batch's drift against a model's training reference.
type Report struct {
	Rows     int       `json:"rows"`
	Features []Finding `json:"features"`
	Score    *Finding  `json:"score,omitempty"`
	// Level is the worst of the findings'.
	Level string `json:"level"`
}

// Drifted names the features (and the score) at warn or worse.
func (r Report) Drifted() []string {
	var out []string
	for _, f := range r.Features {
		if f.Level != LevelOK {
			out = append(out, f.Name)
		}
	}
	if r.Score != nil && r.Score.Level != LevelOK {
		out = append(out, r.Score.Name)
	}
	return out
}

// ksSample bounds the current values a KS test sorts.
const ksSample = 100_000

// Column is one feature's (or the score's) values counted on the
// reference's bins, the missing values' bin last, with a sample of the
// values for the KS test.
type Column struct {
	Name   string    `json:"name"`
	Kind   string    `json:"kind"`
	Counts []uint64  `json:"counts"`
	Sample []float32 `json:"sample,omitempty"`
}

// Tally is what drift needs of a batch, small and mergeable: the parts of
// a scoring run tally their rows and the run merges them.
type Tally struct {
	Rows     int      `json:"rows"`
	Features []Column `json:"features"`
	Score    *Column  `json:"score,omitempty"`
}

// Count tallies a batch (the model's features as ml reads them, and its
// scores: the first of k outputs per row; nil skips the score) on the
// model's reference bins, keeping every sampleEvery-th value of each
// numeric column; a feature per core.
func Count(art *artifact.Artifact, d *ml.Dataset, scores []float64, k, sampleEvery int) Tally {
	t := Tally{Rows: d.Rows()}
	ref := art.Reference
	if ref == nil {
		return t
	}
	sampleEvery = max(1, sampleEvery)
	t.Features = make([]Column, min(len(d.Features), len(ref.Features)))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				f := d.Features[i]
				kind := "numeric"
				if f.Kind == ml.Categorical {
					kind = "categorical"
				}
				t.Features[i] = column(f.Name, kind, &ref.Features[i], f.Values, sampleEvery)
			}
		})
	}
	for i := range t.Features {
		next <- i
	}
	close(next)
	wg.Wait()
	if scores != nil && k > 0 && len(ref.Score.Counts) > 0 {
		vals := make([]float32, 0, len(scores)/k)
		for i := 0; i < len(scores); i += k {
			vals = append(vals, float32(scores[i]))
		}
		c := column("score", "numeric", &ref.Score, vals, sampleEvery)
		t.Score = &c
	}
	return t
}

// Merge adds another tally of the same model to t.
func (t *Tally) Merge(o Tally) {
	if t.Features == nil {
		*t = o
		return
	}
	t.Rows += o.Rows
	merge := func(a *Column, b Column) {
		for i := range a.Counts {
			if i < len(b.Counts) {
				a.Counts[i] += b.Counts[i]
			}
		}
		a.Sample = append(a.Sample, b.Sample...)
	}
	for i := range t.Features {
		if i < len(o.Features) {
			merge(&t.Features[i], o.Features[i])
		}
	}
	if t.Score != nil && o.Score != nil {
		merge(t.Score, *o.Score)
	}
}

// Report tests the tally against the model's reference.
func (t Tally) Report(art *artifact.Artifact, th Thresholds) Report {
	rep := Report{Rows: t.Rows, Level: LevelOK}
	ref := art.Reference
	if ref == nil {
		return rep
	}
	for i, c := range t.Features {
		var sample []float32
		if i < len(ref.Samples) {
			sample = ref.Samples[i]
		}
		rep.Features = append(rep.Features, finding(c, &ref.Features[i], sample, th))
	}
	if t.Score != nil {
		f := finding(*t.Score, &ref.Score, ref.ScoreSample, th)
		rep.Score = &f
	}
	for _, f := range rep.Features {
		rep.Level = worst(rep.Level, f.Level)
	}
	if rep.Score != nil {
		rep.Level = worst(rep.Level, rep.Score.Level)
	}
	return rep
}

// Compute measures the drift of one batch against the model's training
// reference: Count, then Report.
func Compute(art *artifact.Artifact, d *ml.Dataset, scores []float64, k int, th Thresholds) Report {
	return Count(art, d, scores, k, d.Rows()/ksSample).Report(art, th)
}

func worst(a, b string) string {
	rank := map[string]int{LevelOK: 0, LevelWarn: 1, LevelAlert: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// column counts a column's values on the reference bins (categorical:
// one bin per category; unseen categories count as missing) and samples
// the numeric ones.
func column(name, kind string, h *artifact.Histogram, vals []float32, sampleEvery int) Column {
	c := Column{Name: name, Kind: kind}
	if kind == "categorical" {
		c.Counts = make([]uint64, len(h.Counts)+1)
		for _, v := range vals {
			if i := int(v); v == v && i >= 0 && i < len(h.Counts) {
				c.Counts[i]++
			} else {
				c.Counts[len(h.Counts)]++
			}
		}
		return c
	}
	c.Counts = binAll(h, vals)
	for i := 0; i < len(vals); i += sampleEvery {
		if v := vals[i]; v == v {
			c.Sample = append(c.Sample, v)
		}
	}
	return c
}

// finding tests a tallied column against its reference.
func finding(c Column, h *artifact.Histogram, sample []float32, th Thresholds) Finding {
	f := Finding{Name: c.Name, Kind: c.Kind, Edges: h.Edges, Level: LevelOK, Current: c.Counts}
	f.Reference = append(slices.Clone(h.Counts), h.Missing)
	refBins, curBins := f.Reference, f.Current
	if len(refBins) != len(curBins) {
		return f // another model's tally
	}
	if h.Missing == 0 && curBins[len(curBins)-1] == 0 {
		refBins, curBins = refBins[:len(refBins)-1], curBins[:len(curBins)-1]
	}
	f.PSI = PSI(refBins, curBins)
	if c.Kind == "categorical" {
		f.Test = "chi2"
		f.Statistic, f.PValue = ChiSquare(refBins, curBins)
	} else if len(sample) > 0 && len(c.Sample) > 0 {
		f.Test = "ks"
		a := make([]float64, len(sample))
		for i, v := range sample {
			a[i] = float64(v)
		}
		b := make([]float64, len(c.Sample))
		for i, v := range c.Sample {
			b[i] = float64(v)
		}
		f.Statistic, f.PValue = KS(a, b)
	}
	switch {
	case f.PSI >= th.PSIAlert || (f.Test != "" && f.PValue < th.PValue):
		f.Level = LevelAlert
	case f.PSI >= th.PSIWarn:
		f.Level = LevelWarn
	}
	return f
}

// binAll counts values per reference bin, the missing ones last.
func binAll(h *artifact.Histogram, vals []float32) []uint64 {
	counts := make([]uint64, len(h.Counts)+1)
	edges := h.Edges
	nb := len(h.Counts)
	for _, v := range vals {
		if v != v {
			counts[nb]++
			continue
		}
		if nb == 0 {
			counts[nb]++ // no bins: training saw no value
			continue
		}
		x := float64(v)
		// The first edge above x (as Histogram.Bin), by a linear scan over
		// the ~20 edges: cheaper than a binary search's branches.
		i := 1
		for i < len(edges) && edges[i] <= x {
			i++
		}
		b := min(max(i-1, 0), nb-1)
		counts[b]++
	}
	return counts
}
