// Package gpu trains GBDT models on NVIDIA GPUs: a gbdt.Engine whose
// gradients, histograms, split search, row partitioning and margin updates
// run as CUDA kernels (package kernels), driven through the CUDA driver API
// without cgo (package cuda). The trainer's tree logic and the model format
// are the CPU trainer's.
package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sluice-ml/sluice/gpu/cuda"
	"github.com/sluice-ml/sluice/gpu/kernels"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
)

// Device is one GPU with the kernels loaded in its primary context. Its
// engines run one at a time (a gpu worker runs one trial per device).
type Device struct {
	ctx *cuda.Context
	mod *cuda.Module
	fns map[string]*cuda.Function
	// Name is the GPU's name; Memory its global memory in bytes.
	Name   string
	Memory uint64
}

// Open loads the driver, retains GPU ordinal's primary context and JITs the
// kernels into it.
func Open(ordinal int) (*Device, error) {
	drv, err := cuda.Open("")
	if err != nil {
		return nil, err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("gpu %d: the driver sees %d GPUs", ordinal, n)
	}
	ctx, err := drv.Retain(ordinal)
	if err != nil {
		return nil, err
	}
	d := &Device{ctx: ctx, Name: ctx.Name, Memory: ctx.Memory, fns: map[string]*cuda.Function{}}
	err = ctx.Do(func() error {
		if d.mod, err = ctx.Load(kernels.PTX); err != nil {
			return fmt.Errorf("loading the kernels: %w", err)
		}
		for _, name := range kernels.Names {
			f, err := d.mod.Function(name)
			if err != nil {
				return err
			}
			d.fns[name] = f
		}
		return nil
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("gpu %d (%s): %w", ordinal, ctx.Name, err)
	}
	return d, nil
}

// Ordinal is the device's number.
func (d *Device) Ordinal() int { return d.ctx.Ordinal() }

// String names the device for logs and trial records: "gpu:0 (NVIDIA H100)".
func (d *Device) String() string { return fmt.Sprintf("gpu:%d (%s)", d.ctx.Ordinal(), d.Name) }

// Close unloads the kernels and releases the context.
func (d *Device) Close() {
	_ = d.ctx.Do(func() error {
		if d.mod != nil {
			_ = d.mod.Unload()
		}
		return nil
	})
	_ = d.ctx.Release()
}

// Engine returns a new engine on this device for one Train.
func (d *Device) Engine() gbdt.Engine { return &engine{d: d} }

// SelfTest builds the histograms of a small known data set on the device
// and compares them with the Go reference: it proves the driver, the JIT
// and the kernels before a worker trusts the GPU with trials.
func (d *Device) SelfTest() error {
	const n, nf = 20_000, 6
	rng := rand.New(rand.NewPCG(7, 11))
	bins := make([][]uint8, nf)
	cuts := make([][]float32, nf)
	for f := range bins {
		bins[f] = make([]uint8, n)
		cuts[f] = make([]float32, 16+f*40)
		for i := range cuts[f] {
			cuts[f][i] = float32(i)
		}
		for r := range bins[f] {
			if rng.IntN(50) == 0 {
				bins[f][r] = gbdt.MissingBin
			} else {
				bins[f][r] = uint8(rng.IntN(len(cuts[f]) + 1))
			}
		}
	}
	labels := make([]float32, n)
	score := make([]float64, n)
	for r := range labels {
		labels[r] = float32(rng.IntN(2))
		score[r] = rng.NormFloat64()
	}
	e := d.Engine().(*engine)
	defer e.Close()
	if err := e.Load(gbdt.Data{Bins: bins, Cuts: cuts, Labels: labels, Score: score, Task: ml.Binary, K: 1, Lambda: 1}); err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	feats := []int{0, 1, 2, 3, 4, 5}
	if err := e.Gradients(0); err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	if err := e.SetRows(nil); err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	if err := e.SetFeatures(feats); err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	slots, err := e.Histograms([]gbdt.Segment{{Begin: 0, End: n}})
	if err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	got, err := e.slotHost(slots[0])
	if err != nil {
		return fmt.Errorf("self-test: %w", err)
	}
	// The reference, from the same gradients.
	grad, hess := make([]float32, n), make([]float32, n)
	kernels.Gradients(kernels.Dims{GridX: 1, Block: 1}, kernels.TaskBinary, n, 1, 0, score, labels, grad, hess)
	flat := make([]uint8, nf*n)
	for f := range bins {
		copy(flat[f*n:], bins[f])
	}
	rows := make([]int32, n)
	kernels.Iota(kernels.Dims{GridX: 1, Block: 1}, rows, n)
	want := make([]float64, nf*512)
	kernels.Hist(kernels.Dims{GridX: 3, GridY: 2, Block: 256}, flat, n, []int32{0, 1, 2, 3, 4, 5}, nf, rows, 0, n,
		grad, hess, want)
	for i := range want {
		if diff := math.Abs(got[i] - want[i]); diff > 1e-9*math.Max(1, math.Abs(want[i])) {
			return fmt.Errorf("self-test: histogram value %d (feature %d, bin %d) is %g on the GPU, %g on the CPU",
				i, i/512, i%512/2, got[i], want[i])
		}
	}
	return nil
}
