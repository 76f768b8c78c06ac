package artifact

import (
	"math"
	"runtime"
	"slices"
	"sync"

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

// referenceSortCap caps the values sorted to place a numeric feature's
// edges and quantile sample: past it, an even stride of the values stands
// for them all (the counts still cover every value). Sorting every value
// of a large training set took longer than training some models.
const referenceSortCap = 1 << 16

// NewReference records the distribution of each feature of d and of the
// scores (the first output of each row, k outputs per row): decile-like
// bins for numeric values, one count per category. Features are done in
// parallel.
func NewReference(d *ml.Dataset, scores []float64, k int) *Reference {
	r := &Reference{Features: make([]Histogram, len(d.Features)), Samples: make([][]float32, len(d.Features))}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(d.Features)) {
		wg.Go(func() {
			for f := range next {
				r.Features[f], r.Samples[f] = featureReference(&d.Features[f])
			}
		})
	}
	for f := range d.Features {
		next <- f
	}
	close(next)
	wg.Wait()
	if k > 0 && len(scores) > 0 {
		s := make([]float64, 0, len(scores)/k)
		for i := 0; i < len(scores); i += k {
			if !math.IsNaN(scores[i]) {
				s = append(s, scores[i])
			}
		}
		r.Score, r.ScoreSample = numericReference(s, 0)
	}
	return r
}

// featureReference is one feature's histogram and quantile sample (none
// for a categorical feature).
func featureReference(f *ml.Feature) (Histogram, []float32) {
	var missing uint64
	if f.Kind == ml.Categorical {
		h := Histogram{Counts: make([]uint64, len(f.Categories))}
		for _, v := range f.Values {
			if v != v {
				h.Missing++
			} else if c := int(v); c >= 0 && c < len(h.Counts) {
				h.Counts[c]++
			}
		}
		return h, nil
	}
	vals := make([]float64, 0, min(len(f.Values), 2*referenceSortCap))
	present := 0
	for _, v := range f.Values {
		if v != v {
			missing++
		} else {
			present++
		}
	}
	stride := max(1, (present+referenceSortCap-1)/referenceSortCap)
	i := 0
	for _, v := range f.Values {
		if v == v {
			if i%stride == 0 {
				vals = append(vals, float64(v))
			}
			i++
		}
	}
	if stride == 1 {
		return numericReference(vals, missing)
	}
	h, sample := numericReference(vals, missing)
	// The edges come from the sample; the counts from every value.
	clear(h.Counts)
	for _, v := range f.Values {
		if v == v {
			h.Counts[h.Bin(float64(v))]++
		}
	}
	return h, sample
}

// numericReference is the histogram and quantile sample of vals, which
// it sorts.
func numericReference(vals []float64, missing uint64) (Histogram, []float32) {
	h := numericHistogram(vals, missing) // sorts vals
	return h, quantileSample(vals, ReferenceSample)
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
