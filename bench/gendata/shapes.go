package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Shape is one of the ML benchmark's data shapes: a table of numeric and
// categorical columns with a label "y", written as <name>-train.csv (the
// first 80% of the rows) and <name>-test.csv. Rows are drawn in chunks,
// each from its own seed, so the files are the same however many cores
// write them.
type Shape struct {
	Name    string
	Rows    int
	Task    string // binary, regression or multiclass
	Classes int    // for multiclass
	// Levels are the categorical columns' level counts (columns c0, c1…,
	// written first); Numeric counts the numeric columns x0, x1….
	Levels  []int
	Numeric int
	// Digits are the significant digits a numeric value is written with.
	Digits int
	// row draws one row: numeric values (NaN is missing), category levels
	// (-1 is missing) and the label.
	row func(rng *rand.Rand, num []float64, cat []int) float64
}

// Shapes are the issue 23 benchmark shapes.
var Shapes = []Shape{
	{Name: "dense", Rows: 1_000_000, Task: "binary", Numeric: 28, Digits: 7,
		row: func(rng *rand.Rand, num []float64, _ []int) float64 {
			y := b2f(rng.Float64() < 0.53)
			collider(rng, int(y), 2, num)
			return y
		}},
	{Name: "sparse", Rows: 1_000_000, Task: "binary", Numeric: 50, Digits: 6, row: sparseRow},
	{Name: "wide", Rows: 200_000, Task: "binary", Numeric: 500, Digits: 5, row: wideRow},
	{Name: "categorical", Rows: 1_000_000, Task: "binary", Numeric: 10, Digits: 6,
		Levels: []int{5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}, row: categoricalRow},
	{Name: "tall", Rows: 10_000_000, Task: "binary", Numeric: 10, Digits: 6, row: tallRow},
	{Name: "regression", Rows: 1_000_000, Task: "regression", Numeric: 28, Digits: 7,
		row: func(rng *rand.Rand, num []float64, _ []int) float64 {
			collider(rng, 0, 2, num)
			// A smooth target of the kinematics, with noise.
			return math.Log(num[0]) + 0.8*math.Sin(num[2]-num[5]) + num[22]/60 -
				0.5*math.Abs(num[1]*num[4]) + 0.3*math.Tanh(num[25]/100-1) + rng.NormFloat64()*0.3
		}},
	{Name: "multiclass", Rows: 1_000_000, Task: "multiclass", Classes: 5, Numeric: 28, Digits: 7,
		row: func(rng *rand.Rand, num []float64, _ []int) float64 {
			c := rng.IntN(5)
			collider(rng, c, 5, num)
			return float64(c)
		}},
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// collider draws a Higgs-like row of class c of n: 21 kinematic features
// (momentum, pseudorapidity and angle of 7 objects) whose spreads shift a
// little with the class, then 7 invariant masses of object pairs; for
// classes above 0, two of the masses often come from a resonance whose
// mass depends on the class. Every feature is continuous.
func collider(rng *rand.Rand, c, n int, v []float64) {
	shift := float64(c) / float64(n-1)
	for o := range 7 {
		pt := math.Exp(rng.NormFloat64()*0.6 + 3.5 + 0.15*shift*float64(o%2))
		eta := rng.NormFloat64() * (1.2 - 0.25*shift*b2f(o < 3))
		phi := (rng.Float64()*2 - 1) * math.Pi
		v[3*o], v[3*o+1], v[3*o+2] = pt, eta, phi
	}
	for k := range 7 {
		a, b := k, (k+1)%7
		m := 2 * v[3*a] * v[3*b] * (math.Cosh(v[3*a+1]-v[3*b+1]) - math.Cos(v[3*a+2]-v[3*b+2]))
		v[21+k] = math.Sqrt(math.Max(m, 0)) * (1 + rng.NormFloat64()*0.1)
	}
	if c > 0 && rng.Float64() < 0.45 {
		peak := 80 + 45*float64(c)
		v[21+2] = peak + rng.NormFloat64()*10
		v[21+4] = peak*0.7 + rng.NormFloat64()*15
	}
}

// sparseRow: 25 dense columns and 25 with 30% to 80% missing values,
// half of the present ones exactly zero. Missingness carries signal.
func sparseRow(rng *rand.Rand, v []float64, _ []int) float64 {
	for f := range 25 {
		if f%3 == 0 {
			v[f] = math.Exp(rng.NormFloat64())
		} else {
			v[f] = rng.NormFloat64()
		}
	}
	z := 0.8*math.Sin(v[0]) + 0.6*v[1]*v[2] + 0.5*v[4] - 0.4*math.Abs(v[5]) + 0.3*v[7]
	for f := 25; f < 50; f++ {
		rate := 0.3 + 0.5*float64(f-25)/24
		switch {
		case rng.Float64() < rate:
			v[f] = math.NaN()
			if f%5 == 0 {
				z += 0.25
			}
		case rng.Float64() < 0.5:
			v[f] = 0
		default:
			v[f] = rng.NormFloat64() + 0.5
			if f%4 == 1 {
				z += 0.4 * v[f]
			}
		}
	}
	return b2f(rng.Float64() < sigmoid(z-0.3))
}

// wideRow: 500 features that mix 20 latent factors with noise; the label
// is a nonlinear function of the factors and a few raw features.
func wideRow(rng *rand.Rand, v []float64, _ []int) float64 {
	var latent [20]float64
	for i := range latent {
		latent[i] = rng.NormFloat64()
	}
	for f := range v {
		// A fixed sparse loading: feature f reads factor f%20, and every
		// third feature factor (f/20)%20 too.
		v[f] = 0.7*latent[f%20] + 0.4*latent[(f/20)%20]*b2f(f%3 == 0) + rng.NormFloat64()*0.6
	}
	z := latent[0]*latent[1] + math.Sin(2*latent[2]) + 0.7*latent[3] - 0.5*math.Abs(latent[4]) +
		0.3*v[123] + 0.3*v[377]
	return b2f(rng.Float64() < sigmoid(z))
}

// categoricalRow: 10 categorical columns (5 to 5,000 levels, levels drawn
// with Zipf-like frequencies, so many are rare) and 10 numeric ones. Each
// level has its own effect on the label; one categorical column interacts
// with a numeric one. About 2% of category cells are missing.
func categoricalRow(rng *rand.Rand, v []float64, cat []int) float64 {
	var z float64
	for c, n := range categoricalLevels {
		lv := zipf(rng, n)
		if rng.Float64() < 0.02 {
			cat[c] = -1
		} else {
			cat[c] = lv
		}
		z += levelEffect(c, lv) * (0.9 - 0.06*float64(c))
	}
	for f := range v {
		v[f] = rng.NormFloat64()
	}
	z += 0.5*v[0] + 0.6*math.Sin(2*v[1]) + 0.4*v[2]*levelEffect(3, max(cat[3], 0))
	return b2f(rng.Float64() < sigmoid(z-0.2))
}

var categoricalLevels = []int{5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// levelEffect is a fixed pseudo-random effect of level lv of column c.
func levelEffect(c, lv int) float64 {
	r := rand.New(rand.NewPCG(uint64(c)<<32|uint64(lv), 99))
	return r.NormFloat64()
}

// zipf draws a level in [0, n) with probability about proportional to
// 1/(rank+3).
func zipf(rng *rand.Rand, n int) int {
	// Inverse of the continuous CDF of 1/(x+3) on [0, n).
	u := rng.Float64()
	x := 3*math.Pow(float64(n+3)/3, u) - 3
	return min(n-1, int(x))
}

// tallRow: 10 dense features, a nonlinear label.
func tallRow(rng *rand.Rand, v []float64, _ []int) float64 {
	for f := range v {
		if f%2 == 0 {
			v[f] = rng.NormFloat64()
		} else {
			v[f] = rng.Float64()*4 - 2
		}
	}
	z := 1.2*math.Sin(v[0]*v[1]) + 0.8*(v[2]*v[2]-1) + math.Abs(v[3])*v[4] + math.Tanh(v[5]+v[6]) - 0.5*v[7]
	return b2f(rng.Float64() < sigmoid(z))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// chunkRows is the rows drawn from one seed.
const chunkRows = 1 << 16

// writeShape writes the shape's train and test files into dir.
func writeShape(dir string, s Shape, rows int) error {
	if rows <= 0 {
		rows = s.Rows
	}
	train := rows * 8 / 10
	header := s.header()
	for _, part := range []struct {
		name     string
		from, to int
	}{{"train", 0, train}, {"test", train, rows}} {
		path := filepath.Join(dir, s.Name+"-"+part.name+".csv")
		if err := s.write(path, header, part.from, part.to); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s: %d train and %d test rows to %s\n", s.Name, train, rows-train, dir)
	return nil
}

func (s Shape) header() string {
	var cols []string
	for c := range s.Levels {
		cols = append(cols, fmt.Sprintf("c%d", c))
	}
	for f := range s.Numeric {
		cols = append(cols, fmt.Sprintf("x%d", f))
	}
	return strings.Join(append(cols, "y"), ",") + "\n"
}

// write draws rows [from, to) (by chunk, so a chunk straddling the split
// is drawn whole on both sides and cut) and writes them with a header.
func (s Shape) write(path, header string, from, to int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(header)
	first, last := from/chunkRows, (to-1)/chunkRows
	workers := runtime.GOMAXPROCS(0)
	out := make([]chan []byte, last-first+1)
	for i := range out {
		out[i] = make(chan []byte, 1)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	go func() {
		for c := first; c <= last; c++ {
			next <- c
		}
		close(next)
	}()
	// At most a few chunks are drawn ahead of the writer.
	ahead := make(chan struct{}, 2*workers)
	for range workers {
		wg.Go(func() {
			for c := range next {
				ahead <- struct{}{}
				out[c-first] <- s.chunk(c, max(from, c*chunkRows), min(to, (c+1)*chunkRows))
			}
		})
	}
	var werr error
	for i := range out {
		b := <-out[i]
		<-ahead
		if werr == nil {
			_, werr = w.Write(b)
		}
	}
	wg.Wait()
	if werr == nil {
		werr = w.Flush()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("writing %s: %w", path, werr)
	}
	return nil
}

// chunk draws chunk c's rows and formats those in [lo, hi).
func (s Shape) chunk(c, lo, hi int) []byte {
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(c)))
	num := make([]float64, s.Numeric)
	cat := make([]int, len(s.Levels))
	var b []byte
	for r := c * chunkRows; r < min(hi, (c+1)*chunkRows); r++ {
		y := s.row(rng, num, cat)
		if r < lo {
			continue
		}
		for _, lv := range cat {
			if lv >= 0 {
				b = append(b, 'L')
				b = strconv.AppendInt(b, int64(lv), 10)
			}
			b = append(b, ',')
		}
		for _, v := range num {
			if !math.IsNaN(v) {
				b = strconv.AppendFloat(b, v, 'g', s.Digits, 64)
			}
			b = append(b, ',')
		}
		if s.Task == "regression" {
			b = strconv.AppendFloat(b, y, 'g', 7, 64)
		} else {
			b = strconv.AppendInt(b, int64(y), 10)
		}
		b = append(b, '\n')
	}
	return b
}
