package gbdt

import (
	"math"

	"github.com/sluice-ml/sluice/ml"
)

// hist is a node's histograms: 256 bins per feature.
type hist [][256]HistBin

// gradPair is a row's gradient and hessian, side by side so that one load
// reads both.
type gradPair struct{ g, h float32 }

// cpuEngine is the Engine on the CPU's cores. Histograms are built a
// feature at a time, so every histogram bin is summed in row order by one
// worker and the result does not depend on the thread count. (A row-major
// matrix, one row's bins together, was tried: gathering a deep node's
// rows then misses the cache once per row, where one column stays in L2.)
type cpuEngine struct {
	d       Data
	threads int
	n, nf   int
	nbins   []int
	grad    []gradPair // by row
	gradK   []gradPair // multiclass: every output's, output-major
	leafOf  []uint16   // AddTree's scratch: each row's leaf
	ord     []gradPair // gathered in the leaves' row order
	rows    []int32    // row ids, partitioned into the leaves' segments
	tmp     []int32
	all     bool // rows is every row in order (no sampling)
	active  []int
	slots   []*histSlot // by slot; nil when free
	free    []int       // free slot numbers
	spare   []*histSlot // released histograms, for reuse
	// With quantized gradients, q holds each row's packed quantized
	// gradient and hessian (quantize), qord them in the leaves' row
	// order, and gScale and hScale turn quantized sums back into sums.
	quantized      bool
	q, qord        []int64
	gScale, hScale float64
	invG, invH     float64
	blockMaxes     [][2]float32   // this tree's largest |g| and h, per block
	classMax       [][][2]float32 // multiclass: the same, per class
	lg, lh         int64          // the quantized gradient's and hessian's largest sizes
	splits         []Split
}

// NewCPUEngine returns the CPU engine.
func NewCPUEngine() Engine { return &cpuEngine{} }

func (e *cpuEngine) Load(d Data) error {
	*e = cpuEngine{} // nothing of an earlier Load carries over
	e.d = d
	e.threads = threadsOf(d.Threads)
	e.nf = len(d.Bins)
	e.n = len(d.Labels)
	e.nbins = make([]int, e.nf)
	for f, c := range d.Cuts {
		e.nbins[f] = len(c) + 1
		if d.Categorical != nil && d.Categorical[f] {
			e.nbins[f] = d.CatBins[f]
		}
	}
	e.grad, e.ord = make([]gradPair, e.n), make([]gradPair, e.n)
	e.rows, e.tmp = make([]int32, e.n), make([]int32, e.n)
	e.quantized = d.Quantize
	if e.quantized {
		e.q, e.qord = make([]int64, e.n), make([]int64, e.n)
	}
	return nil
}

func (e *cpuEngine) Close() error { return nil }

// classGradients fills gradK with every output's multiclass gradients
// from the current margins.
func (e *cpuEngine) classGradients() {
	k, n, score, labels := e.d.K, e.n, e.d.Score, e.d.Labels
	if e.gradK == nil {
		e.gradK = make([]gradPair, n*k)
		if e.quantized {
			e.classMax = make([][][2]float32, k)
			for c := range k {
				e.classMax[c] = make([][2]float32, (n+8191)/8192)
			}
		}
	}
	parallelFor((n+8191)/8192, e.threads, func(b int) {
		var buf [64]float64
		probs := buf[:0]
		if k > len(buf) {
			probs = make([]float64, k)
		}
		probs = probs[:k]
		for i := b * 8192; i < min((b+1)*8192, n); i++ {
			copy(probs, score[i*k:(i+1)*k])
			if e.quantized {
				softmaxTrain(probs) // its error is far below the rounding's
			} else {
				ml.Softmax(probs)
			}
			for c, pr := range probs {
				y := 0.0
				if int(labels[i]) == c {
					y = 1
				}
				h := 2 * pr * (1 - pr)
				if h < 1e-16 {
					h = 1e-16
				}
				e.gradK[c*n+i] = gradPair{float32(pr - y), float32(h)}
			}
		}
		if e.quantized {
			lo, hi := b*8192, min((b+1)*8192, n)
			for c := range k {
				e.classMax[c][b] = blockMax(e.gradK[c*n+lo : c*n+hi])
			}
		}
	})
}

// Gradients fills grad for output j from the margins at the start of the
// round. With several outputs (multiclass), output 0's call computes every
// output's gradients from one softmax per row, and later calls take
// theirs.
func (e *cpuEngine) Gradients(j int) error {
	k, score, labels := e.d.K, e.d.Score, e.d.Labels
	if k > 1 {
		if j == 0 {
			e.classGradients()
		}
		e.grad = e.gradK[j*e.n : (j+1)*e.n]
		if e.quantized {
			e.quantize(e.classMax[j])
		}
		return nil
	}
	if e.quantized && e.blockMaxes == nil {
		e.blockMaxes = make([][2]float32, (e.n+8191)/8192)
	}
	parallelFor((e.n+8191)/8192, e.threads, func(b int) {
		lo, hi := b*8192, min((b+1)*8192, e.n)
		grad := e.grad[lo:hi]
		switch e.d.Task {
		case ml.Binary:
			for i := range grad {
				var pr float64
				if e.quantized {
					pr = sigmoidTrain(score[lo+i]) // its error is far below the rounding's
				} else {
					pr = ml.Sigmoid(score[lo+i])
				}
				h := pr * (1 - pr)
				if h < 1e-16 { // not the builtin max: it is slow
					h = 1e-16
				}
				grad[i] = gradPair{float32(pr - float64(labels[lo+i])), float32(h)}
			}
		case ml.Regression:
			for i := range grad {
				grad[i] = gradPair{float32(score[lo+i] - float64(labels[lo+i])), 1}
			}
		}
		if e.quantized {
			e.blockMaxes[b] = blockMax(grad)
		}
	})
	if e.quantized {
		e.quantize(e.blockMaxes)
	}
	return nil
}

func (e *cpuEngine) SetRows(rows []int32) error {
	e.all = rows == nil
	if e.all {
		for i := range e.n {
			e.rows[i] = int32(i)
		}
		return nil
	}
	copy(e.rows, rows)
	return nil
}

func (e *cpuEngine) SetFeatures(active []int) error {
	e.active = append(e.active[:0], active...)
	return nil
}

// histSlot is a node's histograms: exact sums, or quantized ones.
type histSlot struct {
	exact hist
	quant qhist
}

func (e *cpuEngine) newSlot() int {
	var h *histSlot
	if n := len(e.spare); n > 0 {
		h = e.spare[n-1]
		e.spare = e.spare[:n-1]
		clear(h.exact)
		clear(h.quant)
	} else if e.quantized {
		h = &histSlot{quant: make(qhist, e.nf)}
	} else {
		h = &histSlot{exact: make(hist, e.nf)}
	}
	if n := len(e.free); n > 0 {
		s := e.free[n-1]
		e.free = e.free[:n-1]
		e.slots[s] = h
		return s
	}
	e.slots = append(e.slots, h)
	return len(e.slots) - 1
}

func (e *cpuEngine) Release(slot int) {
	if slot < 0 || slot >= len(e.slots) || e.slots[slot] == nil {
		return
	}
	e.spare = append(e.spare, e.slots[slot])
	e.slots[slot] = nil
	e.free = append(e.free, slot)
}

// Histograms fills the segments' histograms of the active features; no
// two workers write one histogram.
func (e *cpuEngine) Histograms(segs []Segment) ([]int, error) {
	slots := make([]int, len(segs))
	for i := range segs {
		slots[i] = e.newSlot()
	}
	identity := e.all && len(segs) == 1 && segs[0] == Segment{0, e.n}
	if !identity {
		e.gatherOrdered(segs)
	}
	if e.quantized {
		e.quantHistograms(segs, slots, identity)
		return slots, nil
	}
	parallelFor(len(e.active), e.threads, func(ai int) {
		f := e.active[ai]
		col := e.d.Bins[f]
		for i, s := range segs {
			h := &e.slots[slots[i]].exact[f]
			if identity {
				histIdentity(h, col[:s.End], e.grad)
			} else {
				histGather(h, col, e.rows[s.Begin:s.End], e.ord[s.Begin:s.End])
			}
		}
	})
	return slots, nil
}

// gatherOrdered gathers each segment's gradients (or quantized ones) in
// its row order, so that the histogram loops read them sequentially.
// Chunks of rows, not segments, are the tasks: a level's segments are few
// and uneven at the top of a tree.
func (e *cpuEngine) gatherOrdered(segs []Segment) {
	var chunks []Segment
	const chunk = 16384
	for _, s := range segs {
		for b := s.Begin; b < s.End; b += chunk {
			chunks = append(chunks, Segment{b, min(b+chunk, s.End)})
		}
	}
	parallelFor(len(chunks), e.threads, func(i int) {
		s := chunks[i]
		if e.quantized {
			qord := e.qord[s.Begin:s.End]
			for x, r := range e.rows[s.Begin:s.End] {
				qord[x] = e.q[r]
			}
			return
		}
		ord := e.ord[s.Begin:s.End]
		for x, r := range e.rows[s.Begin:s.End] {
			ord[x] = e.grad[r]
		}
	})
}

// quantHistograms fills quantized histograms two features per task: each
// row (and row index) read serves both. (Four were no faster: fewer tasks
// balance worse over the workers.)
func (e *cpuEngine) quantHistograms(segs []Segment, slots []int, identity bool) {
	pairs := (len(e.active) + 1) / 2
	parallelFor(pairs, e.threads, func(pi int) {
		f0 := e.active[2*pi]
		single := 2*pi+1 == len(e.active)
		f1 := f0
		if !single {
			f1 = e.active[2*pi+1]
		}
		for i, s := range segs {
			sl := e.slots[slots[i]]
			c0, c1 := e.d.Bins[f0], e.d.Bins[f1]
			switch {
			case identity && single:
				qhistIdentity(&sl.quant[f0], c0[:s.End], e.q)
			case identity:
				qhistIdentity2(&sl.quant[f0], &sl.quant[f1], c0[:s.End], c1[:s.End], e.q)
			case single:
				qhistGather(&sl.quant[f0], c0, e.rows[s.Begin:s.End], e.qord[s.Begin:s.End])
			default:
				qhistGather2(&sl.quant[f0], &sl.quant[f1], c0, c1, e.rows[s.Begin:s.End], e.qord[s.Begin:s.End])
			}
		}
	})
}

// Sums adds the segment's gradients row by row; with quantized
// gradients, it adds the first active feature's bins (every row is in one
// of them), so that the split search sees sums of the same gradients as
// the histograms.
func (e *cpuEngine) Sums(slot int, seg Segment) (g, h float64, err error) {
	if e.quantized {
		var sum int64
		for _, v := range e.slots[slot].quant[e.active[0]] {
			sum += v
		}
		g, h = e.unpack(sum)
		return g, h, nil
	}
	for _, r := range e.rows[seg.Begin:seg.End] {
		g += float64(e.grad[r].g)
		h += float64(e.grad[r].h)
	}
	return g, h, nil
}

func (e *cpuEngine) Subtract(pairs [][2]int) error {
	parallelFor(len(e.active), e.threads, func(ai int) {
		f := e.active[ai]
		for _, p := range pairs {
			if e.quantized {
				ph, sh := &e.slots[p[0]].quant[f], &e.slots[p[1]].quant[f]
				for b := range ph {
					ph[b] -= sh[b]
				}
				continue
			}
			ph, sh := &e.slots[p[0]].exact[f], &e.slots[p[1]].exact[f]
			for b := range ph {
				ph[b].G -= sh[b].G
				ph[b].H -= sh[b].H
			}
		}
	})
	return nil
}

func (e *cpuEngine) BestSplits(qs []Query) ([]Split, error) {
	na := len(e.active)
	if need := len(qs) * na; cap(e.splits) < need {
		e.splits = make([]Split, need)
	}
	per := e.splits[:len(qs)*na]
	parallelFor(na, e.threads, func(ai int) {
		f := e.active[ai]
		var sums [256]HistBin
		for i, q := range qs {
			h := &sums
			if e.quantized {
				for b, v := range &e.slots[q.Slot].quant[f] {
					sums[b].G, sums[b].H = e.unpack(v)
				}
			} else {
				h = &e.slots[q.Slot].exact[f]
			}
			if e.d.Categorical != nil && e.d.Categorical[f] {
				per[i*na+ai] = ScanCategorical(h, f, e.nbins[f], q.G, q.H, e.d.Lambda, e.d.MinChildWeight, e.d.Cat)
			} else {
				per[i*na+ai] = ScanSplit(h, f, e.nbins[f], q.G, q.H, e.d.Lambda, e.d.MinChildWeight)
			}
		}
	})
	out := make([]Split, len(qs))
	for i := range qs {
		out[i] = PickSplit(per[i*na : (i+1)*na])
	}
	return out, nil
}

// Partition partitions each segment; a big segment alone is cut into
// chunks so every worker has rows.
func (e *cpuEngine) Partition(segs []Segment, splits []Split) ([]int, error) {
	mids := make([]int, len(segs))
	if len(segs) < threadsOf(e.threads) {
		for i, s := range segs {
			mids[i] = e.partitionChunked(s.Begin, s.End, splits[i])
		}
	} else {
		parallelFor(len(segs), e.threads, func(i int) {
			mids[i] = e.partition(segs[i].Begin, segs[i].End, splits[i])
		})
	}
	return mids, nil
}

// partition reorders rows[begin:end] so the rows going left come first,
// keeping their order, and returns the first right row's position.
func (e *cpuEngine) partition(begin, end int, s Split) int {
	// Which bins go left, as 0 or 1, so the loop has no branch: each row
	// is written to both sides and only the count of its side moves on.
	var left [256]int
	for b := range left {
		if s.GoesLeft(uint8(b)) {
			left[b] = 1
		}
	}
	col := e.d.Bins[s.Feature]
	rows, tmp := e.rows[begin:end], e.tmp[begin:end]
	nl, nr := 0, 0
	for _, r := range rows {
		l := left[col[r]]
		rows[nl] = r // nl <= this row's index: rows[nl] was read already
		tmp[nr] = r
		nl += l
		nr += 1 - l
	}
	copy(rows[nl:], tmp[:nr])
	return begin + nl
}

// partitionChunked partitions a big segment in parallel chunks, then joins
// the chunks' left parts and right parts in order: the result equals
// partition's.
func (e *cpuEngine) partitionChunked(begin, end int, s Split) int {
	workers := threadsOf(e.threads)
	if workers == 1 || end-begin < 65536 {
		return e.partition(begin, end, s)
	}
	bounds := make([]int, workers+1)
	for c := range bounds {
		bounds[c] = begin + c*(end-begin)/workers
	}
	mids := make([]int, workers)
	parallelFor(workers, workers, func(c int) {
		mids[c] = e.partition(bounds[c], bounds[c+1], s)
	})
	// Lefts then rights, each in chunk order, through tmp.
	out := begin
	for c := range workers {
		out += copy(e.tmp[out:], e.rows[bounds[c]:mids[c]])
	}
	mid := out
	for c := range workers {
		out += copy(e.tmp[out:], e.rows[mids[c]:bounds[c+1]])
	}
	copy(e.rows[begin:end], e.tmp[begin:end])
	return mid
}

// AddTree adds the leaves' values to their rows; with sampled rows, the
// rows outside the sample are in no leaf, so every row walks the tree by
// its bins.
func (e *cpuEngine) AddTree(tree *Tree, j int, leaves []Segment, values []float64) error {
	k, score := e.d.K, e.d.Score
	if e.all && len(leaves) <= 1<<16 {
		// Mark each row's leaf (small writes that stay in cache), then add
		// to the margins in row order: adding leaf by leaf scattered the
		// writes over margins far larger than the cache.
		if cap(e.leafOf) < e.n {
			e.leafOf = make([]uint16, e.n)
		}
		leafOf := e.leafOf[:e.n]
		parallelFor(len(leaves), e.threads, func(i int) {
			for _, r := range e.rows[leaves[i].Begin:leaves[i].End] {
				leafOf[r] = uint16(i)
			}
		})
		parallelFor((e.n+8191)/8192, e.threads, func(b int) {
			for r := b * 8192; r < min((b+1)*8192, e.n); r++ {
				score[r*k+j] += values[leafOf[r]]
			}
		})
		return nil
	}
	parallelFor((e.n+8191)/8192, e.threads, func(b int) {
		for r := b * 8192; r < min((b+1)*8192, e.n); r++ {
			score[r*k+j] += e.leafByBins(tree, r)
		}
	})
	return nil
}

// leafByBins walks a tree by a training row's bins: bin b holds values in
// [cuts[b-1], cuts[b]), so "x < threshold" is "cuts[b] <= threshold".
func (e *cpuEngine) leafByBins(tree *Tree, r int) float64 {
	i := int32(0)
	for {
		n := &tree.Nodes[i]
		if n.Feature < 0 {
			return n.Value
		}
		b := e.d.Bins[n.Feature][r]
		c := e.d.Cuts[n.Feature]
		var left bool
		switch {
		case n.Categorical:
			left = n.LeftBins.Has(b)
		case b == missingBin:
			left = n.DefaultLeft
		case int(b) < len(c):
			left = c[b] <= n.Threshold
		default:
			left = math.IsInf(float64(n.Threshold), 1)
		}
		if left {
			i = n.Left
		} else {
			i = n.Right
		}
	}
}

// histIdentity and histGather add gradients into a feature's bins. They
// alternate between two histograms: consecutive rows often share a bin, and
// one accumulator would make each add wait for the last.
func histIdentity(h *[256]HistBin, col []uint8, grad []gradPair) {
	var h2 [256]HistBin
	n := len(col)
	grad = grad[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		b0, b1 := col[i], col[i+1]
		g0, g1 := grad[i], grad[i+1]
		h[b0].G += float64(g0.g)
		h[b0].H += float64(g0.h)
		h2[b1].G += float64(g1.g)
		h2[b1].H += float64(g1.h)
	}
	for ; i < n; i++ {
		h[col[i]].G += float64(grad[i].g)
		h[col[i]].H += float64(grad[i].h)
	}
	for b := range h {
		h[b].G += h2[b].G
		h[b].H += h2[b].H
	}
}

func histGather(h *[256]HistBin, col []uint8, rows []int32, ord []gradPair) {
	var h2 [256]HistBin
	n := len(rows)
	ord = ord[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		b0, b1 := col[rows[i]], col[rows[i+1]]
		g0, g1 := ord[i], ord[i+1]
		h[b0].G += float64(g0.g)
		h[b0].H += float64(g0.h)
		h2[b1].G += float64(g1.g)
		h2[b1].H += float64(g1.h)
	}
	for ; i < n; i++ {
		b := col[rows[i]]
		h[b].G += float64(ord[i].g)
		h[b].H += float64(ord[i].h)
	}
	for b := range h {
		h[b].G += h2[b].G
		h[b].H += h2[b].H
	}
}

// qhist is a node's quantized histograms: for each feature and bin, the
// sum of the rows' packed quantized gradients (see quantize).
type qhist [][256]int64

// Quantized gradients, as LightGBM 4's use_quantized_grad: each tree's
// gradients and hessians are scaled to small integers with stochastic
// rounding (unbiased), packed into one int64 per row (gradient in the
// high 32 bits, hessian in the low 32), and a histogram bin is one integer
// add per row instead of two floating-point ones. Integer sums are exact,
// so they do not depend on the order of the adds.
const (
	quantG = 1<<15 - 1 // |quantized gradient| <= quantG
	quantH = 1<<16 - 1 // 0 <= quantized hessian <= quantH
)

// levels are the quantization's levels: sums over every row must fit,
// |Σg| < 2^31 and Σh < 2^32.
func (e *cpuEngine) levels() (g, h int64) {
	n := int64(max(e.n, 1))
	return min(quantG, (1<<31-1)/n), min(quantH, (1<<32-1)/n)
}

// setScales sets the scales for gradients up to maxG in size and
// hessians up to maxH.
func (e *cpuEngine) setScales(maxG, maxH float64) {
	lg, lh := e.levels()
	e.gScale, e.hScale = 1, 1
	if maxG > 0 {
		e.gScale = maxG / float64(lg)
	}
	if maxH > 0 {
		e.hScale = maxH / float64(lh)
	}
	e.invG, e.invH, e.lg, e.lh = 1/e.gScale, 1/e.hScale, lg, lh
}

// quantize fills q from grad with scales from this tree's largest values,
// given per block of 8,192 rows (blockMax). (Scales from the objectives'
// bounds, |g| <= 1 and h <= 1/4 for the logistic loss, would need no
// maxima but lost AUC: 0.7845 against 0.7864 on the wide benchmark
// shape.)
func (e *cpuEngine) quantize(maxes [][2]float32) {
	var mg, mh float32
	for _, m := range maxes {
		if m[0] > mg {
			mg = m[0]
		}
		if m[1] > mh {
			mh = m[1]
		}
	}
	e.setScales(float64(mg), float64(mh))
	const block = 8192
	parallelFor((e.n+block-1)/block, e.threads, func(b int) {
		lo, hi := b*block, min((b+1)*block, e.n)
		e.quantizeRange(e.q[lo:hi], e.grad[lo:hi], lo)
	})
}

// blockMax is the largest |g| and h of a block of rows, found while the
// block is in cache. Plain comparisons: the builtin max's care for NaN
// and signed zeros made such a loop cost as much as the histograms.
func blockMax(grad []gradPair) [2]float32 {
	var mg, mh float32
	for _, gp := range grad {
		if gp.g > mg {
			mg = gp.g
		} else if -gp.g > mg {
			mg = -gp.g
		}
		if gp.h > mh {
			mh = gp.h
		}
	}
	return [2]float32{mg, mh}
}

// quantizeRange fills q[i] with row base+i's packed quantized gradient
// and hessian: the scaled values rounded down or up at random, in
// proportion to their fractions (so without bias). The randomness comes
// from the row and its gradient, so it is the same for any thread count
// and on a resumed run, and fresh for every tree. (One call per block, so
// that the loop is compiled inline.)
func (e *cpuEngine) quantizeRange(q []int64, grad []gradPair, base int) {
	invG, invH, lg, lh := e.invG, e.invH, e.lg, e.lh
	q = q[:len(grad)]
	for i, gp := range grad {
		u := splitmix(uint64(base+i)<<32 ^ uint64(math.Float32bits(gp.g)) ^ uint64(math.Float32bits(gp.h))<<16)
		// (int64 first: converting a uint64 to a float is slow.)
		ug := float64(int64(u>>40)) * (1.0 / (1 << 24))
		uh := float64(int64(u&(1<<24-1))) * (1.0 / (1 << 24))
		// floor by truncation, of numbers made positive first: the scaled
		// gradient is at least -lg.
		qg := int64(float64(gp.g)*invG+ug+float64(lg+1)) - (lg + 1)
		qh := int64(float64(gp.h)*invH + uh)
		qg = min(max(qg, -lg), lg)
		qh = min(qh, lh)
		q[i] = qg<<32 + qh
	}
}

// unpack turns a sum of packed values back into gradient and hessian
// sums.
func (e *cpuEngine) unpack(v int64) (g, h float64) {
	hs := int64(uint32(v))
	return float64((v-hs)>>32) * e.gScale, float64(hs) * e.hScale
}

// splitmix is SplitMix64's output function: a well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// qhistIdentity and qhistGather are histIdentity and histGather on packed
// quantized gradients.
func qhistIdentity(h *[256]int64, col []uint8, q []int64) {
	var h2 [256]int64
	n := len(col)
	q = q[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		h[col[i]] += q[i]
		h2[col[i+1]] += q[i+1]
	}
	for ; i < n; i++ {
		h[col[i]] += q[i]
	}
	for b := range h {
		h[b] += h2[b]
	}
}

func qhistGather(h *[256]int64, col []uint8, rows []int32, q []int64) {
	var h2 [256]int64
	n := len(rows)
	q = q[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		h[col[rows[i]]] += q[i]
		h2[col[rows[i+1]]] += q[i+1]
	}
	for ; i < n; i++ {
		h[col[rows[i]]] += q[i]
	}
	for b := range h {
		h[b] += h2[b]
	}
}

// qhistGather2 is qhistGather on two features at once.
func qhistGather2(h0, h1 *[256]int64, c0, c1 []uint8, rows []int32, q []int64) {
	q = q[:len(rows)]
	for i, r := range rows {
		v := q[i]
		h0[c0[r]] += v
		h1[c1[r]] += v
	}
}

// qhistIdentity2 is qhistIdentity on two features at once.
func qhistIdentity2(h0, h1 *[256]int64, c0, c1 []uint8, q []int64) {
	n := len(c0)
	c1, q = c1[:n], q[:n]
	for i, v := range q {
		h0[c0[i]] += v
		h1[c1[i]] += v
	}
}
