// Command mlbench measures Sluice's ML core on the data bench/gendata
// writes and prints the figures, with the reference figures of
// bench/reference.py beside them when given. MLBENCH_TRAIN_PROFILE,
// MLBENCH_PROFILE (prediction) and MLBENCH_MEM_PROFILE name pprof files
// to write.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/linear"
	"github.com/sluice-ml/sluice/ml/metrics"
	"github.com/sluice-ml/sluice/ml/trainer"
	"github.com/sluice-ml/sluice/sources"
)

const features = 28

func main() {
	dir := flag.String("data", "bench/data", "folder of the gendata files")
	refPath := flag.String("ref", "", "JSON figures of bench/reference.py")
	threads := flag.Int("threads", 2, "worker threads")
	flag.Parse()
	if err := run(*dir, *refPath, *threads); err != nil {
		fmt.Fprintln(os.Stderr, "mlbench:", err)
		os.Exit(1)
	}
}

func readF32(path string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	out := make([]float32, st.Size()/4)
	if err := binary.Read(bufio.NewReaderSize(f, 1<<20), binary.LittleEndian, out); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// load reads a row-major file into a column-major dataset.
func load(dir, name string) (*ml.Dataset, error) {
	x, err := readF32(filepath.Join(dir, name+".x.f32"))
	if err != nil {
		return nil, err
	}
	y, err := readF32(filepath.Join(dir, name+".y.f32"))
	if err != nil {
		return nil, err
	}
	n := len(y)
	d := &ml.Dataset{Labels: y}
	for f := range features {
		col := make([]float32, n)
		for r := range n {
			col[r] = x[r*features+f]
		}
		d.Features = append(d.Features, ml.Feature{Name: "f" + strconv.Itoa(f), Values: col})
	}
	return d, nil
}

func peakRSS() int64 { return statusKB("VmHWM:") }

func rss() int64 { return statusKB("VmRSS:") }

func statusKB(key string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key) {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func run(dir, refPath string, threads int) error {
	ref := map[string]any{}
	if refPath != "" {
		b, err := os.ReadFile(refPath)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			return fmt.Errorf("reading %s: %w", refPath, err)
		}
	}
	train, err := load(dir, "binary-train")
	if err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	matrixBytes := int64(train.Rows() * features * 4)
	// Reset the high-water mark: the figure is training's peak, with the
	// float32 matrix loaded, not the loader's.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting peak RSS: %w", err)
	}
	before := rss()

	if pf := os.Getenv("MLBENCH_TRAIN_PROFILE"); pf != "" {
		f, _ := os.Create(pf)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	p := gbdt.DefaultParams()
	p.Trees, p.MaxDepth, p.LearningRate, p.Threads = 100, 6, 0.1, threads
	t0 := time.Now()
	model, err := gbdt.Train(context.Background(), train, p, gbdt.Options{})
	if err != nil {
		return err
	}
	trainS := time.Since(t0).Seconds()
	if pf := os.Getenv("MLBENCH_MEM_PROFILE"); pf != "" {
		f, _ := os.Create(pf)
		runtime.GC()
		pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	peak := peakRSS()
	trainingPeak := peak - before + matrixBytes // the matrix plus what training added
	lp := linear.DefaultParams()
	lp.Threads = threads
	t0 = time.Now()
	lin, err := linear.Train(context.Background(), train, lp)
	if err != nil {
		return err
	}
	linS := time.Since(t0).Seconds()
	train = nil
	runtime.GC()

	test, err := load(dir, "binary-test")
	if err != nil {
		return err
	}
	cols := make([][]float32, features)
	for f := range cols {
		cols[f] = test.Features[f].Values
	}
	if pf := os.Getenv("MLBENCH_PROFILE"); pf != "" {
		f, _ := os.Create(pf)
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if _, err := model.Predict(cols, threads); err != nil {
		return err
	}
	// The median of 7 timed runs: this machine's timings vary run to run.
	var preds []float64
	rates := make([]float64, 7)
	for i := range rates {
		t0 := time.Now()
		preds, _ = model.Predict(cols, threads)
		rates[i] = float64(test.Rows()) / time.Since(t0).Seconds()
	}
	slices.Sort(rates)
	predictRate := rates[len(rates)/2]
	auc, err := metrics.AUC(test.Labels, preds)
	if err != nil {
		return err
	}

	linPreds, err := lin.Predict(cols, threads)
	if err != nil {
		return err
	}
	linAUC, err := metrics.AUC(test.Labels, linPreds)
	if err != nil {
		return err
	}

	row := make([]float32, features)
	out := make([]float64, 1)
	lat := make([]time.Duration, 0, 100_000)
	for r := range 100_000 {
		for f := range features {
			row[f] = cols[f][r%test.Rows()]
		}
		s := time.Now()
		model.PredictRow(row, out)
		lat = append(lat, time.Since(s))
	}
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	allocs := testingAllocs(func() { model.PredictRow(row, out) })

	num := func(k string) float64 {
		v, _ := ref[k].(float64)
		return v
	}
	ratio := func(a, b float64) string {
		if b == 0 || math.IsNaN(b) {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	fmt.Printf("| measure | Sluice | reference (%v) | ratio | target |\n|---|---|---|---|---|\n", refName(ref))
	fmt.Printf("| GBDT training, 800k × 28, 100 trees, depth 6, %d threads | %.2f s | %.2f s | %s | ≤ 1.0 |\n", threads, trainS, num("xgb_train_s"), ratio(trainS, num("xgb_train_s")))
	fmt.Printf("| test AUC (200k rows) | %.4f | %.4f | %+.4f | ≥ −0.002 |\n", auc, num("xgb_auc"), auc-num("xgb_auc"))
	fmt.Printf("| batch prediction, %d threads | %.2fM rows/s | %.2fM rows/s | %s | ≥ 1.5 |\n", threads, predictRate/1e6, num("xgb_predict_rows_per_s")/1e6, ratio(predictRate, num("xgb_predict_rows_per_s")))
	fmt.Printf("| single-row prediction p99 (%d allocs) | %.2f µs | %.0f µs (Python call) | | ≤ 5 µs |\n", allocs, float64(p99.Nanoseconds())/1e3, num("xgb_single_row_p99_us"))
	fmt.Printf("| training peak memory: matrix + what training added / float32 matrix (%d MiB) | %.2f× | | | ≤ 2× |\n", matrixBytes>>20, float64(trainingPeak)/float64(matrixBytes))
	fmt.Printf("| process peak RSS in training (runtime and libraries included) / matrix | %.2f× | %.2f× | | |\n", float64(peak)/float64(matrixBytes), num("xgb_peak_rss_bytes")/float64(matrixBytes))
	fmt.Printf("| logistic regression training (L2, C = 1) | %.2f s | %.2f s (scikit-learn %v, lbfgs) | %s | < 1.0 |\n", linS, num("sk_logreg_train_s"), ref["sklearn_version"], ratio(linS, num("sk_logreg_train_s")))
	fmt.Printf("| logistic regression test AUC | %.4f | %.4f | %+.4f | within ±0.001 |\n", linAUC, num("sk_logreg_auc"), linAUC-num("sk_logreg_auc"))
	return mixedTables(dir, ref)
}

// mixedTables trains on the small categorical tables from CSV, as `sluice
// ml train` does, and compares the test AUC with XGBoost's on one-hot
// encodings.
func mixedTables(dir string, ref map[string]any) error {
	refAUC, _ := ref["xgb_mixed_auc"].([]any)
	for i := 1; i <= 3; i++ {
		read := func(part string, cols []ml.Column) (*ml.Dataset, error) {
			// Numbers as float64 and dates as text, as `sluice ml` reads.
			recs, err := sources.ReadFile(context.Background(), filepath.Join(dir, fmt.Sprintf("mixed-%d-%s.csv", i, part)),
				sources.Options{Infer: []arrow.DataType{arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean}})
			if err != nil {
				return nil, err
			}
			defer func() {
				for _, r := range recs {
					r.Release()
				}
			}()
			return ml.FromArrow(recs, ml.ArrowOptions{Label: "y", Task: ml.Binary, Columns: cols})
		}
		train, err := read("train", nil)
		if err != nil {
			return err
		}
		test, err := read("test", trainer.Columns(train))
		if err != nil {
			return err
		}
		p := gbdt.DefaultParams()
		p.Trees, p.MaxDepth, p.LearningRate, p.Threads = 100, 4, 0.1, 2
		m, err := gbdt.Train(context.Background(), train, p, gbdt.Options{})
		if err != nil {
			return err
		}
		preds, err := m.Predict(trainer.Columns2D(test), 2)
		if err != nil {
			return err
		}
		auc, err := metrics.AUC(test.Labels, preds)
		if err != nil {
			return err
		}
		var want float64
		if i-1 < len(refAUC) {
			want, _ = refAUC[i-1].(float64)
		}
		cats := 0
		for _, f := range train.Features {
			if f.Kind == ml.Categorical {
				cats++
			}
		}
		fmt.Printf("| mixed table %d (%d rows, %d categorical + %d numeric), test AUC | %.4f | %.4f (one-hot) | %+.4f | ≥ −0.01 |\n",
			i, train.Rows(), cats, len(train.Features)-cats, auc, want, auc-want)
	}
	return nil
}

func refName(ref map[string]any) string {
	if v, ok := ref["xgboost_version"]; ok {
		return fmt.Sprintf("XGBoost %v", v)
	}
	return "none"
}

// testingAllocs counts heap allocations of f, averaged over runs.
func testingAllocs(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	for range 1000 {
		f()
	}
	runtime.ReadMemStats(&b)
	return (b.Mallocs - a.Mallocs) / 1000
}
