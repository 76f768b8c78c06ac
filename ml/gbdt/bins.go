package gbdt

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// missingBin holds the rows whose value is missing (NaN).
const missingBin = 255

// binSampleRows caps the rows sampled to place the bin edges; quantiles of
// 200k rows are as good as exact for 255 bins, and far cheaper.
const binSampleRows = 200_000

// cutsFor places up to maxBins-1 edges between the values of one feature
// (the sample, which it reorders), so that each bin holds about as many
// rows. A value v falls in bin #{edges <= v}; a split "bin <= b" is
// "v < edges[b]".
func cutsFor(sample []float32, maxBins int) []float32 {
	vals := sample[:0]
	for _, v := range sample {
		if !math.IsNaN(float64(v)) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	slices.Sort(vals)
	ndistinct := 1
	for i := 1; i < len(vals) && ndistinct <= maxBins; i++ {
		if vals[i] != vals[i-1] {
			ndistinct++
		}
	}
	var distinct []float32
	if ndistinct <= maxBins {
		distinct = make([]float32, 0, ndistinct)
		distinct = append(distinct, vals[0])
		for _, v := range vals[1:] {
			if v != distinct[len(distinct)-1] {
				distinct = append(distinct, v)
			}
		}
	}
	if distinct != nil {
		// One bin per value: edges at the midpoints.
		cuts := make([]float32, 0, len(distinct)-1)
		for i := 1; i < len(distinct); i++ {
			cuts = append(cuts, midpoint(distinct[i-1], distinct[i]))
		}
		return cuts
	}
	// Quantile edges over the sorted values, skipping repeats.
	n := len(vals)
	cuts := make([]float32, 0, maxBins-1)
	for i := 1; i < maxBins; i++ {
		pos := i * n / maxBins
		if pos <= 0 || pos >= n {
			continue
		}
		lo, hi := vals[pos-1], vals[pos]
		if lo == hi {
			// Put the edge just above the repeated value, so it stays
			// within one bin.
			j := sort.Search(n-pos, func(k int) bool { return vals[pos+k] > hi })
			if pos+j >= n {
				continue
			}
			lo, hi = vals[pos+j-1], vals[pos+j]
		}
		c := midpoint(lo, hi)
		if len(cuts) == 0 || c > cuts[len(cuts)-1] {
			cuts = append(cuts, c)
		}
	}
	return cuts
}

// midpoint is a float32 strictly above a and at most b.
func midpoint(a, b float32) float32 {
	m := float32((float64(a) + float64(b)) / 2)
	if m <= a {
		m = b
	}
	return m
}

// binOf returns v's bin under cuts.
func binOf(cuts []float32, v float32) uint8 {
	if v != v { // NaN
		return missingBin
	}
	// Branch-light binary search: the count of edges <= v.
	lo, n := 0, len(cuts)
	for n > 0 {
		half := n / 2
		if cuts[lo+half] <= v {
			lo += half + 1
			n -= half + 1
		} else {
			n = half
		}
	}
	return uint8(lo)
}

// binner bins values under one feature's cuts with a fixed 8-step search
// on integer keys: no branch depends on the data, which makes it several
// times faster than a binary search on random values. It gives binOf's
// bins.
type binner struct {
	// keys are the cuts' order keys, padded with a key above every
	// number's.
	keys [256]uint32
}

func newBinner(cuts []float32) *binner {
	b := &binner{}
	for i := range b.keys {
		b.keys[i] = math.MaxUint32
	}
	for i, c := range cuts {
		b.keys[i] = orderKey(c)
	}
	return b
}

// orderKey maps a float32 (not NaN) to a uint32 of the same order: the
// sign bit flipped for positive numbers (and zeros), every bit for
// negative ones.
func orderKey(v float32) uint32 {
	u := math.Float32bits(v)
	if u == 1<<31 { // -0 equals 0
		u = 0
	}
	if u>>31 == 1 {
		return ^u
	}
	return u | 1<<31
}

func (b *binner) bin(v float32) uint8 {
	if v != v {
		return missingBin
	}
	k := int64(orderKey(v))
	// lo counts the cuts <= v: each step adds a power of two when the
	// cut just below lo+step is still <= v, by a mask rather than a
	// branch: (k - key) >> 63 is all ones when the key is above k.
	lo := uint8(0)
	for step := uint8(128); step > 0; step >>= 1 {
		key := int64(b.keys[lo+step-1])
		lo += step &^ uint8((k-key)>>63)
	}
	return lo
}

// categoryBins gives a categorical feature's codes (0 to ncat-1) their
// bins: one per category present, most frequent first; past maxBins
// categories, the rarest share the last bin. Codes with no rows map to
// the missing bin, as do codes never seen.
func categoryBins(vals []float32, ncat, maxBins int) (codeBin []uint8, nb int) {
	counts := make([]int, ncat)
	for _, v := range vals {
		if c := int(v); v == v && c >= 0 && c < ncat && float32(c) == v {
			counts[c]++
		}
	}
	var present []int
	for c, n := range counts {
		if n > 0 {
			present = append(present, c)
		}
	}
	slices.SortStableFunc(present, func(a, b int) int { return counts[b] - counts[a] })
	codeBin = make([]uint8, ncat)
	for c := range codeBin {
		codeBin[c] = missingBin
	}
	for i, c := range present {
		codeBin[c] = uint8(min(i, maxBins-1))
	}
	return codeBin, min(len(present), maxBins)
}

// catBin is the bin of category code v: missing for NaN and codes the map
// does not know.
func catBin(codeBin []uint8, v float32) uint8 {
	c := int(v)
	if v != v || c < 0 || c >= len(codeBin) || float32(c) != v {
		return missingBin
	}
	return codeBin[c]
}

// sampleRows picks about binSampleRows rows, in order, to place edges: all
// of them (nil) when there are few.
func sampleRows(n int, seed uint64) []int32 {
	if n <= binSampleRows {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	keep := float64(binSampleRows) / float64(n)
	idx := make([]int32, 0, binSampleRows+binSampleRows/50)
	for r := range n {
		if rng.Float64() < keep {
			idx = append(idx, int32(r))
		}
	}
	return idx
}
