package gbdt

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBinnerMatchesBinarySearch: the branch-free binner gives the binary
// search's bins for every kind of value (signed zeros, infinities, NaN,
// values on the cuts) and every number of cuts.
func TestBinnerMatchesBinarySearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	inf := float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	for _, ncuts := range []int{0, 1, 2, 3, 7, 100, 254} {
		sample := make([]float32, 5000)
		for i := range sample {
			sample[i] = float32(rng.NormFloat64() * 3)
		}
		sample[0], sample[1] = 0, negZero
		cuts := cutsFor(slices.Clone(sample), ncuts+1)
		if ncuts == 0 {
			cuts = nil
		}
		b := newBinner(cuts)
		vals := append(sample, 0, negZero, inf, -inf, float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32,
			math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32)
		vals = append(vals, cuts...)
		for _, c := range cuts {
			vals = append(vals, math.Nextafter32(c, inf), math.Nextafter32(c, -inf))
		}
		for _, v := range vals {
			if got, want := b.bin(v), binOf(cuts, v); got != want {
				t.Fatalf("%d cuts: value %v: binner says bin %d, binary search %d", len(cuts), v, got, want)
			}
		}
	}
}
