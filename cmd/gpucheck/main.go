// Command gpucheck proves the GPU trainer on a machine with NVIDIA GPUs and
// no Go toolchain (gpu/devicecheck.sh runs it): the self-test of each GPU,
// then GPU against CPU training of the same model on the 1M × 28 benchmark
// set, comparing AUC and tree structure, with timings. It is small and
// built without cgo (the driver is loaded at run time): `make gpucheck`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/sluice-ml/sluice/gpu"
	"github.com/sluice-ml/sluice/gpu/cuda"
	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/testkit/binaryset"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gpucheck:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gpucheck selftest [--gpus N] | gpucheck bench [--rows N] [--trees N] [--depth N] [--threads N] [--gpu I]")
	}
	switch args[0] {
	case "selftest":
		return selftest(args[1:], out)
	case "bench":
		return bench(args[1:], out)
	}
	return fmt.Errorf("unknown command %q (selftest, bench)", args[0])
}

// selftest opens each GPU, JITs the kernels and runs the histogram
// self-test.
func selftest(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	n := fs.Int("gpus", 0, "GPUs to test (0: all the driver sees)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	drv, err := cuda.Open("")
	if err != nil {
		return err
	}
	version, err := drv.Version()
	if err != nil {
		return err
	}
	count, err := drv.DeviceCount()
	if err != nil {
		return err
	}
	if *n == 0 {
		*n = count
	}
	if *n == 0 {
		return errors.New("the driver sees no GPU")
	}
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "driver\tCUDA %d.%d, %d GPUs\n", version/1000, version%1000/10, count)
	failed := 0
	for i := range *n {
		t0 := time.Now()
		d, err := gpu.Open(i)
		if err == nil {
			err = d.SelfTest()
			defer d.Close()
		}
		if err != nil {
			failed++
			fmt.Fprintf(w, "self-test gpu:%d\tFAILED: %v\n", i, err)
			continue
		}
		fmt.Fprintf(w, "self-test %s\tok, %.1f GiB, %.0f ms with the JIT\n", d, float64(d.Memory)/(1<<30),
			float64(time.Since(t0).Microseconds())/1000)
	}
	w.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d GPUs failed the self-test", failed, *n)
	}
	return nil
}

// split makes the benchmark set's train (80%) and test datasets.
func split(rows int) (train, test *ml.Dataset) {
	x, y := binaryset.Generate(rows, 42)
	cut := rows * 8 / 10
	part := func(lo, hi int) *ml.Dataset {
		d := &ml.Dataset{Labels: y[lo:hi]}
		for f := range binaryset.Features {
			v := make([]float32, hi-lo)
			for r := range v {
				v[r] = x[(lo+r)*binaryset.Features+f]
			}
			d.Features = append(d.Features, ml.Feature{Name: fmt.Sprintf("f%02d", f), Values: v})
		}
		return d
	}
	return part(0, cut), part(cut, rows)
}

func bench(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	rows := fs.Int("rows", 1_000_000, "rows of the benchmark set (80% train)")
	trees := fs.Int("trees", 100, "trees")
	depth := fs.Int("depth", 6, "max depth")
	threads := fs.Int("threads", 0, "CPU trainer threads (0: every core)")
	ordinal := fs.Int("gpu", 0, "GPU to train on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	train, test := split(*rows)
	p := gbdt.DefaultParams()
	p.Trees, p.MaxDepth, p.LearningRate, p.Threads = *trees, *depth, 0.1, *threads
	// The GPU grows the trees of exact gradients: so does the CPU here,
	// for a like-for-like time and tree-by-tree comparison.
	p.QuantizedGradients = false
	cols := make([][]float32, len(test.Features))
	for f := range cols {
		cols[f] = test.Features[f].Values
	}
	auc := func(m *gbdt.Model) (float64, error) {
		pred, err := m.Predict(cols, 0)
		if err != nil {
			return 0, err
		}
		return metrics.AUC(test.Labels, pred)
	}

	d, err := gpu.Open(*ordinal)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.SelfTest(); err != nil {
		return err
	}
	// GPU first: the CPU run's figures do not depend on a warm GPU.
	t0 := time.Now()
	gm, err := gbdt.Train(context.Background(), train, p, gbdt.Options{Engine: d.Engine()})
	if err != nil {
		return fmt.Errorf("GPU training: %w", err)
	}
	gpuS := time.Since(t0).Seconds()
	t0 = time.Now()
	cm, err := gbdt.Train(context.Background(), train, p, gbdt.Options{})
	if err != nil {
		return fmt.Errorf("CPU training: %w", err)
	}
	cpuS := time.Since(t0).Seconds()
	ga, err := auc(gm)
	if err != nil {
		return err
	}
	ca, err := auc(cm)
	if err != nil {
		return err
	}
	same, first := compareTrees(cm, gm)
	cpus := *threads
	if cpus == 0 {
		cpus = runtime.GOMAXPROCS(0)
	}
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(w, "model\t%d trees, depth %d, %d train / %d test rows × %d features\n", *trees, *depth,
		train.Rows(), test.Rows(), len(train.Features))
	fmt.Fprintf(w, "cpu training (%d threads)\t%.2f s\tAUC %.5f\n", cpus, cpuS, ca)
	fmt.Fprintf(w, "gpu training (%s)\t%.2f s\tAUC %.5f\n", d, gpuS, ga)
	fmt.Fprintf(w, "speed-up\t%.1f×\t(target ≥ 5×)\n", cpuS/gpuS)
	diff := math.Abs(ga - ca)
	verdict := "ok"
	if diff > 0.001 {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "AUC difference\t%.6f\t(≤ 0.001: %s)\n", diff, verdict)
	fmt.Fprintf(w, "identical trees\t%d of %d\t%s\n", same, len(cm.Trees), first)
	w.Flush()
	if diff > 0.001 {
		return fmt.Errorf("GPU AUC %.6f differs from the CPU's %.6f by more than 0.001", ga, ca)
	}
	return nil
}

// compareTrees counts the trees with the same structure (features,
// thresholds, default directions, children) and names the first node that
// differs. Histogram sums on the GPU add in another order, so a near-tie
// may split differently; from there the trees differ.
func compareTrees(a, b *gbdt.Model) (same int, first string) {
	first = "(none differ)"
	for i := range min(len(a.Trees), len(b.Trees)) {
		x, y := a.Trees[i].Nodes, b.Trees[i].Nodes
		equal := len(x) == len(y)
		for j := 0; equal && j < len(x); j++ {
			if x[j].Feature != y[j].Feature || x[j].Threshold != y[j].Threshold ||
				x[j].DefaultLeft != y[j].DefaultLeft || x[j].Left != y[j].Left {
				equal = false
				if first == "(none differ)" {
					first = fmt.Sprintf("(first difference: tree %d node %d)", i, j)
				}
			}
		}
		if !equal && first == "(none differ)" {
			first = fmt.Sprintf("(first difference: tree %d, %d vs %d nodes)", i, len(x), len(y))
		}
		if equal {
			same++
		}
	}
	return same, first
}
