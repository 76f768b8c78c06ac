package artifact

import (
	"math"
	"slices"

	"github.com/sluice-ml/sluice/ml"
)

// ReferenceBins is the number of bins of a numeric reference histogram.
const ReferenceBins = 20

// ReferenceSample is the number of training values kept per numeric
// feature, at evenly spaced quantiles.
const ReferenceSample = 1000

// quantileSample takes n values of sorted vals at the midpoints of n
// equal shares (all of them when there are fewer).
func quantileSample(sorted []float64, n int) []float32 {
	if len(sorted) <= n {
		out := make([]float32, len(sorted))
		for i, v := range sorted {
			out[i] = float32(v)
		}
		return out
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(sorted[(2*i+1)*len(sorted)/(2*n)])
	}
	return out
}

// NewReference records the distribution of each feature of d and of the
// scores (the first output of each row, k outputs per row): decile-like
// bins for numeric values, one count per category.
func NewReference(d *ml.Dataset, scores []float64, k int) *Reference {
	r := &Reference{}
	for _, f := range d.Features {
		vals := make([]float64, 0, len(f.Values))
		var missing uint64
		for _, v := range f.Values {
			if v != v {
				missing++
				continue
			}
			vals = append(vals, float64(v))
		}
		if f.Kind == ml.Categorical {
			h := Histogram{Counts: make([]uint64, len(f.Categories)), Missing: missing}
			for _, v := range vals {
				if c := int(v); c >= 0 && c < len(h.Counts) {
					h.Counts[c]++
				}
			}
			r.Features = append(r.Features, h)
			r.Samples = append(r.Samples, nil)
			continue
		}
		r.Features = append(r.Features, numericHistogram(vals, missing)) // sorts vals
		r.Samples = append(r.Samples, quantileSample(vals, ReferenceSample))
	}
	if k > 0 && len(scores) > 0 {
		s := make([]float64, 0, len(scores)/k)
		for i := 0; i < len(scores); i += k {
			if !math.IsNaN(scores[i]) {
				s = append(s, scores[i])
			}
		}
		r.Score = numericHistogram(s, 0)
		r.ScoreSample = quantileSample(s, ReferenceSample)
	}
	return r
}

// numericHistogram bins values at their quantiles, so each bin holds about
// the same share of the training data.
func numericHistogram(vals []float64, missing uint64) Histogram {
	h := Histogram{Missing: missing}
	if len(vals) == 0 {
		return h
	}
	slices.Sort(vals)
	edges := []float64{vals[0]}
	for i := 1; i < ReferenceBins; i++ {
		e := vals[i*len(vals)/ReferenceBins]
		if e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	if last := vals[len(vals)-1]; last > edges[len(edges)-1] || len(edges) == 1 {
		edges = append(edges, last)
	}
	h.Edges = edges
	h.Counts = make([]uint64, len(edges)-1)
	for _, v := range vals {
		h.Counts[h.Bin(v)]++
	}
	return h
}

// Bin returns the bin of v in a numeric histogram, clamping values outside
// the training range to the first or last bin.
func (h *Histogram) Bin(v float64) int {
	n := len(h.Edges) - 1
	if n <= 0 {
		return 0
	}
	i, _ := slices.BinarySearch(h.Edges, v)
	if i < len(h.Edges) && h.Edges[i] == v {
		i++
	}
	return min(max(i-1, 0), n-1)
}
