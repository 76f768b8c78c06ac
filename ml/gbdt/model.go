// Package gbdt trains and applies histogram gradient-boosted decision trees:
// binary logloss, squared error and softmax objectives, missing values with
// learned default directions, depth-wise or leaf-wise growth, early stopping
// and resumable checkpoints.
package gbdt

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/sluice-ml/sluice/ml"
)

// Node is one tree node. A leaf has Feature -1 and its output in Value.
// Rows with x[Feature] < Threshold go Left; missing values go Left when
// DefaultLeft is set. A Categorical node sends a row Left when its
// category's bin (Model.CategoryBins) is in LeftBins; the missing bin's
// bit agrees with DefaultLeft.
//
// A Categorical node may instead test the category code itself, as
// XGBoost does: RightCodes is then a bit set of the codes that go Right;
// every other code goes Left, and a missing value (or one that is not a
// whole non-negative number) by DefaultLeft. Imported models use it for
// features whose splits tell more categories apart than there are bins;
// such a feature has no CategoryBins, and every split on it is by code.
type Node struct {
	Feature     int32
	Left        int32
	Right       int32
	Threshold   float32
	DefaultLeft bool
	Categorical bool
	LeftBins    BinSet
	RightCodes  []uint64
	// Value is the leaf's output (learning rate applied) or, for an inner
	// node, the output it would have had as a leaf.
	Value float64
	// Gain is the split's loss reduction; Cover the hessian sum of its rows.
	Gain  float64
	Cover float64
}

// Tree is a binary tree; Nodes[0] is the root and children follow parents.
type Tree struct {
	Nodes []Node
}

// Model is a trained ensemble.
type Model struct {
	Task     ml.Task
	NumClass int // classes for multiclass, else 1 output
	// BaseScore is the starting margin of each output.
	BaseScore []float64
	// Trees are round-major: round r, output k is Trees[r*outputs+k].
	Trees       []Tree
	NumFeatures int
	// BestRound is the last round kept by early stopping (all when none).
	BestRound int
	// CategoryBins maps each categorical feature's category codes to the
	// bins its splits name (nil for numeric features, and all nil for a
	// model with no categorical features).
	CategoryBins [][]uint8

	once     sync.Once
	compiled []flatTree
	// categorical is set when a node splits by category: prediction then
	// walks catTrees, which test a bin set (or a code set) at such nodes.
	// byCode marks the features split by RightCodes.
	categorical bool
	catTrees    []catTree
	byCode      []bool
}

// Compiled trees read features from a scratch layout that holds each value
// twice: copy 0 with missing values as +Inf, copy 1 with them as -Inf. A
// node whose missing values go right reads copy 0 and one whose go left
// reads copy 1, so "x >= threshold" alone decides every row, missing ones
// included, with no branch. (Validate rules out NaN and -Inf thresholds,
// the only ones where this would differ.)
//
// Groups of eight rows are interleaved: feature f, copy c, lane u sits at
// byte f*64 + c*32 + u*4 of the group. A single row sits at f*8 + c*4.

// flatNode is a node laid out for branch-free walks: the next node is
// left+1 when the row goes right. A leaf points at itself with a NaN
// threshold, so extra steps stay on it.
type flatNode struct {
	groupOff  int32 // byte offset of this node's value in a group of eight
	left      int32
	threshold float32
	rowOff    int32 // byte offset of this node's value in a single row
}

// flatTree is a tree compiled for prediction.
type flatTree struct {
	nodes []flatNode
	// values holds each node's output (leaves only are read).
	values []float64
	depth  int
	output int
}

// compile lays the trees out for prediction, once. The model must not
// change afterwards.
func (m *Model) compile() []flatTree {
	m.once.Do(func() {
		for _, t := range m.Trees {
			for _, n := range t.Nodes {
				m.categorical = m.categorical || (n.Feature >= 0 && n.Categorical)
				if n.Feature >= 0 && n.RightCodes != nil {
					if m.byCode == nil {
						m.byCode = make([]bool, m.NumFeatures)
					}
					m.byCode[n.Feature] = true
				}
			}
		}
		if m.categorical {
			m.catTrees = compileCategorical(m.Trees, m.Outputs())
			return
		}
		k := m.Outputs()
		m.compiled = make([]flatTree, len(m.Trees))
		for ti, t := range m.Trees {
			ft := flatTree{nodes: make([]flatNode, len(t.Nodes)), values: make([]float64, len(t.Nodes)), output: ti % k}
			ft.depth = layout(t, func(me int32, n *Node, l int32) {
				if n.Feature < 0 {
					ft.nodes[me] = flatNode{left: me, threshold: float32(math.NaN())}
					ft.values[me] = n.Value
					return
				}
				c := int32(0)
				if n.DefaultLeft {
					c = 1
				}
				ft.nodes[me] = flatNode{groupOff: n.Feature*64 + c*32, left: l, threshold: n.Threshold, rowOff: n.Feature*8 + c*4}
			})
			m.compiled[ti] = ft
		}
	})
	return m.compiled
}

// layout renumbers a tree's nodes breadth first, so that each node's
// children sit side by side, and calls place with each node's new index,
// the node and its left child's new index (the right one is next). It
// returns the tree's depth.
func layout(t Tree, place func(me int32, n *Node, left int32)) int {
	order := []int32{0}
	newIdx := make([]int32, len(t.Nodes))
	depthOf := make([]int, len(t.Nodes))
	next, depth := int32(1), 0
	for q := 0; q < len(order); q++ {
		old := order[q]
		n := &t.Nodes[old]
		if n.Feature < 0 {
			place(newIdx[old], n, -1)
			continue
		}
		newIdx[n.Left], newIdx[n.Right] = next, next+1
		depthOf[n.Left], depthOf[n.Right] = depthOf[old]+1, depthOf[old]+1
		depth = max(depth, depthOf[old]+1)
		place(newIdx[old], n, next)
		next += 2
		order = append(order, n.Left, n.Right)
	}
	return depth
}

// b2i is 1 for true; the compiler turns it into a flag read, not a branch.
func b2i(b bool) int32 {
	var i int32
	if b {
		i = 1
	}
	return i
}

// putRow writes one row's features in the single-row layout.
func putRow(dst, x []float32) {
	inf, ninf := float32(math.Inf(1)), float32(math.Inf(-1))
	for f, v := range x {
		if v != v {
			dst[2*f], dst[2*f+1] = inf, ninf
		} else {
			dst[2*f], dst[2*f+1] = v, v
		}
	}
}

// leaf walks one row in the single-row layout.
func (t *flatTree) leaf(row []float32) float64 {
	p := unsafe.Pointer(unsafe.SliceData(row))
	nodes := unsafe.Pointer(unsafe.SliceData(t.nodes))
	i := int32(0)
	for range t.depth {
		i = stepRow(nodes, i, p)
	}
	return t.values[i]
}

// walk8 walks the eight rows of a group in lockstep: their steps do not
// depend on each other, so the CPU overlaps them. It reads through
// unchecked pointers: compile built the offsets from validated features,
// and the caller passes a whole group of the model's features.
func (t *flatTree) walk8(group []float32, nf int, out []float64, outOff, k int) {
	_ = group[16*nf-1]
	_ = out[outOff+7*k]
	nodes := unsafe.Pointer(unsafe.SliceData(t.nodes))
	g := unsafe.Pointer(unsafe.SliceData(group))
	var i0, i1, i2, i3, i4, i5, i6, i7 int32
	for range t.depth {
		i0 = stepLane(nodes, i0, g, 0)
		i1 = stepLane(nodes, i1, g, 1)
		i2 = stepLane(nodes, i2, g, 2)
		i3 = stepLane(nodes, i3, g, 3)
		i4 = stepLane(nodes, i4, g, 4)
		i5 = stepLane(nodes, i5, g, 5)
		i6 = stepLane(nodes, i6, g, 6)
		i7 = stepLane(nodes, i7, g, 7)
	}
	v := t.values
	out[outOff] += v[i0]
	out[outOff+k] += v[i1]
	out[outOff+2*k] += v[i2]
	out[outOff+3*k] += v[i3]
	out[outOff+4*k] += v[i4]
	out[outOff+5*k] += v[i5]
	out[outOff+6*k] += v[i6]
	out[outOff+7*k] += v[i7]
}

// stepLane is a step of lane u in a group.
func stepLane(nodes unsafe.Pointer, i int32, g unsafe.Pointer, u uintptr) int32 {
	n := (*flatNode)(unsafe.Add(nodes, uintptr(i)*unsafe.Sizeof(flatNode{})))
	v := *(*float32)(unsafe.Add(g, uintptr(n.groupOff)+u*4))
	return n.left + b2i(v >= n.threshold)
}

// stepRow is a step of a single row.
func stepRow(nodes unsafe.Pointer, i int32, row unsafe.Pointer) int32 {
	n := (*flatNode)(unsafe.Add(nodes, uintptr(i)*unsafe.Sizeof(flatNode{})))
	v := *(*float32)(unsafe.Add(row, uintptr(n.rowOff)))
	return n.left + b2i(v >= n.threshold)
}

// Outputs is the number of margins per row.
func (m *Model) Outputs() int {
	if m.Task == ml.Multiclass {
		return m.NumClass
	}
	return 1
}

// Validate checks the structure of a model read from outside (a file, an
// XGBoost import), so that prediction can never index out of range or loop.
func (m *Model) Validate() error {
	k := m.Outputs()
	if k < 1 || (m.Task == ml.Multiclass && k < 2) {
		return fmt.Errorf("gbdt: %d outputs for task %q", k, m.Task)
	}
	if len(m.BaseScore) != k {
		return fmt.Errorf("gbdt: %d base scores for %d outputs", len(m.BaseScore), k)
	}
	if len(m.Trees)%k != 0 {
		return fmt.Errorf("gbdt: %d trees is not a multiple of %d outputs", len(m.Trees), k)
	}
	if m.NumFeatures < 0 {
		return errors.New("gbdt: negative feature count")
	}
	if len(m.CategoryBins) > m.NumFeatures {
		return fmt.Errorf("gbdt: category bins for %d features of %d", len(m.CategoryBins), m.NumFeatures)
	}
	// A feature split by code is split no other way: prediction reads it
	// as a code.
	const numericSplit, byBinSplit, byCodeSplit = 1, 2, 4
	splits := make(map[int32]uint8)
	for ti, t := range m.Trees {
		if len(t.Nodes) == 0 {
			return fmt.Errorf("gbdt: tree %d is empty", ti)
		}
		// Every node but the root has exactly one parent: a tree, not a
		// graph whose walks could multiply.
		parents := make([]uint8, len(t.Nodes))
		for ni, n := range t.Nodes {
			if n.Feature >= 0 && n.Left >= 0 && n.Right >= 0 && int(n.Left) < len(t.Nodes) && int(n.Right) < len(t.Nodes) {
				if parents[n.Left]++; parents[n.Left] > 1 || n.Left == n.Right {
					return fmt.Errorf("gbdt: tree %d node %d shares child %d", ti, ni, n.Left)
				}
				if parents[n.Right]++; parents[n.Right] > 1 {
					return fmt.Errorf("gbdt: tree %d node %d shares child %d", ti, ni, n.Right)
				}
			}
		}
		for ni, n := range t.Nodes {
			if n.Feature < 0 {
				if math.IsNaN(n.Value) || math.IsInf(n.Value, 0) {
					return fmt.Errorf("gbdt: tree %d leaf %d has value %v", ti, ni, n.Value)
				}
				continue
			}
			if int(n.Feature) >= m.NumFeatures {
				return fmt.Errorf("gbdt: tree %d node %d splits on feature %d of %d", ti, ni, n.Feature, m.NumFeatures)
			}
			hasBins := int(n.Feature) < len(m.CategoryBins) && m.CategoryBins[n.Feature] != nil
			switch {
			case n.RightCodes != nil && !n.Categorical:
				return fmt.Errorf("gbdt: tree %d node %d has category codes but is not categorical", ti, ni)
			case n.RightCodes != nil && hasBins:
				return fmt.Errorf("gbdt: tree %d node %d splits feature %d by code, but it has category bins", ti, ni, n.Feature)
			case len(n.RightCodes) > maxCodeWords:
				return fmt.Errorf("gbdt: tree %d node %d has a code set of %d words, over %d", ti, ni, len(n.RightCodes), maxCodeWords)
			case n.Categorical && n.RightCodes == nil && !hasBins:
				return fmt.Errorf("gbdt: tree %d node %d splits feature %d by category, but it has no category bins", ti, ni, n.Feature)
			}
			switch {
			case n.RightCodes != nil:
				splits[n.Feature] |= byCodeSplit
			case n.Categorical:
				splits[n.Feature] |= byBinSplit
			default:
				splits[n.Feature] |= numericSplit
				if t := float64(n.Threshold); math.IsNaN(t) || math.IsInf(t, -1) {
					return fmt.Errorf("gbdt: tree %d node %d has threshold %v", ti, ni, n.Threshold)
				}
			}
			// Children after their parent: no cycles, traversal ends.
			if int(n.Left) <= ni || int(n.Right) <= ni || int(n.Left) >= len(t.Nodes) || int(n.Right) >= len(t.Nodes) {
				return fmt.Errorf("gbdt: tree %d node %d has children %d and %d", ti, ni, n.Left, n.Right)
			}
		}
	}
	for f, kinds := range splits {
		if kinds&byCodeSplit != 0 && kinds != byCodeSplit {
			return fmt.Errorf("gbdt: feature %d is split by category code and another way", f)
		}
	}
	return nil
}

// maxCodeWords bounds a node's RightCodes: 2^20 categories.
const maxCodeWords = 1 << 14

// codeMissing is the value a row holds for a feature split by code when
// its value is missing or not a code: past every code set.
const codeMissing = 1 << 24

// categoryCode is v as a category code, or codeMissing.
func categoryCode(v float32) uint32 {
	if !(v >= 0 && v < codeMissing) || v != float32(uint32(v)) {
		return codeMissing
	}
	return uint32(v)
}

// codeLeft says whether a code (categoryCode's) goes left at a node whose
// right-hand codes are right: missing by defaultLeft, else left unless
// right holds it.
func codeLeft(right []uint64, c uint32, defaultLeft bool) bool {
	switch {
	case c == codeMissing:
		return defaultLeft
	case int(c>>6) >= len(right):
		return true
	}
	return right[c>>6]>>(c&63)&1 == 0
}

// leaf returns the value of the leaf that row x reaches; catBins are the
// model's CategoryBins.
func (t *Tree) leaf(x []float32, catBins [][]uint8) float64 {
	nodes := t.Nodes
	i := int32(0)
	for {
		n := &nodes[i]
		if n.Feature < 0 {
			return n.Value
		}
		v := x[n.Feature]
		if n.RightCodes != nil {
			if codeLeft(n.RightCodes, categoryCode(v), n.DefaultLeft) {
				i = n.Left
			} else {
				i = n.Right
			}
			continue
		}
		if n.Categorical {
			if n.LeftBins.Has(catBin(catBins[n.Feature], v)) {
				i = n.Left
			} else {
				i = n.Right
			}
			continue
		}
		switch {
		case v < n.Threshold:
			i = n.Left
		case v != v: // NaN
			if n.DefaultLeft {
				i = n.Left
			} else {
				i = n.Right
			}
		default:
			i = n.Right
		}
	}
}

// PredictMargin writes the raw margins of one row (row-major features) into
// out, which must hold Outputs() values. It does not allocate.
func (m *Model) PredictMargin(x []float32, out []float64) {
	copy(out, m.BaseScore)
	trees := m.compile()
	nf := m.NumFeatures
	if len(x) < nf {
		panic(fmt.Sprintf("gbdt: row has %d features, model needs %d", len(x), nf))
	}
	if m.categorical {
		var stack [256]float32
		buf := stack[:0]
		if 2*nf > len(stack) {
			buf = make([]float32, 2*nf)
		}
		buf = buf[:2*nf]
		m.putRowCategorical(buf, func(f int) float32 { return x[f] })
		row := unsafe.Pointer(unsafe.SliceData(buf))
		for ti := range m.catTrees {
			t := &m.catTrees[ti]
			out[t.output] += t.leaf(row)
		}
		return
	}
	var stack [256]float32
	var buf []float32
	if 2*nf <= len(stack) {
		buf = stack[:2*nf]
	} else {
		buf = make([]float32, 2*nf)
	}
	putRow(buf, x[:nf])
	row := unsafe.Pointer(unsafe.SliceData(buf))
	i := 0
	// Eight trees at once: one row's walks overlap as eight rows' do.
	for ; i+8 <= len(trees); i += 8 {
		g := trees[i : i+8 : i+8]
		n0, n1, n2, n3 := unsafe.Pointer(unsafe.SliceData(g[0].nodes)), unsafe.Pointer(unsafe.SliceData(g[1].nodes)), unsafe.Pointer(unsafe.SliceData(g[2].nodes)), unsafe.Pointer(unsafe.SliceData(g[3].nodes))
		n4, n5, n6, n7 := unsafe.Pointer(unsafe.SliceData(g[4].nodes)), unsafe.Pointer(unsafe.SliceData(g[5].nodes)), unsafe.Pointer(unsafe.SliceData(g[6].nodes)), unsafe.Pointer(unsafe.SliceData(g[7].nodes))
		depth := 0
		for j := range g {
			depth = max(depth, g[j].depth)
		}
		var i0, i1, i2, i3, i4, i5, i6, i7 int32
		for range depth {
			i0 = stepRow(n0, i0, row)
			i1 = stepRow(n1, i1, row)
			i2 = stepRow(n2, i2, row)
			i3 = stepRow(n3, i3, row)
			i4 = stepRow(n4, i4, row)
			i5 = stepRow(n5, i5, row)
			i6 = stepRow(n6, i6, row)
			i7 = stepRow(n7, i7, row)
		}
		out[g[0].output] += g[0].values[i0]
		out[g[1].output] += g[1].values[i1]
		out[g[2].output] += g[2].values[i2]
		out[g[3].output] += g[3].values[i3]
		out[g[4].output] += g[4].values[i4]
		out[g[5].output] += g[5].values[i5]
		out[g[6].output] += g[6].values[i6]
		out[g[7].output] += g[7].values[i7]
	}
	for ; i < len(trees); i++ {
		t := &trees[i]
		out[t.output] += t.leaf(buf)
	}
}

// PredictRow writes one row's prediction into out: the probability of the
// positive class (binary), the value (regression) or each class's
// probability (multiclass). It does not allocate.
func (m *Model) PredictRow(x []float32, out []float64) {
	m.PredictMargin(x, out)
	m.transform(out)
}

func (m *Model) transform(out []float64) {
	switch m.Task {
	case ml.Binary:
		out[0] = ml.Sigmoid(out[0])
	case ml.Multiclass:
		ml.Softmax(out)
	}
}

// predictBlock is the number of rows scored together: their features fit
// in L1 while each tree is walked for all of them.
const predictBlock = 128

// Predict scores column-major features (cols[f][row]) with threads workers
// (0 means GOMAXPROCS) and returns row-major outputs: Outputs() per row.
func (m *Model) Predict(cols [][]float32, threads int) ([]float64, error) {
	if len(cols) < m.NumFeatures {
		return nil, fmt.Errorf("gbdt: model needs %d features, got %d", m.NumFeatures, len(cols))
	}
	n := 0
	if len(cols) > 0 {
		n = len(cols[0])
	}
	for f, c := range cols {
		if len(c) != n {
			return nil, fmt.Errorf("gbdt: feature %d has %d rows, want %d", f, len(c), n)
		}
	}
	k := m.Outputs()
	out := make([]float64, n*k)
	blocks := (n + predictBlock - 1) / predictBlock
	// Each worker reuses one block buffer.
	bufs := sync.Pool{New: func() any {
		b := make([]float32, 2*predictBlock*m.NumFeatures)
		return &b
	}}
	parallelFor(blocks, threads, func(b int) {
		lo := b * predictBlock
		hi := min(lo+predictBlock, n)
		buf := bufs.Get().(*[]float32)
		m.predictRange(cols, lo, hi, out, *buf)
		bufs.Put(buf)
	})
	return out, nil
}

// predictRange scores rows [lo, hi) into out, using buf (2 × predictBlock ×
// NumFeatures values) as scratch.
func (m *Model) predictRange(cols [][]float32, lo, hi int, out []float64, buf []float32) {
	k := len(m.BaseScore)
	nf := m.NumFeatures
	if m.compile(); m.categorical {
		m.predictRangeByNodes(cols, lo, hi, out, buf)
		return
	}
	nr := hi - lo
	full := nr / 8 * 8
	// Groups of eight rows for walk8, then the rest one row each; every
	// value twice, as compile's layout wants.
	buf = buf[:2*nr*nf]
	inf, ninf := float32(math.Inf(1)), float32(math.Inf(-1))
	for f := range nf {
		c := cols[f][lo:hi]
		for r := range full {
			o := (r/8)*16*nf + f*16 + r%8
			if v := c[r]; v != v {
				buf[o], buf[o+8] = inf, ninf
			} else {
				buf[o], buf[o+8] = v, v
			}
		}
		for r := full; r < nr; r++ {
			o := full*2*nf + (r-full)*2*nf + 2*f
			if v := c[r]; v != v {
				buf[o], buf[o+1] = inf, ninf
			} else {
				buf[o], buf[o+1] = v, v
			}
		}
	}
	for r := lo; r < hi; r++ {
		copy(out[r*k:(r+1)*k], m.BaseScore)
	}
	trees := m.compile()
	for ti := range trees {
		t := &trees[ti]
		j := t.output
		for r := 0; r < full; r += 8 {
			t.walk8(buf[r*2*nf:(r+8)*2*nf], nf, out, (lo+r)*k+j, k)
		}
		for r := full; r < nr; r++ {
			o := full*2*nf + (r-full)*2*nf
			out[(lo+r)*k+j] += t.leaf(buf[o : o+2*nf])
		}
	}
	for r := lo; r < hi; r++ {
		m.transform(out[r*k : (r+1)*k])
	}
}

// predictRangeByNodes is predictRange for models with categorical splits:
// the block's rows in the single-row layout (categories as bins), then
// each tree for every row.
func (m *Model) predictRangeByNodes(cols [][]float32, lo, hi int, out []float64, buf []float32) {
	k := len(m.BaseScore)
	nf := m.NumFeatures
	nr := hi - lo
	buf = buf[:2*nr*nf]
	for r := range nr {
		m.putRowCategorical(buf[2*r*nf:2*(r+1)*nf], func(f int) float32 { return cols[f][lo+r] })
		copy(out[(lo+r)*k:(lo+r+1)*k], m.BaseScore)
	}
	base := unsafe.Pointer(unsafe.SliceData(buf))
	for ti := range m.catTrees {
		t := &m.catTrees[ti]
		for r := range nr {
			out[(lo+r)*k+t.output] += t.leaf(unsafe.Add(base, uintptr(2*r*nf)*4))
		}
	}
	for r := lo; r < hi; r++ {
		m.transform(out[r*k : (r+1)*k])
	}
}

// putRowCategorical writes a row in the single-row layout, with each
// categorical feature's bin (missing: the missing bin) in both copies.
func (m *Model) putRowCategorical(dst []float32, x func(f int) float32) {
	inf, ninf := float32(math.Inf(1)), float32(math.Inf(-1))
	for f := range len(dst) / 2 {
		v := x(f)
		switch {
		case f < len(m.CategoryBins) && m.CategoryBins[f] != nil:
			b := float32(catBin(m.CategoryBins[f], v))
			dst[2*f], dst[2*f+1] = b, b
		case m.byCode != nil && m.byCode[f]:
			c := float32(categoryCode(v))
			dst[2*f], dst[2*f+1] = c, c
		case v != v:
			dst[2*f], dst[2*f+1] = inf, ninf
		default:
			dst[2*f], dst[2*f+1] = v, v
		}
	}
}

// catNode is a node of a model with categorical splits, laid out for
// prediction: a numeric node (set -1) steps as a flatNode does; a
// categorical one reads the row's bin and goes left when it is in
// sets[set], or (set <= -2) its code and goes left when codes[-2-set]
// says so.
type catNode struct {
	off       int32 // byte offset of the value in a single row
	left      int32
	threshold float32
	set       int32
}

// catTree is a tree of a model with categorical splits, compiled.
type catTree struct {
	nodes  []catNode
	sets   []BinSet
	codes  []codeSet
	values []float64
	depth  int
	output int
}

// codeSet is a compiled RightCodes.
type codeSet struct {
	left        []uint64
	defaultLeft bool
}

// compileCategorical lays trees out as catTrees: children side by side, a
// leaf pointing at itself.
func compileCategorical(trees []Tree, k int) []catTree {
	out := make([]catTree, len(trees))
	for ti, t := range trees {
		ct := catTree{nodes: make([]catNode, len(t.Nodes)), values: make([]float64, len(t.Nodes)), output: ti % k}
		ct.depth = layout(t, func(me int32, n *Node, l int32) {
			switch {
			case n.Feature < 0:
				ct.nodes[me] = catNode{left: me, threshold: float32(math.NaN()), set: -1}
				ct.values[me] = n.Value
			case n.RightCodes != nil:
				ct.nodes[me] = catNode{off: n.Feature * 8, left: l, set: -2 - int32(len(ct.codes))}
				ct.codes = append(ct.codes, codeSet{n.RightCodes, n.DefaultLeft})
			case n.Categorical:
				ct.nodes[me] = catNode{off: n.Feature * 8, left: l, set: int32(len(ct.sets))}
				ct.sets = append(ct.sets, n.LeftBins)
			default:
				c := int32(0)
				if n.DefaultLeft {
					c = 1
				}
				ct.nodes[me] = catNode{off: n.Feature*8 + c*4, left: l, threshold: n.Threshold, set: -1}
			}
		})
		out[ti] = ct
	}
	return out
}

// leaf walks a row in the single-row layout (putRowCategorical's).
func (t *catTree) leaf(row unsafe.Pointer) float64 {
	nodes := unsafe.Pointer(unsafe.SliceData(t.nodes))
	i := int32(0)
	for range t.depth {
		n := (*catNode)(unsafe.Add(nodes, uintptr(i)*unsafe.Sizeof(catNode{})))
		v := *(*float32)(unsafe.Add(row, uintptr(n.off)))
		if n.set < 0 {
			if n.set == -1 {
				i = n.left + b2i(v >= n.threshold)
			} else {
				c := &t.codes[-2-n.set]
				i = n.left + b2i(!codeLeft(c.left, uint32(v), c.defaultLeft))
			}
			continue
		}
		b := uint32(v) // a bin, 0 to 255
		i = n.left + 1 - int32(t.sets[n.set][b>>6]>>(b&63)&1)
	}
	return t.values[i]
}

// parallelFor runs f(0..n-1) on up to threads goroutines, handing out
// indices in order.
func parallelFor(n, threads int, f func(i int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = min(threads, n)
	if threads <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
