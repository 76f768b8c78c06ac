package gpu

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/sluice-ml/sluice/gpu/cuda"
	"github.com/sluice-ml/sluice/gpu/kernels"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
)

// ErrCategorical is Load's answer to data with categorical features: the
// kernels split numeric bins only, and such models train on the CPU.
var ErrCategorical = errors.New("gpu: categorical splits train on the CPU")

// engine is a gbdt.Engine on one GPU. Everything per row lives on the
// device: the binned columns, labels, margins, gradients, the row order and
// the histograms (an arena of slots). The host sends the split decisions
// and reads back split candidates and segment boundaries.
type engine struct {
	d       *Device
	n, nf   int
	k       int
	task    int
	lambda  float64
	mcw     float64
	cuts    [][]float32
	nactive int
	first   int // the first active feature

	bins, labels, score, grad, hess cuda.Ptr
	rows, tmp, feats, nbins, counts cuda.Ptr
	roundStart                      cuda.Ptr // multiclass: the margins at the round's start
	mids, queries, splits, nodes    cuda.Ptr
	arena                           cuda.Ptr
	slotBytes                       int
	capSlots                        int
	queriesCap, splitsCap, nodesCap int
	midsCap                         int
	used                            []bool
	allocs                          []*cuda.Ptr
}

const (
	threadsPerBlock = 256
	maxBlocks       = 4096
)

func blocksFor(n int) int { return max(1, min(maxBlocks, (n+threadsPerBlock-1)/threadsPerBlock)) }

func (e *engine) do(f func() error) error { return e.d.ctx.Do(f) }

func (e *engine) alloc(p *cuda.Ptr, size int) error {
	var err error
	if *p, err = e.d.ctx.Alloc(size); err != nil {
		return err
	}
	e.allocs = append(e.allocs, p)
	return nil
}

func (e *engine) launch(name string, grid cuda.Dim, block int, args ...any) error {
	return e.d.fns[name].Launch(grid, cuda.Dim{X: block, Y: 1, Z: 1}, 0, args...)
}

func (e *engine) Load(d gbdt.Data) error {
	e.n, e.nf, e.k = len(d.Labels), len(d.Bins), d.K
	e.lambda, e.mcw, e.cuts = d.Lambda, d.MinChildWeight, d.Cuts
	switch d.Task {
	case ml.Binary:
		e.task = kernels.TaskBinary
	case ml.Regression:
		e.task = kernels.TaskRegression
	case ml.Multiclass:
		e.task = kernels.TaskMulticlass
	default:
		return fmt.Errorf("gpu: no kernels for task %q", d.Task)
	}
	if e.n == 0 || e.nf == 0 {
		return fmt.Errorf("gpu: %d rows × %d features", e.n, e.nf)
	}
	if slices.Contains(d.Categorical, true) {
		return ErrCategorical
	}
	e.slotBytes = e.nf * 512 * 8
	return e.do(func() error {
		n, nf := e.n, e.nf
		for _, a := range []struct {
			p    *cuda.Ptr
			size int
		}{
			{&e.bins, nf * n}, {&e.labels, 4 * n}, {&e.score, 8 * n * e.k}, {&e.grad, 4 * n}, {&e.hess, 4 * n},
			{&e.rows, 4 * n}, {&e.tmp, 4 * n}, {&e.feats, 4 * nf}, {&e.nbins, 4 * nf},
			{&e.counts, 4 * ((n+kernels.Part-1)/kernels.Part + 1)},
		} {
			if err := e.alloc(a.p, a.size); err != nil {
				return err
			}
		}
		for f, col := range d.Bins {
			if err := cuda.ToDevice(e.d.ctx, e.bins+cuda.Ptr(f*n), col); err != nil {
				return err
			}
		}
		nb := make([]int32, nf)
		for f, c := range d.Cuts {
			nb[f] = int32(len(c) + 1)
		}
		if err := cuda.ToDevice(e.d.ctx, e.nbins, nb); err != nil {
			return err
		}
		if err := cuda.ToDevice(e.d.ctx, e.labels, d.Labels); err != nil {
			return err
		}
		return cuda.ToDevice(e.d.ctx, e.score, d.Score)
	})
}

func (e *engine) Close() error {
	return e.do(func() error {
		for _, p := range e.allocs {
			_ = e.d.ctx.Free(*p)
			*p = 0
		}
		e.allocs = nil
		return nil
	})
}

// Gradients reads the margins at the start of the round: with several
// outputs, a copy taken at output 0's call, as the round's trees change
// the margins.
func (e *engine) Gradients(j int) error {
	return e.do(func() error {
		margins := e.score
		if e.k > 1 {
			if e.roundStart == 0 {
				if err := e.alloc(&e.roundStart, 8*e.n*e.k); err != nil {
					return err
				}
			}
			if j == 0 {
				if err := e.d.ctx.Copy(e.roundStart, e.score, 8*e.n*e.k); err != nil {
					return err
				}
			}
			margins = e.roundStart
		}
		return e.launch("sluice_gradients", cuda.Dim{X: blocksFor(e.n), Y: 1, Z: 1}, threadsPerBlock,
			e.task, e.n, e.k, j, margins, e.labels, e.grad, e.hess)
	})
}

func (e *engine) SetRows(rows []int32) error {
	return e.do(func() error {
		if rows == nil {
			return e.launch("sluice_iota", cuda.Dim{X: blocksFor(e.n), Y: 1, Z: 1}, threadsPerBlock, e.rows, e.n)
		}
		return cuda.ToDevice(e.d.ctx, e.rows, rows)
	})
}

func (e *engine) SetFeatures(active []int) error {
	fs := make([]int32, len(active))
	for i, f := range active {
		fs[i] = int32(f)
	}
	e.nactive = len(fs)
	if len(active) > 0 {
		e.first = active[0]
	}
	return e.do(func() error { return cuda.ToDevice(e.d.ctx, e.feats, fs) })
}

// slot returns a slot's device address.
func (e *engine) slot(s int) cuda.Ptr { return e.arena + cuda.Ptr(s*e.slotBytes) }

// newSlot takes a free slot, growing the arena (by copying it into one
// twice the size) when all are used.
func (e *engine) newSlot() (int, error) {
	for s, u := range e.used {
		if !u {
			e.used[s] = true
			return s, nil
		}
	}
	grown := max(16, 2*e.capSlots)
	arena, err := e.d.ctx.Alloc(grown * e.slotBytes)
	if err != nil {
		return 0, fmt.Errorf("gpu: histogram arena of %d slots: %w", grown, err)
	}
	if e.arena != 0 {
		if err := e.d.ctx.Copy(arena, e.arena, e.capSlots*e.slotBytes); err != nil {
			return 0, err
		}
		_ = e.d.ctx.Free(e.arena)
	} else {
		e.allocs = append(e.allocs, &e.arena)
	}
	e.arena, e.capSlots = arena, grown
	s := len(e.used)
	e.used = append(e.used, make([]bool, grown-len(e.used))...)
	e.used[s] = true
	return s, nil
}

func (e *engine) Release(slot int) {
	if slot >= 0 && slot < len(e.used) {
		e.used[slot] = false
	}
}

func (e *engine) Histograms(segs []gbdt.Segment) ([]int, error) {
	slots := make([]int, len(segs))
	err := e.do(func() error {
		groups := (e.nactive + kernels.Group - 1) / kernels.Group
		for i, s := range segs {
			var err error
			if slots[i], err = e.newSlot(); err != nil {
				return err
			}
			if err := e.d.ctx.Zero(e.slot(slots[i]), e.slotBytes); err != nil {
				return err
			}
			if s.Len() == 0 {
				continue
			}
			// Enough blocks to fill the GPU; each walks its rows with a
			// grid stride, so a block's shared histogram absorbs many rows.
			bx := max(1, min(1024, (s.Len()+threadsPerBlock*8-1)/(threadsPerBlock*8)))
			if err := e.launch("sluice_hist", cuda.Dim{X: bx, Y: groups, Z: 1}, threadsPerBlock,
				e.bins, int64(e.n), e.feats, e.nactive, e.rows, s.Begin, s.End, e.grad, e.hess, e.slot(slots[i])); err != nil {
				return err
			}
		}
		return nil
	})
	return slots, err
}

// slotHost copies a slot to the host.
func (e *engine) slotHost(slot int) ([]float64, error) {
	out := make([]float64, e.nf*512)
	err := e.do(func() error { return cuda.ToHost(e.d.ctx, out, e.slot(slot)) })
	return out, err
}

// Sums adds the first active feature's bins: every row is in one of them.
func (e *engine) Sums(slot int, _ gbdt.Segment) (g, h float64, err error) {
	bins := make([]float64, 512)
	err = e.do(func() error {
		return cuda.ToHost(e.d.ctx, bins, e.slot(slot)+cuda.Ptr(e.first*512*8))
	})
	for b := 0; b < 256; b++ {
		g += bins[2*b]
		h += bins[2*b+1]
	}
	return g, h, err
}

func (e *engine) Subtract(pairs [][2]int) error {
	return e.do(func() error {
		for _, p := range pairs {
			if err := e.launch("sluice_subtract", cuda.Dim{X: blocksFor(e.nactive * 512), Y: 1, Z: 1}, threadsPerBlock,
				e.slot(p[0]), e.slot(p[1]), e.feats, e.nactive); err != nil {
				return err
			}
		}
		return nil
	})
}

// ensure grows a scratch buffer to hold size bytes.
func (e *engine) ensure(p *cuda.Ptr, capacity *int, size int) error {
	if *capacity >= size {
		return nil
	}
	if *p != 0 {
		_ = e.d.ctx.Free(*p)
	} else {
		e.allocs = append(e.allocs, p)
	}
	var err error
	size = max(size, 2**capacity)
	if *p, err = e.d.ctx.Alloc(size); err != nil {
		*capacity = 0
		return err
	}
	*capacity = size
	return nil
}

func (e *engine) BestSplits(qs []gbdt.Query) ([]gbdt.Split, error) {
	na := e.nactive
	dq := make([]kernels.Query, len(qs))
	for i, q := range qs {
		dq[i] = kernels.Query{Slot: int32(q.Slot), G: q.G, H: q.H}
	}
	per := make([]kernels.Split, len(qs)*na)
	err := e.do(func() error {
		if err := e.ensure(&e.queries, &e.queriesCap, len(dq)*int(unsafe.Sizeof(dq[0]))); err != nil {
			return err
		}
		if err := e.ensure(&e.splits, &e.splitsCap, len(per)*int(unsafe.Sizeof(per[0]))); err != nil {
			return err
		}
		if err := cuda.ToDevice(e.d.ctx, e.queries, dq); err != nil {
			return err
		}
		if err := e.launch("sluice_best_split", cuda.Dim{X: len(qs), Y: 1, Z: 1}, min(256, (na+31)/32*32),
			e.arena, int64(e.nf*512), e.queries, e.feats, na, e.nbins, e.lambda, e.mcw, e.splits); err != nil {
			return err
		}
		return cuda.ToHost(e.d.ctx, per, e.splits)
	})
	if err != nil {
		return nil, err
	}
	out := make([]gbdt.Split, len(qs))
	cand := make([]gbdt.Split, na)
	for i := range qs {
		for fi, s := range per[i*na : (i+1)*na] {
			cand[fi] = gbdt.Split{Gain: s.Gain, Feature: int(s.Feature), Bin: int(s.Bin), DefaultLeft: s.DefaultLeft != 0,
				GL: s.GL, HL: s.HL}
		}
		out[i] = gbdt.PickSplit(cand)
	}
	return out, nil
}

func (e *engine) Partition(segs []gbdt.Segment, splits []gbdt.Split) ([]int, error) {
	mids := make([]int32, len(segs))
	err := e.do(func() error {
		if err := e.ensure(&e.mids, &e.midsCap, 4*len(segs)); err != nil {
			return err
		}
		for i, s := range segs {
			sp := splits[i]
			mid := e.mids + cuda.Ptr(4*i)
			nb := (s.Len() + kernels.Part - 1) / kernels.Part
			if nb == 0 {
				if err := cuda.ToDevice(e.d.ctx, mid, []int32{int32(s.Begin)}); err != nil {
					return err
				}
				continue
			}
			dl := 0
			if sp.DefaultLeft {
				dl = 1
			}
			if err := e.launch("sluice_part_count", cuda.Dim{X: nb, Y: 1, Z: 1}, kernels.Part,
				e.bins, int64(e.n), e.rows, s.Begin, s.End, sp.Feature, sp.Bin, dl, e.counts); err != nil {
				return err
			}
			if err := e.launch("sluice_part_scan", cuda.Dim{X: 1, Y: 1, Z: 1}, kernels.Scan,
				e.counts, nb, s.Begin, mid); err != nil {
				return err
			}
			if err := e.launch("sluice_part_scatter", cuda.Dim{X: nb, Y: 1, Z: 1}, kernels.Part,
				e.bins, int64(e.n), e.rows, s.Begin, s.End, sp.Feature, sp.Bin, dl, e.counts, e.tmp); err != nil {
				return err
			}
			at := cuda.Ptr(4 * s.Begin)
			if err := e.d.ctx.Copy(e.rows+at, e.tmp+at, 4*s.Len()); err != nil {
				return err
			}
		}
		return cuda.ToHost(e.d.ctx, mids, e.mids)
	})
	out := make([]int, len(mids))
	for i, m := range mids {
		out[i] = int(m)
	}
	return out, err
}

// AddTree walks every row down the tree by its bins on the device: the
// same leaves its partitioning put each sampled row in, and the unsampled
// rows too.
func (e *engine) AddTree(tree *gbdt.Tree, j int, _ []gbdt.Segment, _ []float64) error {
	nodes := make([]kernels.Node, len(tree.Nodes))
	for i, nd := range tree.Nodes {
		dn := kernels.Node{Feature: nd.Feature, Left: nd.Left, Right: nd.Right, Value: nd.Value}
		if nd.Feature >= 0 {
			dn.Bin = int32(gbdt.SplitBin(e.cuts[nd.Feature], nd.Threshold))
			if nd.DefaultLeft {
				dn.DefaultLeft = 1
			}
		}
		nodes[i] = dn
	}
	return e.do(func() error {
		if err := e.ensure(&e.nodes, &e.nodesCap, len(nodes)*int(unsafe.Sizeof(nodes[0]))); err != nil {
			return err
		}
		if err := cuda.ToDevice(e.d.ctx, e.nodes, nodes); err != nil {
			return err
		}
		if err := e.launch("sluice_add_tree", cuda.Dim{X: blocksFor(e.n), Y: 1, Z: 1}, threadsPerBlock,
			e.bins, int64(e.n), e.nodes, e.score, e.k, j); err != nil {
			return err
		}
		// Kernel errors surface at the next synchronizing call; one per
		// tree bounds how late.
		return e.d.ctx.Synchronize()
	})
}
