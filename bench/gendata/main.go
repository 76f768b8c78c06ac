// Command gendata writes the deterministic synthetic data sets the ML
// benchmarks use, as raw little-endian float32 files that Go and numpy
// (numpy.fromfile) both read:
//
//	binary-train.x.f32 (rows × 28, row-major), binary-train.y.f32, and the
//	same for binary-test: a nonlinear binary task with noise and missing
//	values, 800k train / 200k test rows;
//
//	mixed-N-train.csv and mixed-N-test.csv: small tables (a few thousand
//	rows) of categorical and numeric columns with a 0/1 label "y".
//
// With -shapes, it writes the ML benchmark's data shapes instead (see
// Shapes): <shape>-train.csv and <shape>-test.csv for each. With -small,
// the small public-style tables of the defaults benchmark (see
// smallTables), one CSV file each.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-ml/sluice/testkit/binaryset"
)

const features = binaryset.Features

func main() {
	out := flag.String("o", "bench/data", "output folder")
	rows := flag.Int("rows", 1_000_000, "rows in all; the last 20% are the test set")
	shapes := flag.String("shapes", "", "write these benchmark shapes instead (comma-separated, or all): "+shapeNames())
	scale := flag.Float64("scale", 1, "with -shapes: this share of each shape's rows")
	small := flag.Bool("small", false, "write the small public-style tables instead (churn, credit, hr, mixed-N)")
	flag.Parse()
	if *small {
		if err := writeSmall(*out); err != nil {
			fmt.Fprintln(os.Stderr, "gendata:", err)
			os.Exit(1)
		}
		return
	}
	if *shapes != "" {
		if err := runShapes(*out, *shapes, *scale); err != nil {
			fmt.Fprintln(os.Stderr, "gendata:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*out, *rows); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func shapeNames() string {
	var names []string
	for _, s := range Shapes {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

func runShapes(dir, list string, scale float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	want := strings.Split(list, ",")
	for _, name := range want {
		found := name == "all"
		for _, s := range Shapes {
			if name == "all" || name == s.Name {
				found = true
				if err := writeShape(dir, s, int(float64(s.Rows)*scale)); err != nil {
					return err
				}
			}
		}
		if !found {
			return fmt.Errorf("no shape %q (have %s)", name, shapeNames())
		}
	}
	return nil
}

func run(dir string, rows int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	x, y := binaryset.Generate(rows, 42)
	train := rows * 8 / 10
	files := map[string][]float32{
		"binary-train.x.f32": x[:train*features],
		"binary-train.y.f32": y[:train],
		"binary-test.x.f32":  x[train*features:],
		"binary-test.y.f32":  y[train:],
	}
	for name, data := range files {
		if err := writeF32(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d train and %d test rows × %d features to %s\n", train, rows-train, features, dir)
	for i, shape := range mixedShapes {
		for _, part := range []struct {
			name string
			rows int
			seed uint64
		}{{"train", shape.rows, uint64(100 + i)}, {"test", shape.rows / 2, uint64(200 + i)}} {
			path := filepath.Join(dir, fmt.Sprintf("mixed-%d-%s.csv", i+1, part.name))
			if err := os.WriteFile(path, Mixed(shape, part.rows, part.seed), 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("wrote %d mixed categorical tables to %s\n", len(mixedShapes), dir)
	return nil
}

// MixedShape is one small table: categorical columns of given
// cardinalities and numeric columns.
type MixedShape struct {
	rows    int
	levels  []int
	numeric int
}

var mixedShapes = []MixedShape{
	{rows: 3000, levels: []int{3, 5, 8}, numeric: 5},
	{rows: 5000, levels: []int{40, 4}, numeric: 3},
	{rows: 2000, levels: []int{2, 6, 12, 3}, numeric: 2},
}

// Mixed draws a table whose label depends on per-category effects (drawn
// once per table), numeric terms and an interaction; about 3% of cells
// are empty.
func Mixed(s MixedShape, rows int, seed uint64) []byte {
	effects := rand.New(rand.NewPCG(uint64(len(s.levels)*1000+s.numeric), 11))
	catEffect := make([][]float64, len(s.levels))
	for c, n := range s.levels {
		catEffect[c] = make([]float64, n)
		for l := range catEffect[c] {
			catEffect[c][l] = effects.NormFloat64()
		}
	}
	rng := rand.New(rand.NewPCG(seed, 13))
	var b []byte
	for c := range s.levels {
		b = fmt.Appendf(b, "cat%d,", c)
	}
	for f := range s.numeric {
		b = fmt.Appendf(b, "num%d,", f)
	}
	b = append(b, "y\n"...)
	for range rows {
		z := -0.2
		var line []byte
		lv := make([]int, len(s.levels))
		for c, n := range s.levels {
			lv[c] = rng.IntN(n)
			z += catEffect[c][lv[c]]
			if rng.Float64() < 0.03 {
				line = append(line, ',')
				continue
			}
			line = fmt.Appendf(line, "%c%d,", 'a'+rune(c), lv[c])
		}
		for f := range s.numeric {
			x := rng.NormFloat64()
			switch f % 3 {
			case 0:
				z += 0.8 * x
			case 1:
				z += math.Sin(2 * x)
			default:
				z += 0.5 * x * float64(lv[0]%2*2-1)
			}
			if rng.Float64() < 0.03 {
				line = append(line, ',')
				continue
			}
			line = fmt.Appendf(line, "%.4f,", x)
		}
		y := 0
		if z+rng.NormFloat64()*0.7 > 0 {
			y = 1
		}
		b = append(b, line...)
		b = fmt.Appendf(b, "%d\n", y)
	}
	return b
}

func writeF32(path string, data []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := binary.Write(f, binary.LittleEndian, data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
