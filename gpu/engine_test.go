package gpu

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/gpu/cuda"
	"github.com/sluice-ml/sluice/gpu/kernels"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/testkit/mltest"
	"github.com/sluice-ml/sluice/testkit/mockcuda"
)

func synth(n int, task ml.Task, seed uint64) *ml.Dataset { return mltest.Synth(n, task, seed) }

func openMock(t *testing.T) (*mockcuda.Mock, *Device) {
	t.Helper()
	m := mockcuda.Load(t)
	d, err := Open(0)
	if err != nil {
		t.Fatalf("opening the mock GPU: %v", err)
	}
	t.Cleanup(d.Close)
	return m, d
}

// sameTrees checks that two models have the same structure (features,
// thresholds, default directions) and leaf values within tol.
func sameTrees(t *testing.T, cpu, gpu *gbdt.Model, tol float64) {
	t.Helper()
	if len(cpu.Trees) != len(gpu.Trees) {
		t.Fatalf("%d trees on the CPU, %d on the GPU", len(cpu.Trees), len(gpu.Trees))
	}
	for i := range cpu.Trees {
		a, b := cpu.Trees[i].Nodes, gpu.Trees[i].Nodes
		if len(a) != len(b) {
			t.Fatalf("tree %d: %d nodes on the CPU, %d on the GPU", i, len(a), len(b))
		}
		for j := range a {
			x, y := a[j], b[j]
			if x.Feature != y.Feature || x.Threshold != y.Threshold || x.DefaultLeft != y.DefaultLeft ||
				x.Left != y.Left || x.Right != y.Right {
				t.Fatalf("tree %d node %d: CPU %+v, GPU %+v", i, j, x, y)
			}
			if math.Abs(x.Value-y.Value) > tol*math.Max(1, math.Abs(x.Value)) {
				t.Fatalf("tree %d node %d: value %g on the CPU, %g on the GPU", i, j, x.Value, y.Value)
			}
		}
	}
}

// TestEngineGrowsTheCPUModel trains through the whole GPU path on the mock
// driver (every kernel's Go reference runs on the launch's raw
// parameters) and compares with the CPU trainer, for each objective and
// with row and column sampling and leaf-wise growth.
func TestEngineGrowsTheCPUModel(t *testing.T) {
	m, dev := openMock(t)
	for _, tc := range []struct {
		name   string
		task   ml.Task
		adjust func(*gbdt.Params)
	}{
		{"binary", ml.Binary, nil},
		{"regression", ml.Regression, func(p *gbdt.Params) { p.MaxDepth = 4 }},
		{"multiclass", ml.Multiclass, func(p *gbdt.Params) { p.NumClass = 3; p.Trees = 6 }},
		{"sampled", ml.Binary, func(p *gbdt.Params) { p.Subsample = 0.7; p.Colsample = 0.6 }},
		{"leaf-wise", ml.Binary, func(p *gbdt.Params) { p.MaxDepth = 0; p.MaxLeaves = 24 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.Reset()
			train := synth(3000, tc.task, 1)
			p := gbdt.DefaultParams()
			// The GPU grows the trees of exact gradients.
			p.Task, p.Trees, p.Seed, p.QuantizedGradients = tc.task, 12, 9, false
			if tc.adjust != nil {
				tc.adjust(&p)
			}
			cpu, err := gbdt.Train(context.Background(), train, p, gbdt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			gpu, err := gbdt.Train(context.Background(), train, p, gbdt.Options{Engine: dev.Engine()})
			if err != nil {
				t.Fatalf("GPU training: %v (launch errors %v)", err, m.Errors())
			}
			if errs := m.Errors(); len(errs) > 0 {
				t.Fatalf("launches refused: %v", errs)
			}
			sameTrees(t, cpu, gpu, 1e-9)
			test := synth(2000, tc.task, 2)
			pc, _ := cpu.Predict(colsOf(test), 1)
			pg, _ := gpu.Predict(colsOf(test), 1)
			for i := range pc {
				if math.Abs(pc[i]-pg[i]) > 1e-9 {
					t.Fatalf("prediction %d: %g on the CPU, %g on the GPU", i, pc[i], pg[i])
				}
			}
			if tc.task == ml.Binary {
				a, _ := metrics.AUC(test.Labels, pc)
				b, _ := metrics.AUC(test.Labels, pg)
				if math.Abs(a-b) > 1e-6 || a < 0.8 {
					t.Errorf("AUC %.6f on the CPU, %.6f on the GPU", a, b)
				}
			}
			for _, k := range kernels.Names {
				if k == "sluice_iota" && p.Subsample < 1 {
					continue // sampled rows are uploaded
				}
				if m.Launch[k] == 0 {
					t.Errorf("kernel %s never ran", k)
				}
			}
			if live := m.Live(); live != 0 {
				t.Errorf("%d device allocations left after training", live)
			}
		})
	}
}

func colsOf(d *ml.Dataset) [][]float32 {
	c := make([][]float32, len(d.Features))
	for f := range c {
		c[f] = d.Features[f].Values
	}
	return c
}

// TestDriverCallSequence: open, JIT, then each kernel looked up; the
// first tree's launches in order.
func TestDriverCallSequence(t *testing.T) {
	m, dev := openMock(t)
	calls := m.Calls()
	want := []string{"cuInit", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName", "cuDeviceTotalMem_v2",
		"cuDevicePrimaryCtxRetain", "cuCtxSetCurrent", "cuModuleLoadDataEx"}
	for range kernels.Names {
		want = append(want, "cuModuleGetFunction")
	}
	if len(calls) < len(want) || !slices.Equal(calls[:len(want)], want) {
		t.Fatalf("opening called %v, want %v", calls, want)
	}
	m.Reset()
	p := gbdt.DefaultParams()
	p.Trees, p.MaxDepth = 1, 2
	if _, err := gbdt.Train(context.Background(), synth(500, ml.Binary, 3), p, gbdt.Options{Engine: dev.Engine()}); err != nil {
		t.Fatal(err)
	}
	var launches []string
	for _, c := range m.Calls() {
		if strings.HasPrefix(c, "sluice_") {
			launches = append(launches, c)
		}
	}
	// One depth-2 tree: gradients, every row, the root's histograms and
	// split, one partition, the smaller child's histograms, the larger's by
	// subtraction, the children's splits, their partitions (one per child;
	// the grandchildren are at the depth limit, so no histograms), the
	// margins.
	part := []string{"sluice_part_count", "sluice_part_scan", "sluice_part_scatter"}
	wantLaunches := slices.Concat([]string{"sluice_gradients", "sluice_iota", "sluice_hist", "sluice_best_split"},
		part, []string{"sluice_hist", "sluice_subtract", "sluice_best_split"}, part, part, []string{"sluice_add_tree"})
	if !slices.Equal(launches, wantLaunches) {
		t.Errorf("launches %v, want %v", launches, wantLaunches)
	}
	if calls := m.Calls(); calls[len(calls)-1] != "cuMemFree_v2" {
		t.Errorf("training ended with %s, want the buffers freed", calls[len(calls)-1])
	}
}

// TestModuleLoadFailureFallsBackToCPU: a JIT failure makes the GPU
// unusable; its trials train on the CPU and say so.
func TestModuleLoadFailureFallsBackToCPU(t *testing.T) {
	m := mockcuda.Load(t)
	t.Setenv("MOCKCUDA_FAIL", "cuModuleLoadDataEx")
	_, err := Open(0)
	var cerr *cuda.Error
	if !errors.As(err, &cerr) || cerr.Name != "CUDA_ERROR_INVALID_PTX" || !strings.Contains(err.Error(), "mock ptxas: fatal") {
		t.Fatalf("opening with a failing JIT: %v", err)
	}
	pool := OpenPool(1, nil)
	defer pool.Close()
	if pool.Ready() != 0 {
		t.Fatal("a GPU whose kernels do not load is ready")
	}
	var engines []gbdt.Engine
	ran, err := pool.Run(0, func(e gbdt.Engine) error { engines = append(engines, e); return nil })
	if err != nil || len(engines) != 1 || engines[0] != nil {
		t.Fatalf("ran %v with engines %v", err, engines)
	}
	if !strings.HasPrefix(ran, "cpu (gpu:0 unusable: ") || !strings.Contains(ran, "CUDA_ERROR_INVALID_PTX") {
		t.Errorf("the trial's record says %q", ran)
	}
	if live := m.Live(); live != 0 {
		t.Errorf("%d allocations left", live)
	}
}

// TestLaunchFailureMidTrainingFallsBack: a CUDA error in the middle of a
// trial sets the GPU aside and the trial trains again on the CPU, to the
// CPU's model.
func TestLaunchFailureMidTrainingFallsBack(t *testing.T) {
	mockcuda.Load(t)
	pool := OpenPool(1, nil)
	defer pool.Close()
	if pool.Ready() != 1 {
		t.Fatal("the mock GPU failed its self-test")
	}
	data := synth(2000, ml.Binary, 4)
	p := gbdt.DefaultParams()
	p.Trees = 5
	want, err := gbdt.Train(context.Background(), data, p, gbdt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MOCKCUDA_FAIL", "cuLaunchKernel@40")
	var got *gbdt.Model
	var errs []error
	ran, err := pool.Run(0, func(e gbdt.Engine) error {
		m, err := gbdt.Train(context.Background(), data, p, gbdt.Options{Engine: e})
		errs = append(errs, err)
		got = m
		return err
	})
	if err != nil {
		t.Fatalf("the CPU retry failed: %v", err)
	}
	var cerr *cuda.Error
	if len(errs) != 2 || !errors.As(errs[0], &cerr) || cerr.Name != "CUDA_ERROR_LAUNCH_FAILED" {
		t.Fatalf("attempts: %v", errs)
	}
	if !strings.HasPrefix(ran, "cpu (gpu:0 (Mock GPU 0) failed: cuLaunchKernel(") {
		t.Errorf("the trial's record says %q", ran)
	}
	sameTrees(t, want, got, 0)
	if pool.Ready() != 0 {
		t.Error("the failed GPU is still in use")
	}
	if ran, _ := pool.Run(0, func(gbdt.Engine) error { return nil }); !strings.HasPrefix(ran, "cpu (") {
		t.Errorf("the next trial ran on %q", ran)
	}
}

// TestSelfTestCatchesWrongKernels: a driver whose kernels compute the
// wrong thing fails the self-test.
func TestSelfTestCatchesWrongKernels(t *testing.T) {
	_, dev := openMock(t)
	if err := dev.SelfTest(); err != nil {
		t.Fatalf("the mock GPU fails its self-test: %v", err)
	}
	t.Setenv("MOCKCUDA_WRONG", "sluice_hist")
	if err := dev.SelfTest(); err == nil || !strings.Contains(err.Error(), "on the GPU") {
		t.Errorf("the self-test passed a histogram kernel that is one off: %v", err)
	}
	t.Setenv("MOCKCUDA_WRONG", "")
	t.Setenv("MOCKCUDA_FAIL", "cuMemsetD8_v2")
	if err := dev.SelfTest(); err == nil {
		t.Error("the self-test passed with a failing driver")
	}
}

func TestNoDriver(t *testing.T) {
	t.Setenv("SLUICE_LIBCUDA", "/nonexistent/libcuda.so.1")
	if _, err := Open(0); err == nil || !strings.Contains(err.Error(), "loading the CUDA driver") {
		t.Errorf("no driver: %v", err)
	}
	pool := OpenPool(2, nil)
	if pool.Ready() != 0 {
		t.Error("GPUs without a driver")
	}
	ran, _ := pool.Run(1, func(gbdt.Engine) error { return nil })
	if !strings.HasPrefix(ran, "cpu (gpu:1 unusable: loading the CUDA driver") {
		t.Errorf("ran %q", ran)
	}
}
