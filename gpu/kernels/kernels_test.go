package kernels

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/ml/gbdt"
)

// TestPTXIsCurrent: the committed PTX is what `make ptx` makes of
// kernels.cu (with clang-14; skipped where it is not installed: CI needs
// no CUDA compiler).
func TestPTXIsCurrent(t *testing.T) {
	clang, err := exec.LookPath("clang-14")
	if err != nil {
		t.Skip("clang-14 is not installed (apt-get install clang-14)")
	}
	out := filepath.Join(t.TempDir(), "kernels.ptx")
	cmd := exec.Command(clang, "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib",
		"-O3", "-S", "kernels.cu", "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang-14: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, PTX) {
		t.Error("kernels.ptx is stale: run make ptx")
	}
	for _, name := range Names {
		if !strings.Contains(string(PTX), ".visible .entry "+name+"(") {
			t.Errorf("the PTX has no kernel %s", name)
		}
	}
}

// TestExp64 is within two ulps of math.Exp where the kernels use it.
func TestExp64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200_000; i++ {
		x := rng.Float64()*80 - 40
		if i < 1000 {
			x = rng.Float64()*1400 - 700
		}
		got, want := Exp64(x), math.Exp(x)
		if math.Abs(got-want) > 2*ulp(want) {
			t.Fatalf("Exp64(%v) = %v, math.Exp %v (%.1f ulps)", x, got, want, math.Abs(got-want)/ulp(want))
		}
	}
}

func ulp(x float64) float64 { return math.Nextafter(x, math.Inf(1)) - x }

// binned makes random binned columns with missing values, gradients and
// a row order.
func binned(n, nf int, seed uint64) (bins []uint8, nbins []int32, grad, hess []float32, rows []int32) {
	rng := rand.New(rand.NewPCG(seed, 9))
	bins = make([]uint8, n*nf)
	nbins = make([]int32, nf)
	for f := range nf {
		nbins[f] = int32(2 + rng.IntN(254))
		for r := range n {
			if rng.IntN(30) == 0 {
				bins[f*n+r] = gbdt.MissingBin
			} else {
				bins[f*n+r] = uint8(rng.IntN(int(nbins[f])))
			}
		}
	}
	grad, hess = make([]float32, n), make([]float32, n)
	for r := range n {
		grad[r] = float32(rng.NormFloat64())
		hess[r] = float32(rng.Float64())
	}
	rows = make([]int32, n)
	for r := range rows {
		rows[r] = int32(r)
	}
	rng.Shuffle(n, func(a, b int) { rows[a], rows[b] = rows[b], rows[a] })
	return
}

// TestHistMatchesRowSums: the block-wise histogram equals the plain sum of
// each segment's rows, for any launch shape.
func TestHistMatchesRowSums(t *testing.T) {
	const n, nf = 5000, 7
	bins, _, grad, hess, rows := binned(n, nf, 1)
	feats := []int32{0, 2, 3, 5, 6}
	for _, d := range []Dims{{GridX: 1, GridY: 2, Block: 1}, {GridX: 3, GridY: 2, Block: 256}, {GridX: 40, GridY: 2, Block: 64}} {
		hist := make([]float64, nf*512)
		Hist(d, bins, n, feats, len(feats), rows, 700, 4100, grad, hess, hist)
		want := make([]float64, nf*512)
		for _, r := range rows[700:4100] {
			for _, f := range feats {
				b := int(bins[int(f)*n+int(r)])
				want[(int(f)*256+b)*2] += float64(grad[r])
				want[(int(f)*256+b)*2+1] += float64(hess[r])
			}
		}
		for i := range want {
			if math.Abs(hist[i]-want[i]) > 1e-9 {
				t.Fatalf("launch %+v: bin %d is %v, want %v", d, i, hist[i], want[i])
			}
		}
	}
}

// TestPartitionIsStable: count, scan and scatter equal a stable partition.
func TestPartitionIsStable(t *testing.T) {
	const n, nf = 70_000, 3
	bins, nbins, _, _, rows := binned(n, nf, 2)
	for _, tc := range []struct {
		begin, end, feature, bin int
		dl                       bool
	}{{0, n, 0, 40, false}, {123, 60_000, 1, 3, true}, {5, 6, 2, 0, true}, {1000, 1000 + Part, 2, int(nbins[2]) - 1, false}} {
		work := slices.Clone(rows)
		nb := (tc.end - tc.begin + Part - 1) / Part
		counts := make([]int32, nb+1)
		PartCount(Dims{GridX: nb, Block: Part}, bins, n, work, tc.begin, tc.end, tc.feature, tc.bin, tc.dl, counts)
		mid := make([]int32, 1)
		PartScan(counts, nb, tc.begin, mid)
		tmp := make([]int32, n)
		PartScatter(Dims{GridX: nb, Block: Part}, bins, n, work, tc.begin, tc.end, tc.feature, tc.bin, tc.dl, counts, tmp)
		s := gbdt.Split{Feature: tc.feature, Bin: tc.bin, DefaultLeft: tc.dl}
		var left, right []int32
		for _, r := range rows[tc.begin:tc.end] {
			if s.GoesLeft(bins[tc.feature*n+int(r)]) {
				left = append(left, r)
			} else {
				right = append(right, r)
			}
		}
		if int(mid[0]) != tc.begin+len(left) {
			t.Fatalf("%+v: mid %d, want %d", tc, mid[0], tc.begin+len(left))
		}
		if got, want := tmp[tc.begin:tc.end], append(left, right...); !slices.Equal(got, want) {
			t.Fatalf("%+v: the partition is not stable", tc)
		}
	}
}

// TestBestSplitIsScanSplit: the kernel's loop (kernels.cu) is
// gbdt.ScanSplit; the reference calls it per query and feature.
func TestBestSplitIsScanSplit(t *testing.T) {
	const n, nf = 3000, 4
	bins, nbins, grad, hess, rows := binned(n, nf, 3)
	feats := []int32{0, 1, 2, 3}
	hists := make([]float64, 2*nf*512)
	Hist(Dims{GridX: 4, GridY: 1, Block: 128}, bins, n, feats, nf, rows, 0, 1000, grad, hess, hists[nf*512:])
	var g, h float64
	for _, r := range rows[:1000] {
		g += float64(grad[r])
		h += float64(hess[r])
	}
	out := make([]Split, nf)
	BestSplit(Dims{GridX: 1, Block: 32}, hists, nf*512, []Query{{Slot: 1, G: g, H: h}}, feats, nf, nbins, 1, 1, out)
	for f := range nf {
		hb := make([]gbdt.HistBin, 256)
		for b := range hb {
			hb[b] = gbdt.HistBin{G: hists[nf*512+f*512+2*b], H: hists[nf*512+f*512+2*b+1]}
		}
		want := gbdt.ScanSplit((*[256]gbdt.HistBin)(hb), f, int(nbins[f]), g, h, 1, 1)
		if got := out[f]; int(got.Feature) != f || got.Gain != want.Gain || int(got.Bin) != want.Bin || (got.DefaultLeft != 0) != want.DefaultLeft {
			t.Errorf("feature %d: %+v, want %+v", f, got, want)
		}
		if want.Gain <= 0 {
			t.Errorf("feature %d: no split found", f)
		}
	}
}
