package gbdt

import (
	"math"

	"github.com/sluice-ml/sluice/ml"
)

// hist is a node's histograms: 256 bins per feature.
type hist [][256]HistBin

// cpuEngine is the Engine on the CPU's cores.
type cpuEngine struct {
	d       Data
	threads int
	n, nf   int
	nbins   []int
	grad    []float32
	hess    []float32
	rows    []int32 // row ids, partitioned into the leaves' segments
	tmp     []int32
	og, oh  []float32 // gradients gathered in a leaf's row order
	all     bool      // rows is every row in order (no sampling)
	active  []int
	slots   []hist // by slot; nil when free
	free    []int  // free slot numbers
	spare   []hist // released histograms, for reuse
	splits  []Split
}

// NewCPUEngine returns the CPU engine.
func NewCPUEngine() Engine { return &cpuEngine{} }

func (e *cpuEngine) Load(d Data) error {
	e.d = d
	e.threads = d.Threads
	e.nf = len(d.Bins)
	e.n = len(d.Labels)
	e.nbins = make([]int, e.nf)
	for f, c := range d.Cuts {
		e.nbins[f] = len(c) + 1
	}
	e.grad, e.hess = make([]float32, e.n), make([]float32, e.n)
	e.rows, e.tmp = make([]int32, e.n), make([]int32, e.n)
	e.og, e.oh = make([]float32, e.n), make([]float32, e.n)
	return nil
}

func (e *cpuEngine) Close() error { return nil }

// Gradients fills grad and hess for output j from the current margins.
func (e *cpuEngine) Gradients(j int) error {
	k, score, labels := e.d.K, e.d.Score, e.d.Labels
	parallelFor((e.n+8191)/8192, e.threads, func(b int) {
		lo, hi := b*8192, min((b+1)*8192, e.n)
		switch e.d.Task {
		case ml.Binary:
			for i := lo; i < hi; i++ {
				pr := ml.Sigmoid(score[i])
				e.grad[i] = float32(pr - float64(labels[i]))
				e.hess[i] = float32(math.Max(pr*(1-pr), 1e-16))
			}
		case ml.Regression:
			for i := lo; i < hi; i++ {
				e.grad[i] = float32(score[i] - float64(labels[i]))
				e.hess[i] = 1
			}
		case ml.Multiclass:
			var buf [64]float64
			probs := buf[:0]
			if k > len(buf) {
				probs = make([]float64, k)
			}
			probs = probs[:k]
			for i := lo; i < hi; i++ {
				copy(probs, score[i*k:(i+1)*k])
				ml.Softmax(probs)
				pr := probs[j]
				y := 0.0
				if int(labels[i]) == j {
					y = 1
				}
				e.grad[i] = float32(pr - y)
				e.hess[i] = float32(math.Max(2*pr*(1-pr), 1e-16))
			}
		}
	})
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

func (e *cpuEngine) newSlot() int {
	var h hist
	if n := len(e.spare); n > 0 {
		h = e.spare[n-1]
		e.spare = e.spare[:n-1]
		clear(h)
	} else {
		h = make(hist, e.nf)
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

// Histograms fills the segments' histograms of the active features, one
// feature per task so that no two workers write one histogram.
func (e *cpuEngine) Histograms(segs []Segment) ([]int, error) {
	slots := make([]int, len(segs))
	for i := range segs {
		slots[i] = e.newSlot()
	}
	identity := e.all && len(segs) == 1 && segs[0] == Segment{0, e.n}
	// Gather each segment's gradients in its row order: the histogram loop
	// then reads them sequentially.
	if !identity {
		parallelFor(len(segs), e.threads, func(i int) {
			s := segs[i]
			og, oh := e.og[s.Begin:s.End], e.oh[s.Begin:s.End]
			for x, r := range e.rows[s.Begin:s.End] {
				og[x] = e.grad[r]
				oh[x] = e.hess[r]
			}
		})
	}
	parallelFor(len(e.active), e.threads, func(ai int) {
		f := e.active[ai]
		col := e.d.Bins[f]
		for i, s := range segs {
			h := &e.slots[slots[i]][f]
			if identity {
				histIdentity(h, col[:s.End], e.grad, e.hess)
			} else {
				histGather(h, col, e.rows[s.Begin:s.End], e.og[s.Begin:s.End], e.oh[s.Begin:s.End])
			}
		}
	})
	return slots, nil
}

// Sums adds the segment's gradients row by row.
func (e *cpuEngine) Sums(_ int, seg Segment) (g, h float64, err error) {
	for _, r := range e.rows[seg.Begin:seg.End] {
		g += float64(e.grad[r])
		h += float64(e.hess[r])
	}
	return g, h, nil
}

func (e *cpuEngine) Subtract(pairs [][2]int) error {
	parallelFor(len(e.active), e.threads, func(ai int) {
		f := e.active[ai]
		for _, p := range pairs {
			ph, sh := &e.slots[p[0]][f], &e.slots[p[1]][f]
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
		for i, q := range qs {
			per[i*na+ai] = ScanSplit(&e.slots[q.Slot][f], f, e.nbins[f], q.G, q.H, e.d.Lambda, e.d.MinChildWeight)
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
	col := e.d.Bins[s.Feature]
	rows, tmp := e.rows[begin:end], e.tmp[begin:end]
	nl, nr := 0, 0
	for _, r := range rows {
		if s.GoesLeft(col[r]) {
			rows[nl] = r
			nl++
		} else {
			tmp[nr] = r
			nr++
		}
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
	if e.all {
		for i, s := range leaves {
			for _, r := range e.rows[s.Begin:s.End] {
				score[int(r)*k+j] += values[i]
			}
		}
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
func histIdentity(h *[256]HistBin, col []uint8, g, hs []float32) {
	var h2 [256]HistBin
	n := len(col)
	g, hs = g[:n], hs[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		b0, b1 := col[i], col[i+1]
		h[b0].G += float64(g[i])
		h[b0].H += float64(hs[i])
		h2[b1].G += float64(g[i+1])
		h2[b1].H += float64(hs[i+1])
	}
	for ; i < n; i++ {
		h[col[i]].G += float64(g[i])
		h[col[i]].H += float64(hs[i])
	}
	for b := range h {
		h[b].G += h2[b].G
		h[b].H += h2[b].H
	}
}

func histGather(h *[256]HistBin, col []uint8, rows []int32, og, oh []float32) {
	var h2 [256]HistBin
	n := len(rows)
	og, oh = og[:n], oh[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		b0, b1 := col[rows[i]], col[rows[i+1]]
		h[b0].G += float64(og[i])
		h[b0].H += float64(oh[i])
		h2[b1].G += float64(og[i+1])
		h2[b1].H += float64(oh[i+1])
	}
	for ; i < n; i++ {
		b := col[rows[i]]
		h[b].G += float64(og[i])
		h[b].H += float64(oh[i])
	}
	for b := range h {
		h[b].G += h2[b].G
		h[b].H += h2[b].H
	}
}
