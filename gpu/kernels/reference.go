// Package kernels holds Sluice's CUDA kernels (kernels.cu, compiled to the
// committed kernels.ptx by `make ptx`) and a Go reference of each: the same
// algorithm, block by block and thread by thread, on slices. The tests
// check the references against the CPU trainer; the libcuda mock runs them
// when the GPU engine launches a kernel; gpu/devicecheck.sh compares the
// real kernels with them.
package kernels

import (
	_ "embed"
	"math"
	"unsafe"

	"github.com/sluice-ml/sluice/ml/gbdt"
)

// PTX is kernels.cu compiled for sm_80, NUL-free text for
// cuModuleLoadDataEx.
//
//go:embed kernels.ptx
var PTX []byte

// Source is kernels.cu, for the tests that check the Go side's view of
// the kernels' signatures.
//
//go:embed kernels.cu
var Source string

// Names are the kernels in kernels.cu.
var Names = []string{"sluice_gradients", "sluice_iota", "sluice_hist", "sluice_subtract", "sluice_best_split",
	"sluice_part_count", "sluice_part_scan", "sluice_part_scatter", "sluice_add_tree"}

// Launch sizes, as in kernels.cu.
const (
	Group = 4    // features per histogram block
	Part  = 256  // positions per partition block
	Scan  = 1024 // threads of the scan block
)

// Dims is a launch's grid and block (x and y; z is 1).
type Dims struct{ GridX, GridY, Block int }

// Query is struct query: the best split of a histogram slot.
type Query struct {
	Slot int32
	_    int32
	G, H float64
}

// Split is struct split.
type Split struct {
	Gain, GL, HL   float64
	Feature, Bin   int32
	DefaultLeft, _ int32
}

// Node is struct node: a tree node for walking by bins.
type Node struct {
	Feature, Left, Right, Bin, DefaultLeft, _ int32
	Value                                     float64
}

// Task codes of sluice_gradients.
const (
	TaskBinary     = 0
	TaskRegression = 1
	TaskMulticlass = 2
)

// Exp64 is the kernels' exp: x = k·ln2 + r, a Taylor polynomial in r by
// Horner's rule with fused multiply-adds, scaled by 2^k.
func Exp64(x float64) float64 {
	x = math.Max(math.Min(x, 709), -708)
	const ln2hi, ln2lo = 6.93147180369123816490e-01, 1.90821492927058770002e-10
	k := math.RoundToEven(x * 1.44269504088896338700)
	r := (x - k*ln2hi) - k*ln2lo
	p := 1.0 / 6227020800.0
	for _, c := range [...]float64{1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
		1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0} {
		p = math.FMA(p, r, c)
	}
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// threads runs body for every (block x, thread) of a one-dimensional
// launch; i is the flat index and stride the grid's thread count.
func threads(d Dims, body func(i, stride int)) {
	stride := d.GridX * d.Block
	for b := 0; b < d.GridX; b++ {
		for t := 0; t < d.Block; t++ {
			body(b*d.Block+t, stride)
		}
	}
}

// Gradients is sluice_gradients.
func Gradients(d Dims, task, n, k, j int, score []float64, labels, grad, hess []float32) {
	threads(d, func(first, stride int) {
		for i := first; i < n; i += stride {
			y := float64(labels[i])
			switch task {
			case TaskBinary:
				pr := 1.0 / (1.0 + Exp64(-score[i]))
				grad[i] = float32(pr - y)
				hess[i] = float32(math.Max(pr*(1-pr), 1e-16))
			case TaskRegression:
				grad[i] = float32(score[i] - y)
				hess[i] = 1
			default:
				m := score[i*k : (i+1)*k]
				mx := m[0]
				for _, v := range m[1:] {
					mx = math.Max(mx, v)
				}
				var sum float64
				for _, v := range m {
					sum += Exp64(v - mx)
				}
				pr := Exp64(m[j]-mx) / sum
				t := 0.0
				if int(y) == j {
					t = 1
				}
				grad[i] = float32(pr - t)
				hess[i] = float32(math.Max(2*pr*(1-pr), 1e-16))
			}
		}
	})
}

// Iota is sluice_iota.
func Iota(d Dims, rows []int32, n int) {
	threads(d, func(first, stride int) {
		for i := first; i < n; i += stride {
			rows[i] = int32(i)
		}
	})
}

// Hist is sluice_hist: each block sums its rows (thread by thread, as the
// grid-stride loop visits them) into a block histogram, then adds that
// into the slot.
func Hist(d Dims, bins []uint8, n int, feats []int32, nfeat int, rows []int32, begin, end int,
	grad, hess []float32, hist []float64) {
	for by := 0; by < d.GridY; by++ {
		f0 := by * Group
		nf := min(Group, nfeat-f0)
		for bx := 0; bx < d.GridX; bx++ {
			var sh [Group * 256 * 2]float64
			for t := 0; t < d.Block; t++ {
				for pos := begin + bx*d.Block + t; pos < end; pos += d.GridX * d.Block {
					r := int(rows[pos])
					g, h := float64(grad[r]), float64(hess[r])
					for q := range nf {
						b := int(bins[int(feats[f0+q])*n+r])
						sh[(q*256+b)*2] += g
						sh[(q*256+b)*2+1] += h
					}
				}
			}
			for i := range nf * 256 {
				g, h := sh[i*2], sh[i*2+1]
				if g != 0 || h != 0 {
					at := (int(feats[f0+i/256])*256 + i%256) * 2
					hist[at] += g
					hist[at+1] += h
				}
			}
		}
	}
}

// Subtract is sluice_subtract.
func Subtract(d Dims, a, b []float64, feats []int32, nfeat int) {
	threads(d, func(first, stride int) {
		for i := first; i < nfeat*512; i += stride {
			at := int(feats[i/512])*512 + i%512
			a[at] -= b[at]
		}
	})
}

// BestSplit is sluice_best_split: gbdt.ScanSplit per (query, feature).
func BestSplit(d Dims, hists []float64, slotLen int, qs []Query, feats []int32, nfeat int, nbins []int32,
	lambda, mcw float64, out []Split) {
	for b := 0; b < d.GridX; b++ {
		q := qs[b]
		for fi := range nfeat {
			f := int(feats[fi])
			at := int(q.Slot)*slotLen + f*512
			h := (*[256]gbdt.HistBin)(unsafe.Pointer(&hists[at : at+512][0]))
			s := gbdt.ScanSplit(h, f, int(nbins[f]), q.G, q.H, lambda, mcw)
			out[b*nfeat+fi] = Split{Gain: s.Gain, GL: s.GL, HL: s.HL, Feature: int32(s.Feature), Bin: int32(s.Bin),
				DefaultLeft: b2i(s.DefaultLeft)}
		}
	}
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

func goesLeft(bins []uint8, n, r, feature, bin int, dl bool) bool {
	b := bins[feature*n+r]
	if b == gbdt.MissingBin {
		return dl
	}
	return int(b) <= bin
}

// PartCount is sluice_part_count.
func PartCount(d Dims, bins []uint8, n int, rows []int32, begin, end, feature, bin int, dl bool, counts []int32) {
	for b := 0; b < d.GridX; b++ {
		c := int32(0)
		for t := range Part {
			pos := begin + b*Part + t
			if pos < end && goesLeft(bins, n, int(rows[pos]), feature, bin, dl) {
				c++
			}
		}
		counts[b] = c
	}
}

// PartScan is sluice_part_scan: runs of counts per thread, their sums
// scanned, each run's exclusive prefixes written.
func PartScan(counts []int32, nblocks, begin int, mid []int32) {
	run := (nblocks + Scan - 1) / Scan
	var sums [Scan]int32
	for t := range Scan {
		for b := t * run; b < min(t*run+run, nblocks); b++ {
			sums[t] += counts[b]
		}
	}
	var at int32
	for t := range Scan {
		for b := t * run; b < min(t*run+run, nblocks); b++ {
			c := counts[b]
			counts[b] = at
			at += c
		}
	}
	counts[nblocks] = at
	mid[0] = int32(begin) + at
}

// PartScatter is sluice_part_scatter.
func PartScatter(d Dims, bins []uint8, n int, rows []int32, begin, end, feature, bin int, dl bool,
	offsets, tmp []int32) {
	total := int(offsets[d.GridX])
	for b := 0; b < d.GridX; b++ {
		lrank := 0
		for t := range Part {
			pos := begin + b*Part + t
			if pos >= end {
				break
			}
			r := rows[pos]
			if goesLeft(bins, n, int(r), feature, bin, dl) {
				tmp[begin+int(offsets[b])+lrank] = r
				lrank++
			} else {
				rightsBefore := b*Part - int(offsets[b])
				tmp[begin+total+rightsBefore+(t-lrank)] = r
			}
		}
	}
}

// AddTree is sluice_add_tree.
func AddTree(d Dims, bins []uint8, n int, nodes []Node, score []float64, k, j int) {
	threads(d, func(first, stride int) {
		for r := first; r < n; r += stride {
			i := 0
			for nodes[i].Feature >= 0 {
				nd := &nodes[i]
				if goesLeft(bins, n, r, int(nd.Feature), int(nd.Bin), nd.DefaultLeft != 0) {
					i = int(nd.Left)
				} else {
					i = int(nd.Right)
				}
			}
			score[r*k+j] += nodes[i].Value
		}
	})
}
