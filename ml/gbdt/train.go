package gbdt

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"github.com/sluice-ml/sluice/ml"
)

// Checkpoint is the state after a round: resuming from it grows the same
// model as an uninterrupted run.
type Checkpoint struct {
	Params    Params
	Round     int // rounds completed
	BaseScore []float64
	Trees     []Tree
	BestRound int
	BestLoss  float64
	SinceBest int
}

// Options are the optional inputs of Train.
type Options struct {
	// Valid is the validation set for early stopping and its loss.
	Valid *ml.Dataset
	// Resume continues from a checkpoint taken with the same data and
	// parameters.
	Resume *Checkpoint
	// OnRound is called after every round; an error stops training.
	OnRound func(cp *Checkpoint) error
}

// histBin sums the gradients and hessians of a bin's rows.
type histBin struct{ g, h float64 }

// hist is a node's histograms: 256 bins per feature.
type hist [][256]histBin

// split is a node's best split.
type split struct {
	gain        float64
	feature     int
	bin         int
	defaultLeft bool
	// gl and hl are the left child's gradient and hessian sums.
	gl, hl float64
}

// leaf is a growing node: its rows are rows[begin:end].
type leaf struct {
	node       int32 // index in the tree
	depth      int
	begin, end int
	g, h       float64
	hist       hist
	best       split
}

type trainer struct {
	p       Params
	threads int
	n, nf   int
	k       int
	cuts    [][]float32
	bins    [][]uint8 // column-major: bins[f][row]
	nbins   []int
	labels  []float32
	score   []float64 // margins, row-major: n*k
	grad    []float32
	hess    []float32
	rows    []int32 // row ids, partitioned into the leaves' segments
	tmp     []int32
	og, oh  []float32 // gradients gathered in a leaf's row order
	active  []int     // features this tree may split on
	free    []hist
	splits  []split // findSplits' scratch
}

// Train grows a model on d.
func Train(ctx context.Context, d *ml.Dataset, p Params, o Options) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := d.Validate(p.Task, p.NumClass); err != nil {
		return nil, err
	}
	if d.Labels == nil {
		return nil, errors.New("gbdt: training data has no labels")
	}
	if o.Valid != nil {
		if err := o.Valid.Validate(p.Task, p.NumClass); err != nil {
			return nil, fmt.Errorf("validation set: %w", err)
		}
		if len(o.Valid.Features) != len(d.Features) || o.Valid.Labels == nil {
			return nil, errors.New("gbdt: validation set needs the training features and labels")
		}
	}
	t := newTrainer(d, p)
	m := &Model{Task: p.Task, NumClass: p.NumClass, NumFeatures: t.nf}
	if p.Task != ml.Multiclass {
		m.NumClass = 0
	}
	best := struct {
		round int
		loss  float64
		since int
	}{0, math.Inf(1), 0}
	start := 0
	if cp := o.Resume; cp != nil {
		if cp.Params != p {
			return nil, errors.New("gbdt: checkpoint was taken with other parameters")
		}
		m.BaseScore = slices.Clone(cp.BaseScore)
		m.Trees = slices.Clone(cp.Trees)
		start = cp.Round
		best.round, best.loss, best.since = cp.BestRound, cp.BestLoss, cp.SinceBest
	} else {
		m.BaseScore = baseScore(d.Labels, p)
	}
	for i := range t.n {
		copy(t.score[i*t.k:(i+1)*t.k], m.BaseScore)
	}
	cols := columns(d)
	addTrees(cols, m.Trees, t.k, t.score)

	var valid *validation
	if o.Valid != nil {
		valid = newValidation(o.Valid, m, t.k)
	}
	for round := start; round < p.Trees; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for j := range t.k {
			tree := t.grow(round, j)
			m.Trees = append(m.Trees, tree)
		}
		if valid != nil {
			loss := valid.add(m.Trees[len(m.Trees)-t.k:], p)
			if loss < best.loss-1e-12 {
				best.round, best.loss, best.since = round+1, loss, 0
			} else {
				best.since++
			}
		} else {
			best.round = round + 1
		}
		if o.OnRound != nil {
			cp := &Checkpoint{Params: p, Round: round + 1, BaseScore: m.BaseScore, Trees: m.Trees[:len(m.Trees):len(m.Trees)],
				BestRound: best.round, BestLoss: best.loss, SinceBest: best.since}
			if err := o.OnRound(cp); err != nil {
				return nil, err
			}
		}
		if p.EarlyStoppingRounds > 0 && valid != nil && best.since >= p.EarlyStoppingRounds {
			break
		}
	}
	if p.EarlyStoppingRounds > 0 && valid != nil {
		m.Trees = m.Trees[:best.round*t.k]
	}
	m.BestRound = len(m.Trees) / t.k
	return m, nil
}

func columns(d *ml.Dataset) [][]float32 {
	cols := make([][]float32, len(d.Features))
	for f := range d.Features {
		cols[f] = d.Features[f].Values
	}
	return cols
}

// baseScore starts from the label mean (its logit for binary, the class
// log-frequencies for multiclass), which converges faster than zero.
func baseScore(labels []float32, p Params) []float64 {
	n := float64(len(labels))
	switch p.Task {
	case ml.Binary:
		var pos float64
		for _, l := range labels {
			pos += float64(l)
		}
		q := math.Min(math.Max(pos/n, 1e-6), 1-1e-6)
		return []float64{math.Log(q / (1 - q))}
	case ml.Multiclass:
		counts := make([]float64, p.NumClass)
		for _, l := range labels {
			counts[int(l)]++
		}
		out := make([]float64, p.NumClass)
		for c := range out {
			out[c] = math.Log(math.Max(counts[c]/n, 1e-6))
		}
		return out
	default:
		var sum float64
		for _, l := range labels {
			sum += float64(l)
		}
		return []float64{sum / n}
	}
}

// addTrees adds the trees' outputs to the margins, tree by tree in order,
// as training does, so a resumed run holds bit-identical margins.
func addTrees(cols [][]float32, trees []Tree, k int, score []float64) {
	if len(trees) == 0 || len(cols) == 0 {
		return
	}
	n := len(cols[0])
	nf := len(cols)
	parallelFor((n+predictBlock-1)/predictBlock, 0, func(b int) {
		lo, hi := b*predictBlock, min((b+1)*predictBlock, n)
		rows := make([]float32, (hi-lo)*nf)
		for f := range nf {
			for r, v := range cols[f][lo:hi] {
				rows[r*nf+f] = v
			}
		}
		for ti := range trees {
			j := ti % k
			for r := 0; r < hi-lo; r++ {
				score[(lo+r)*k+j] += trees[ti].leaf(rows[r*nf : (r+1)*nf])
			}
		}
	})
}

func newTrainer(d *ml.Dataset, p Params) *trainer {
	n, nf, k := d.Rows(), len(d.Features), p.outputs()
	t := &trainer{
		p: p, threads: p.Threads, n: n, nf: nf, k: k,
		cuts: make([][]float32, nf), bins: make([][]uint8, nf), nbins: make([]int, nf),
		labels: d.Labels,
		score:  make([]float64, n*k),
		grad:   make([]float32, n), hess: make([]float32, n),
		rows: make([]int32, n), tmp: make([]int32, n),
		og: make([]float32, n), oh: make([]float32, n),
	}
	sample := sampleRows(n, p.Seed)
	// One scratch buffer per worker: the sampled values to sort.
	scratch := make(chan []float32, threadsOf(p.Threads))
	for range threadsOf(p.Threads) {
		scratch <- make([]float32, 0, min(n, binSampleRows+1024))
	}
	parallelFor(nf, p.Threads, func(f int) {
		vals := d.Features[f].Values
		s := (<-scratch)[:0]
		defer func() { scratch <- s }()
		if sample == nil {
			s = append(s, vals...)
		} else {
			for _, r := range sample {
				s = append(s, vals[r])
			}
		}
		cuts := cutsFor(s, p.MaxBins)
		b := make([]uint8, n)
		for r, v := range vals {
			b[r] = binOf(cuts, v)
		}
		t.cuts[f], t.bins[f], t.nbins[f] = cuts, b, len(cuts)+1
	})
	return t
}

// gradients fills grad and hess for output j from the current margins.
func (t *trainer) gradients(j int) {
	k := t.k
	parallelFor((t.n+8191)/8192, t.threads, func(b int) {
		lo, hi := b*8192, min((b+1)*8192, t.n)
		switch t.p.Task {
		case ml.Binary:
			for i := lo; i < hi; i++ {
				pr := ml.Sigmoid(t.score[i])
				t.grad[i] = float32(pr - float64(t.labels[i]))
				t.hess[i] = float32(math.Max(pr*(1-pr), 1e-16))
			}
		case ml.Regression:
			for i := lo; i < hi; i++ {
				t.grad[i] = float32(t.score[i] - float64(t.labels[i]))
				t.hess[i] = 1
			}
		case ml.Multiclass:
			var buf [64]float64
			probs := buf[:0]
			if k > len(buf) {
				probs = make([]float64, k)
			}
			probs = probs[:k]
			for i := lo; i < hi; i++ {
				copy(probs, t.score[i*k:(i+1)*k])
				ml.Softmax(probs)
				pr := probs[j]
				y := 0.0
				if int(t.labels[i]) == j {
					y = 1
				}
				t.grad[i] = float32(pr - y)
				t.hess[i] = float32(math.Max(2*pr*(1-pr), 1e-16))
			}
		}
	})
}

// rng returns the random source of one tree: seeded by round and output, so
// a resumed run draws the same samples.
func (t *trainer) rng(round, j int) *rand.Rand {
	return rand.New(rand.NewPCG(t.p.Seed, uint64(round)<<16|uint64(j)))
}

// grow builds the tree of output j in a round and adds it to the margins.
func (t *trainer) grow(round, j int) Tree {
	t.gradients(j)
	rng := t.rng(round, j)
	nrows := t.n
	if t.p.Subsample < 1 {
		nrows = 0
		for i := range t.n {
			if rng.Float64() < t.p.Subsample {
				t.rows[nrows] = int32(i)
				nrows++
			}
		}
	} else {
		for i := range t.n {
			t.rows[i] = int32(i)
		}
	}
	t.active = t.active[:0]
	for f := range t.nf {
		t.active = append(t.active, f)
	}
	if t.p.Colsample < 1 {
		rng.Shuffle(len(t.active), func(a, b int) { t.active[a], t.active[b] = t.active[b], t.active[a] })
		keep := max(1, int(math.Round(t.p.Colsample*float64(t.nf))))
		t.active = t.active[:keep]
		slices.Sort(t.active)
	}

	tree := Tree{Nodes: []Node{{Feature: -1}}}
	root := &leaf{node: 0, begin: 0, end: nrows}
	for i := range nrows {
		r := t.rows[i]
		root.g += float64(t.grad[r])
		root.h += float64(t.hess[r])
	}
	root.hist = t.newHist()
	t.buildHists([]*leaf{root}, nrows == t.n && t.p.Subsample >= 1)
	t.findSplits([]*leaf{root})

	var done []*leaf
	lossguide := t.p.MaxLeaves > 0
	frontier := []*leaf{root}
	leaves := 1
	for len(frontier) > 0 {
		// Choose the leaves to split now: a whole level depth-wise, the
		// best leaf loss-guided.
		var batch []*leaf
		if lossguide {
			h := leafHeap(frontier)
			heap.Init(&h)
			for h.Len() > 0 && leaves < t.p.MaxLeaves {
				l := heap.Pop(&h).(*leaf)
				if !t.splittable(l) {
					done = append(done, l)
					continue
				}
				batch = append(batch, l)
				break
			}
			frontier = []*leaf(h)
			if len(batch) == 0 {
				done = append(done, frontier...)
				break
			}
			leaves++
		} else {
			for _, l := range frontier {
				if t.splittable(l) {
					batch = append(batch, l)
				} else {
					done = append(done, l)
				}
			}
			frontier = nil
			if len(batch) == 0 {
				break
			}
		}
		children := t.split(&tree, batch)
		frontier = append(frontier, children...)
	}
	done = append(done, frontier...)

	// Leaf outputs, and the margins of the rows in each leaf.
	eta := t.p.LearningRate
	k := t.k
	for _, l := range done {
		w := -l.g / (l.h + t.p.Lambda) * eta
		tree.Nodes[l.node].Value = w
		tree.Nodes[l.node].Cover = l.h
		if t.p.Subsample >= 1 {
			for _, r := range t.rows[l.begin:l.end] {
				t.score[int(r)*k+j] += w
			}
		}
		t.release(l)
	}
	if t.p.Subsample < 1 {
		// Rows outside the sample are in no leaf: walk the tree by bins.
		parallelFor((t.n+8191)/8192, t.threads, func(b int) {
			for r := b * 8192; r < min((b+1)*8192, t.n); r++ {
				t.score[r*k+j] += t.leafByBins(&tree, r)
			}
		})
	}
	return tree
}

// leafByBins walks a tree by a training row's bins: bin b holds values in
// [cuts[b-1], cuts[b]), so "x < threshold" is "cuts[b] <= threshold".
func (t *trainer) leafByBins(tree *Tree, r int) float64 {
	i := int32(0)
	for {
		n := &tree.Nodes[i]
		if n.Feature < 0 {
			return n.Value
		}
		b := t.bins[n.Feature][r]
		c := t.cuts[n.Feature]
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

func (t *trainer) splittable(l *leaf) bool {
	if t.p.MaxDepth > 0 && l.depth >= t.p.MaxDepth {
		return false
	}
	return l.best.gain > 0 && l.best.gain > t.p.MinSplitGain
}

// split splits each leaf of the batch on its best split, returning the
// children with their histograms and best splits.
func (t *trainer) split(tree *Tree, batch []*leaf) []*leaf {
	children := make([]*leaf, 0, 2*len(batch))
	type pair struct{ small, large, parent *leaf }
	pairs := make([]pair, len(batch))
	for i, l := range batch {
		s := l.best
		li, ri := int32(len(tree.Nodes)), int32(len(tree.Nodes)+1)
		thr := float32(math.Inf(1))
		if s.bin < len(t.cuts[s.feature]) {
			thr = t.cuts[s.feature][s.bin]
		}
		tree.Nodes[l.node] = Node{Feature: int32(s.feature), Left: li, Right: ri, Threshold: thr,
			DefaultLeft: s.defaultLeft, Gain: s.gain, Cover: l.h, Value: -l.g / (l.h + t.p.Lambda) * t.p.LearningRate}
		tree.Nodes = append(tree.Nodes, Node{Feature: -1}, Node{Feature: -1})
		left := &leaf{node: li, depth: l.depth + 1}
		right := &leaf{node: ri, depth: l.depth + 1}
		pairs[i] = pair{left, right, l}
		children = append(children, left, right)
	}
	// Partition each leaf's rows into its children's segments; a big leaf
	// alone is cut into chunks so every worker has rows.
	mids := make([]int, len(batch))
	if len(batch) < threadsOf(t.threads) {
		for i, l := range batch {
			mids[i] = t.partitionChunked(l.begin, l.end, l.best)
		}
	} else {
		parallelFor(len(batch), t.threads, func(i int) {
			mids[i] = t.partition(batch[i].begin, batch[i].end, batch[i].best)
		})
	}
	parallelFor(len(batch), t.threads, func(i int) {
		p := pairs[i]
		l := p.parent
		mid := mids[i]
		p.small.begin, p.small.end = l.begin, mid
		p.large.begin, p.large.end = mid, l.end
		p.small.g, p.small.h = l.best.gl, l.best.hl
		p.large.g, p.large.h = l.g-l.best.gl, l.h-l.best.hl
	})
	// Build the smaller child's histograms; the larger's are the parent's
	// minus the smaller's.
	smalls := make([]*leaf, len(pairs))
	for i := range pairs {
		if pairs[i].small.end-pairs[i].small.begin > pairs[i].large.end-pairs[i].large.begin {
			pairs[i].small, pairs[i].large = pairs[i].large, pairs[i].small
		}
		pairs[i].small.hist = t.newHist()
		smalls[i] = pairs[i].small
	}
	t.buildHists(smalls, false)
	parallelFor(len(t.active), t.threads, func(ai int) {
		f := t.active[ai]
		for _, p := range pairs {
			ph, sh := &p.parent.hist[f], &p.small.hist[f]
			for b := range ph {
				ph[b].g -= sh[b].g
				ph[b].h -= sh[b].h
			}
		}
	})
	for _, p := range pairs {
		p.large.hist = p.parent.hist
		p.parent.hist = nil
	}
	t.findSplits(children)
	return children
}

// partition reorders rows[begin:end] so the rows going left come first,
// keeping their order, and returns the first right row's position.
func (t *trainer) partition(begin, end int, s split) int {
	col := t.bins[s.feature]
	sb := uint8(min(s.bin, 254))
	allLeft := s.bin >= len(t.cuts[s.feature]) // only missing goes right
	rows, tmp := t.rows[begin:end], t.tmp[begin:end]
	nl, nr := 0, 0
	for _, r := range rows {
		b := col[r]
		var left bool
		switch {
		case b == missingBin:
			left = s.defaultLeft
		case allLeft:
			left = true
		default:
			left = b <= sb
		}
		if left {
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
func (t *trainer) partitionChunked(begin, end int, s split) int {
	workers := threadsOf(t.threads)
	if workers == 1 || end-begin < 65536 {
		return t.partition(begin, end, s)
	}
	bounds := make([]int, workers+1)
	for c := range bounds {
		bounds[c] = begin + c*(end-begin)/workers
	}
	mids := make([]int, workers)
	parallelFor(workers, workers, func(c int) {
		mids[c] = t.partition(bounds[c], bounds[c+1], s)
	})
	// Lefts then rights, each in chunk order, through tmp.
	out := begin
	for c := range workers {
		out += copy(t.tmp[out:], t.rows[bounds[c]:mids[c]])
	}
	mid := out
	for c := range workers {
		out += copy(t.tmp[out:], t.rows[mids[c]:bounds[c+1]])
	}
	copy(t.rows[begin:end], t.tmp[begin:end])
	return mid
}

func threadsOf(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

func (t *trainer) newHist() hist {
	if n := len(t.free); n > 0 {
		h := t.free[n-1]
		t.free = t.free[:n-1]
		clear(h)
		return h
	}
	return make(hist, t.nf)
}

func (t *trainer) release(l *leaf) {
	if l.hist != nil {
		t.free = append(t.free, l.hist)
		l.hist = nil
	}
}

// buildHists fills the leaves' histograms of the active features, one
// feature per task so that no two workers write one histogram.
func (t *trainer) buildHists(leaves []*leaf, identity bool) {
	// Gather each leaf's gradients in its row order: the histogram loop
	// then reads them sequentially.
	if !identity {
		parallelFor(len(leaves), t.threads, func(i int) {
			l := leaves[i]
			og, oh := t.og[l.begin:l.end], t.oh[l.begin:l.end]
			for x, r := range t.rows[l.begin:l.end] {
				og[x] = t.grad[r]
				oh[x] = t.hess[r]
			}
		})
	}
	parallelFor(len(t.active), t.threads, func(ai int) {
		f := t.active[ai]
		col := t.bins[f]
		for _, l := range leaves {
			h := &l.hist[f]
			if identity {
				histIdentity(h, col[:l.end], t.grad, t.hess)
			} else {
				histGather(h, col, t.rows[l.begin:l.end], t.og[l.begin:l.end], t.oh[l.begin:l.end])
			}
		}
	})
}

// histIdentity and histGather add gradients into a feature's bins. They
// alternate between two histograms: consecutive rows often share a bin, and
// one accumulator would make each add wait for the last.
func histIdentity(h *[256]histBin, col []uint8, g, hs []float32) {
	var h2 [256]histBin
	n := len(col)
	g, hs = g[:n], hs[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		b0, b1 := col[i], col[i+1]
		h[b0].g += float64(g[i])
		h[b0].h += float64(hs[i])
		h2[b1].g += float64(g[i+1])
		h2[b1].h += float64(hs[i+1])
	}
	for ; i < n; i++ {
		h[col[i]].g += float64(g[i])
		h[col[i]].h += float64(hs[i])
	}
	for b := range h {
		h[b].g += h2[b].g
		h[b].h += h2[b].h
	}
}

func histGather(h *[256]histBin, col []uint8, rows []int32, og, oh []float32) {
	var h2 [256]histBin
	n := len(rows)
	og, oh = og[:n], oh[:n]
	i := 0
	for ; i+1 < n; i += 2 {
		b0, b1 := col[rows[i]], col[rows[i+1]]
		h[b0].g += float64(og[i])
		h[b0].h += float64(oh[i])
		h2[b1].g += float64(og[i+1])
		h2[b1].h += float64(oh[i+1])
	}
	for ; i < n; i++ {
		b := col[rows[i]]
		h[b].g += float64(og[i])
		h[b].h += float64(oh[i])
	}
	for b := range h {
		h[b].g += h2[b].g
		h[b].h += h2[b].h
	}
}

// findSplits sets each leaf's best split over the active features.
func (t *trainer) findSplits(leaves []*leaf) {
	na := len(t.active)
	if need := len(leaves) * na; cap(t.splits) < need {
		t.splits = make([]split, need)
	}
	best := t.splits[:len(leaves)*na]
	parallelFor(na, t.threads, func(ai int) {
		f := t.active[ai]
		for i, l := range leaves {
			best[i*na+ai] = t.bestSplit(&l.hist[f], f, l.g, l.h)
		}
	})
	for i, l := range leaves {
		l.best = split{feature: -1}
		for _, s := range best[i*na : (i+1)*na] {
			// Ties go to the lower feature: the result is deterministic.
			if s.gain > l.best.gain {
				l.best = s
			}
		}
	}
}

// bestSplit scans one feature's bins. Each threshold is tried with the
// missing values on either side; the loss reduction is XGBoost's:
// GL²/(HL+λ) + GR²/(HR+λ) - G²/(H+λ).
func (t *trainer) bestSplit(h *[256]histBin, f int, g, hs float64) split {
	lambda, mcw := t.p.Lambda, t.p.MinChildWeight
	nb := t.nbins[f]
	miss := h[missingBin]
	parent := g * g / (hs + lambda)
	best := split{feature: f}
	var gl, hl float64
	try := func(gl, hl float64, b int, dl bool) {
		gr, hr := g-gl, hs-hl
		if hl < mcw || hr < mcw || hl <= 0 || hr <= 0 {
			return
		}
		gain := gl*gl/(hl+lambda) + gr*gr/(hr+lambda) - parent
		if gain > best.gain {
			best.gain, best.bin, best.defaultLeft, best.gl, best.hl = gain, b, dl, gl, hl
		}
	}
	hasMissing := miss.h > 0
	for b := 0; b < nb; b++ {
		gl += h[b].g
		hl += h[b].h
		if b < nb-1 {
			// Missing right; with no missing rows, the default direction
			// is the heavier side.
			try(gl, hl, b, !hasMissing && hl >= hs-hl)
			if hasMissing {
				try(gl+miss.g, hl+miss.h, b, true)
			}
		} else if hasMissing {
			// Every value left, missing right.
			try(gl, hl, b, false)
		}
	}
	return best
}

// leafHeap orders leaves by gain, best first, ties to the older node.
type leafHeap []*leaf

func (h leafHeap) Len() int { return len(h) }
func (h leafHeap) Less(i, j int) bool {
	if h[i].best.gain != h[j].best.gain {
		return h[i].best.gain > h[j].best.gain
	}
	return h[i].node < h[j].node
}
func (h leafHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *leafHeap) Push(x any)   { *h = append(*h, x.(*leaf)) }
func (h *leafHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// validation keeps the margins of the validation set for early stopping.
type validation struct {
	cols   [][]float32
	labels []float32
	score  []float64
	k      int
}

func newValidation(d *ml.Dataset, m *Model, k int) *validation {
	v := &validation{cols: columns(d), labels: d.Labels, k: k, score: make([]float64, d.Rows()*k)}
	for i := range d.Rows() {
		copy(v.score[i*k:(i+1)*k], m.BaseScore)
	}
	addTrees(v.cols, m.Trees, k, v.score)
	return v
}

// add adds one round's trees and returns the validation loss: log loss,
// squared error or multiclass log loss.
func (v *validation) add(trees []Tree, p Params) float64 {
	addTrees(v.cols, trees, v.k, v.score)
	var loss float64
	k := v.k
	probs := make([]float64, k)
	for i, l := range v.labels {
		switch p.Task {
		case ml.Binary:
			q := math.Min(math.Max(ml.Sigmoid(v.score[i]), 1e-15), 1-1e-15)
			if l > 0.5 {
				loss -= math.Log(q)
			} else {
				loss -= math.Log(1 - q)
			}
		case ml.Regression:
			d := v.score[i] - float64(l)
			loss += d * d
		case ml.Multiclass:
			copy(probs, v.score[i*k:(i+1)*k])
			ml.Softmax(probs)
			loss -= math.Log(math.Max(probs[int(l)], 1e-15))
		}
	}
	return loss / float64(len(v.labels))
}
