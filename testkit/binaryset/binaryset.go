// Package binaryset generates the ML benchmarks' deterministic binary
// set (1M × 28 by default): bench/gendata writes it to files for the
// Python references, gpucheck builds it in memory on a GPU machine.
package binaryset

import (
	"math"
	"math/rand/v2"
)

// Features is the binary set's feature count.
const Features = 28

// Generate draws rows of 28 features and a 0/1 label from a nonlinear logit:
// interactions, thresholds and smooth terms over the first 16 features,
// weak linear terms on the next 6, and 6 pure-noise features. About 2% of
// four features are missing.
func Generate(rows int, seed uint64) (x, y []float32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	x = make([]float32, rows*Features)
	y = make([]float32, rows)
	v := make([]float64, Features)
	for r := range rows {
		for f := range Features {
			if f%4 == 3 {
				v[f] = rng.Float64()*4 - 2
			} else {
				v[f] = rng.NormFloat64()
			}
		}
		logit := 1.2*math.Sin(v[0]*v[1]) +
			0.8*(v[2]*v[2]-1) +
			math.Abs(v[3])*v[4] +
			0.6*v[5]*v[6]*v[7] +
			1.5*math.Tanh(v[8]+v[9]) +
			step(v[10], 0.5)*v[11] -
			0.7*step(-v[12], 0.2) +
			0.5*math.Cos(2*v[13])*v[14] +
			0.4*math.Max(v[15], 0)
		for f := 16; f < 22; f++ {
			logit += 0.15 * v[f]
		}
		logit += rng.NormFloat64() * 0.8
		if logit > 0.2 {
			y[r] = 1
		}
		for f := range Features {
			val := float32(v[f])
			if (f == 2 || f == 9 || f == 17 || f == 25) && rng.Float64() < 0.02 {
				val = float32(math.NaN())
			}
			x[r*Features+f] = val
		}
	}
	return x, y
}

func step(v, at float64) float64 {
	if v > at {
		return 1
	}
	return 0
}
