package gbdt

import (
	"cmp"
	"math"
	"slices"
	"sort"

	"github.com/sluice-ml/sluice/ml"
)

// Engine does the row-level work of growing trees: gradients, histograms,
// split search, partitioning rows into leaves, and adding a tree's outputs
// to the margins. The trainer keeps the tree logic (which leaves to split,
// the nodes, the leaf values), so every engine grows the same trees up to
// the order of floating-point sums. The CPU engine is the default; package
// gpu provides a CUDA one.
type Engine interface {
	// Load receives the training data, once per Train.
	Load(d Data) error
	// Gradients computes the gradients and hessians of output j from the
	// margins at the start of the round, before any of its trees were
	// added (as XGBoost does for multiclass): it is called for outputs 0,
	// 1, … in order, every round.
	Gradients(j int) error
	// SetRows sets the rows of the next tree, in order: nil is every row.
	SetRows(rows []int32) error
	// SetFeatures sets the features the next tree may split on.
	SetFeatures(active []int) error
	// Histograms builds the histograms of the active features over each
	// segment's rows, each into a new slot.
	Histograms(segs []Segment) ([]int, error)
	// Sums returns the gradient and hessian sums of a segment whose
	// histograms are in slot.
	Sums(slot int, seg Segment) (g, h float64, err error)
	// Subtract makes slot p[0] the histograms of p[0] minus those of p[1],
	// for each pair.
	Subtract(pairs [][2]int) error
	// Release frees a slot.
	Release(slot int)
	// BestSplits finds each query's best split over the active features,
	// ties to the lower feature.
	BestSplits(qs []Query) ([]Split, error)
	// Partition reorders each segment's rows so that those going left under
	// its split come first, keeping their order, and returns the position
	// of each segment's first right row.
	Partition(segs []Segment, splits []Split) ([]int, error)
	// AddTree adds the tree's leaf values to the margins of output j. The
	// leaves' segments (in the current rows) and values are given.
	AddTree(tree *Tree, j int, leaves []Segment, values []float64) error
	// Close frees the engine's resources.
	Close() error
}

// Data is what an engine trains on.
type Data struct {
	// Bins are the binned columns: Bins[f][row]; MissingBin holds NaN.
	Bins [][]uint8
	// Cuts are each numeric feature's bin edges: bin b holds
	// [Cuts[b-1], Cuts[b]).
	Cuts [][]float32
	// Categorical says which features are categorical, and CatBins is
	// the number of bins each of those uses: its bins are categories (or
	// groups of rare ones), split by partition (see ScanCategorical).
	Categorical []bool
	CatBins     []int
	Cat         CatParams
	Labels      []float32
	// Score holds the starting margins, row-major n×K; the engine owns
	// their updates from here on.
	Score []float64
	Task  ml.Task
	K     int
	// Lambda and MinChildWeight are the split search's regularization.
	Lambda, MinChildWeight float64
	Threads                int
	// Quantize asks for histograms of quantized gradients (see
	// Params.QuantizedGradients); an engine without them grows the trees
	// of exact gradients.
	Quantize bool
}

// MissingBin is the bin of missing values.
const MissingBin = missingBin

// Segment is a leaf's positions [Begin, End) in the engine's row order.
type Segment struct{ Begin, End int }

// Len is the number of rows in the segment.
func (s Segment) Len() int { return s.End - s.Begin }

// Query asks for the best split of the rows whose histograms are in Slot
// and whose gradient and hessian sums are G and H.
type Query struct {
	Slot int
	G, H float64
}

// Split is a node's best split: a row goes left when its bin is at most
// Bin, a missing one when DefaultLeft; on a categorical feature, when its
// bin is in Left (bit 255, the missing bin, is DefaultLeft). Feature -1 is
// no split. GL and HL are the left rows' gradient and hessian sums.
type Split struct {
	Gain        float64
	Feature     int
	Bin         int
	DefaultLeft bool
	GL, HL      float64
	Categorical bool
	Left        BinSet
}

// GoesLeft reports whether a row with bin b goes left.
func (s Split) GoesLeft(b uint8) bool {
	if s.Categorical {
		return s.Left.Has(b)
	}
	if b == missingBin {
		return s.DefaultLeft
	}
	return int(b) <= s.Bin
}

// BinSet is a set of bins, one bit each.
type BinSet [4]uint64

// Has reports whether b is in the set.
func (s *BinSet) Has(b uint8) bool { return s[b>>6]>>(b&63)&1 != 0 }

// Add puts b in the set.
func (s *BinSet) Add(b uint8) { s[b>>6] |= 1 << (b & 63) }

// CatParams regularize categorical splits, as LightGBM's parameters of
// the same names do.
type CatParams struct {
	// MaxCatToOnehot: a feature with at most this many non-empty
	// categories in a node splits one category against the rest.
	MaxCatToOnehot int
	// MaxCatThreshold caps the categories on the smaller side of a
	// partition split.
	MaxCatThreshold int
	// CatSmooth is added to each category's hessian when categories are
	// ordered by gradient ratio, so rare ones sort near zero.
	CatSmooth float64
	// CatL2 is added to lambda in a partition split's gain.
	CatL2 float64
}

// ScanCategorical finds the best split of a categorical feature from its
// histogram (nb bins in use, the last of 256 missing values). With few
// categories it tries each against the rest; otherwise it orders the
// categories by G/(H+CatSmooth) and tries every prefix of that order (up
// to MaxCatThreshold categories) from either end, the way LightGBM and
// XGBoost's enable_categorical do: for a gain of this form the best
// partition is contiguous in that order (Fisher 1958). Missing values try
// both sides.
func ScanCategorical(h *[256]HistBin, feature, nb int, g, hs, lambda, mcw float64, cp CatParams) Split {
	miss := h[missingBin]
	best := Split{Feature: feature, Categorical: true}
	var cats []uint8
	for b := range min(nb, missingBin) {
		if h[b] != (HistBin{}) {
			cats = append(cats, uint8(b))
		}
	}
	// A bin has rows when either sum is non-zero: a quantized hessian sum
	// can be 0 where the gradient's is not.
	hasMissing := miss != HistBin{}
	try := func(gl, hl, lam float64, set BinSet, missLeft bool) {
		gr, hr := g-gl, hs-hl
		if hl < mcw || hr < mcw || hl <= 0 || hr <= 0 {
			return
		}
		gain := gl*gl/(hl+lam) + gr*gr/(hr+lam) - g*g/(hs+lam)
		if gain > best.Gain {
			if missLeft {
				set.Add(missingBin)
			}
			best.Gain, best.Left, best.DefaultLeft, best.GL, best.HL = gain, set, missLeft, gl, hl
		}
	}
	// trySet tries a set of categories left, with the missing values on
	// either side (with none, the heavier side).
	trySet := func(gl, hl, lam float64, set BinSet) {
		if hasMissing {
			try(gl, hl, lam, set, false)
			try(gl+miss.G, hl+miss.H, lam, set, true)
		} else {
			try(gl, hl, lam, set, hl >= hs-hl)
		}
	}
	if len(cats) <= cp.MaxCatToOnehot {
		for _, c := range cats {
			var set BinSet
			set.Add(c)
			trySet(h[c].G, h[c].H, lambda, set)
		}
		return best
	}
	ratio := func(c uint8) float64 { return h[c].G / (h[c].H + cp.CatSmooth) }
	slices.SortStableFunc(cats, func(a, b uint8) int { return cmp.Compare(ratio(a), ratio(b)) })
	lam := lambda + cp.CatL2
	// Every category but one may go left; all of them, when the missing
	// values can go right alone.
	limit := len(cats) - 1
	if hasMissing {
		limit++
	}
	limit = min(limit, max(cp.MaxCatThreshold, 1))
	// Prefixes from the low end of the order, then from the high end.
	for _, fromHigh := range []bool{false, true} {
		var set BinSet
		var gl, hl float64
		for i := range limit {
			c := cats[i]
			if fromHigh {
				c = cats[len(cats)-1-i]
			}
			set.Add(c)
			gl += h[c].G
			hl += h[c].H
			trySet(gl, hl, lam, set)
		}
	}
	return best
}

// HistBin sums the gradients and hessians of a bin's rows.
type HistBin struct{ G, H float64 }

// ScanSplit finds the best split of one feature from its histogram (256
// bins, the last one missing values) with nb bins in use: each threshold is
// tried with the missing values on either side; the loss reduction is
// XGBoost's, GL²/(HL+λ) + GR²/(HR+λ) - G²/(H+λ). Engines must compute the
// same: the CUDA kernel is this loop.
func ScanSplit(h *[256]HistBin, feature, nb int, g, hs, lambda, mcw float64) Split {
	miss := h[missingBin]
	parent := g * g / (hs + lambda)
	best := Split{Feature: feature}
	var gl, hl float64
	try := func(gl, hl float64, b int, dl bool) {
		gr, hr := g-gl, hs-hl
		if hl < mcw || hr < mcw || hl <= 0 || hr <= 0 {
			return
		}
		gain := gl*gl/(hl+lambda) + gr*gr/(hr+lambda) - parent
		if gain > best.Gain {
			best.Gain, best.Bin, best.DefaultLeft, best.GL, best.HL = gain, b, dl, gl, hl
		}
	}
	hasMissing := miss != HistBin{} // see ScanCategorical
	for b := 0; b < nb; b++ {
		gl += h[b].G
		hl += h[b].H
		if b < nb-1 {
			// Missing right; with no missing rows, the default direction
			// is the heavier side.
			try(gl, hl, b, !hasMissing && hl >= hs-hl)
			if hasMissing {
				try(gl+miss.G, hl+miss.H, b, true)
			}
		} else if hasMissing {
			// Every value left, missing right.
			try(gl, hl, b, false)
		}
	}
	return best
}

// PickSplit returns the best of per-feature splits: the highest gain, ties
// to the first (the lower feature when they are in feature order).
func PickSplit(splits []Split) Split {
	best := Split{Feature: -1}
	for _, s := range splits {
		if s.Gain > best.Gain {
			best = s
		}
	}
	return best
}

// SplitBin returns the bin of a node's threshold on a feature with these
// cuts: the inverse of the trainer's bin-to-threshold mapping.
func SplitBin(cuts []float32, threshold float32) int {
	if math.IsInf(float64(threshold), 1) {
		return len(cuts)
	}
	return sort.Search(len(cuts), func(i int) bool { return cuts[i] >= threshold })
}
