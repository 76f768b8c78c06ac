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

// ErrCheckpointMismatch is Train's answer to a checkpoint taken with other
// parameters (by a release with other defaults, say): it cannot resume.
var ErrCheckpointMismatch = errors.New("gbdt: checkpoint was taken with other parameters")

// Options are the optional inputs of Train.
type Options struct {
	// Valid is the validation set for early stopping and its loss.
	Valid *ml.Dataset
	// Resume continues from a checkpoint taken with the same data and
	// parameters.
	Resume *Checkpoint
	// OnRound is called after every round; an error stops training.
	OnRound func(cp *Checkpoint) error
	// Engine does the row-level work; nil is the CPU engine. Train closes
	// it.
	Engine Engine
}

// leaf is a growing node: its rows are the engine's segment seg, its
// histograms in slot (-1: none).
type leaf struct {
	node  int32 // index in the tree
	depth int
	seg   Segment
	g, h  float64
	slot  int
	best  Split
}

type trainer struct {
	p     Params
	n, nf int
	k     int
	cuts  [][]float32
	bins  [][]uint8 // column-major: bins[f][row]
	// catBins maps each categorical feature's codes to bins (nil for a
	// numeric feature); catNB is the bins it uses.
	catBins [][]uint8
	catNB   []int
	score   []float64 // the starting margins, row-major: n*k
	active  []int     // features this tree may split on
	eng     Engine
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
	eng := o.Engine
	if eng == nil {
		eng = NewCPUEngine()
	}
	defer eng.Close()
	t := newTrainer(d, p)
	t.eng = eng
	m := &Model{Task: p.Task, NumClass: p.NumClass, NumFeatures: t.nf}
	if slices.ContainsFunc(t.catBins, func(b []uint8) bool { return b != nil }) {
		m.CategoryBins = t.catBins
	}
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
			return nil, ErrCheckpointMismatch
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
	addTrees(cols, m.CategoryBins, m.Trees, t.k, t.score)
	categorical := make([]bool, t.nf)
	for f := range categorical {
		categorical[f] = t.catBins[f] != nil
	}
	if err := eng.Load(Data{Bins: t.bins, Cuts: t.cuts, Labels: d.Labels, Score: t.score, Task: p.Task, K: t.k,
		Lambda: p.Lambda, MinChildWeight: p.MinChildWeight, Threads: p.Threads, Quantize: p.QuantizedGradients,
		Categorical: categorical, CatBins: t.catNB, Cat: p.catParams()}); err != nil {
		return nil, fmt.Errorf("gbdt: loading the training data: %w", err)
	}

	var valid *validation
	if o.Valid != nil {
		valid = newValidation(o.Valid, m, t.k)
	}
	for round := start; round < p.Trees; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for j := range t.k {
			tree, err := t.grow(round, j)
			if err != nil {
				return nil, fmt.Errorf("gbdt: round %d: %w", round+1, err)
			}
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
func addTrees(cols [][]float32, catBins [][]uint8, trees []Tree, k int, score []float64) {
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
				score[(lo+r)*k+j] += trees[ti].leaf(rows[r*nf:(r+1)*nf], catBins)
			}
		}
	})
}

func newTrainer(d *ml.Dataset, p Params) *trainer {
	n, nf, k := d.Rows(), len(d.Features), p.outputs()
	t := &trainer{
		p: p, n: n, nf: nf, k: k,
		cuts: make([][]float32, nf), bins: make([][]uint8, nf),
		catBins: make([][]uint8, nf), catNB: make([]int, nf),
		score: make([]float64, n*k),
	}
	sample := sampleRows(n, p.Seed)
	// One scratch buffer per worker: the sampled values to sort.
	scratch := make(chan []float32, threadsOf(p.Threads))
	for range threadsOf(p.Threads) {
		scratch <- make([]float32, 0, min(n, binSampleRows+1024))
	}
	parallelFor(nf, p.Threads, func(f int) {
		vals := d.Features[f].Values
		if d.Features[f].Kind == ml.Categorical {
			codeBin, nb := categoryBins(vals, len(d.Features[f].Categories), p.MaxBins)
			b := make([]uint8, n)
			for r, v := range vals {
				b[r] = catBin(codeBin, v)
			}
			t.catBins[f], t.catNB[f], t.bins[f] = codeBin, nb, b
			return
		}
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
		bn := newBinner(cuts)
		b := make([]uint8, n)
		for r, v := range vals {
			b[r] = bn.bin(v)
		}
		t.cuts[f], t.bins[f] = cuts, b
	})
	return t
}

// rng returns the random source of one tree: seeded by round and output, so
// a resumed run draws the same samples.
func (t *trainer) rng(round, j int) *rand.Rand {
	return rand.New(rand.NewPCG(t.p.Seed, uint64(round)<<16|uint64(j)))
}

// grow builds the tree of output j in a round and adds it to the margins.
func (t *trainer) grow(round, j int) (Tree, error) {
	eng := t.eng
	if err := eng.Gradients(j); err != nil {
		return Tree{}, err
	}
	rng := t.rng(round, j)
	nrows := t.n
	var rows []int32
	if t.p.Subsample < 1 {
		rows = make([]int32, 0, int(float64(t.n)*t.p.Subsample)+16)
		for i := range t.n {
			if rng.Float64() < t.p.Subsample {
				rows = append(rows, int32(i))
			}
		}
		nrows = len(rows)
	}
	if err := eng.SetRows(rows); err != nil {
		return Tree{}, err
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
	if err := eng.SetFeatures(t.active); err != nil {
		return Tree{}, err
	}

	tree := Tree{Nodes: []Node{{Feature: -1}}}
	root := &leaf{node: 0, seg: Segment{0, nrows}, slot: -1}
	slots, err := eng.Histograms([]Segment{root.seg})
	if err != nil {
		return Tree{}, err
	}
	root.slot = slots[0]
	if root.g, root.h, err = eng.Sums(root.slot, root.seg); err != nil {
		return Tree{}, err
	}
	if err := t.findSplits([]*leaf{root}); err != nil {
		return Tree{}, err
	}

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
				break // the frontier is done; it joins done below, once
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
		children, err := t.split(&tree, batch)
		if err != nil {
			return Tree{}, err
		}
		frontier = append(frontier, children...)
	}
	done = append(done, frontier...)

	// Leaf outputs, and the margins of the rows in each leaf.
	eta := t.p.LearningRate
	segs := make([]Segment, len(done))
	values := make([]float64, len(done))
	for i, l := range done {
		segs[i] = l.seg
	}
	for i, l := range done {
		w := -l.g / (l.h + t.p.Lambda) * eta
		tree.Nodes[l.node].Value = w
		tree.Nodes[l.node].Cover = l.h
		values[i] = w
		eng.Release(l.slot)
	}
	if err := eng.AddTree(&tree, j, segs, values); err != nil {
		return Tree{}, err
	}
	return tree, nil
}

func (t *trainer) splittable(l *leaf) bool {
	if t.p.MaxDepth > 0 && l.depth >= t.p.MaxDepth {
		return false
	}
	return l.best.Gain > 0 && l.best.Gain > t.p.MinSplitGain
}

// split splits each leaf of the batch on its best split, returning the
// children with their histograms and best splits.
func (t *trainer) split(tree *Tree, batch []*leaf) ([]*leaf, error) {
	children := make([]*leaf, 0, 2*len(batch))
	type pair struct{ small, large, parent *leaf }
	pairs := make([]pair, len(batch))
	segs := make([]Segment, len(batch))
	splits := make([]Split, len(batch))
	for i, l := range batch {
		s := l.best
		li, ri := int32(len(tree.Nodes)), int32(len(tree.Nodes)+1)
		thr := float32(math.Inf(1))
		if s.Categorical {
			thr = 0
		} else if s.Bin < len(t.cuts[s.Feature]) {
			thr = t.cuts[s.Feature][s.Bin]
		}
		tree.Nodes[l.node] = Node{Feature: int32(s.Feature), Left: li, Right: ri, Threshold: thr,
			DefaultLeft: s.DefaultLeft, Gain: s.Gain, Cover: l.h, Value: -l.g / (l.h + t.p.Lambda) * t.p.LearningRate,
			Categorical: s.Categorical, LeftBins: s.Left}
		tree.Nodes = append(tree.Nodes, Node{Feature: -1}, Node{Feature: -1})
		left := &leaf{node: li, depth: l.depth + 1, slot: -1}
		right := &leaf{node: ri, depth: l.depth + 1, slot: -1}
		pairs[i] = pair{left, right, l}
		children = append(children, left, right)
		segs[i], splits[i] = l.seg, s
	}
	mids, err := t.eng.Partition(segs, splits)
	if err != nil {
		return nil, err
	}
	for i, p := range pairs {
		l := p.parent
		p.small.seg = Segment{l.seg.Begin, mids[i]}
		p.large.seg = Segment{mids[i], l.seg.End}
		p.small.g, p.small.h = l.best.GL, l.best.HL
		p.large.g, p.large.h = l.g-l.best.GL, l.h-l.best.HL
	}
	// Children at the depth limit are leaves: they need no histograms.
	if t.p.MaxDepth > 0 && batch[0].depth+1 >= t.p.MaxDepth {
		for _, p := range pairs {
			t.eng.Release(p.parent.slot)
			p.parent.slot = -1
		}
		return children, nil
	}
	// Build the smaller child's histograms; the larger's are the parent's
	// minus the smaller's.
	small := make([]Segment, len(pairs))
	for i := range pairs {
		if pairs[i].small.seg.Len() > pairs[i].large.seg.Len() {
			pairs[i].small, pairs[i].large = pairs[i].large, pairs[i].small
		}
		small[i] = pairs[i].small.seg
	}
	slots, err := t.eng.Histograms(small)
	if err != nil {
		return nil, err
	}
	sub := make([][2]int, len(pairs))
	for i, p := range pairs {
		p.small.slot = slots[i]
		sub[i] = [2]int{p.parent.slot, p.small.slot}
	}
	if err := t.eng.Subtract(sub); err != nil {
		return nil, err
	}
	for _, p := range pairs {
		p.large.slot, p.parent.slot = p.parent.slot, -1
	}
	if err := t.findSplits(children); err != nil {
		return nil, err
	}
	return children, nil
}

func threadsOf(n int) int {
	if n <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return n
}

// findSplits sets each leaf's best split over the active features.
func (t *trainer) findSplits(leaves []*leaf) error {
	qs := make([]Query, len(leaves))
	for i, l := range leaves {
		qs[i] = Query{Slot: l.slot, G: l.g, H: l.h}
	}
	best, err := t.eng.BestSplits(qs)
	if err != nil {
		return err
	}
	for i, l := range leaves {
		l.best = best[i]
	}
	return nil
}

// leafHeap orders leaves by gain, best first, ties to the older node.
type leafHeap []*leaf

func (h leafHeap) Len() int { return len(h) }
func (h leafHeap) Less(i, j int) bool {
	if h[i].best.Gain != h[j].best.Gain {
		return h[i].best.Gain > h[j].best.Gain
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
	cols    [][]float32
	catBins [][]uint8
	labels  []float32
	score   []float64
	k       int
}

func newValidation(d *ml.Dataset, m *Model, k int) *validation {
	v := &validation{cols: columns(d), catBins: m.CategoryBins, labels: d.Labels, k: k, score: make([]float64, d.Rows()*k)}
	for i := range d.Rows() {
		copy(v.score[i*k:(i+1)*k], m.BaseScore)
	}
	addTrees(v.cols, v.catBins, m.Trees, k, v.score)
	return v
}

// add adds one round's trees and returns the validation loss: log loss,
// squared error or multiclass log loss.
func (v *validation) add(trees []Tree, p Params) float64 {
	addTrees(v.cols, v.catBins, trees, v.k, v.score)
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
