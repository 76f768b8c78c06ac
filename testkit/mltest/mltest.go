// Package mltest makes the small synthetic datasets the trainers' tests
// share.
package mltest

import (
	"math"
	"math/rand/v2"

	"github.com/sluice-ml/sluice/ml"
)

// Synth makes a dataset with a nonlinear signal, noise and missing values.
func Synth(n int, task ml.Task, seed uint64) *ml.Dataset {
	rng := rand.New(rand.NewPCG(seed, 3))
	const nf = 6
	d := &ml.Dataset{Labels: make([]float32, n)}
	for f := range nf {
		d.Features = append(d.Features, ml.Feature{Name: string(rune('a' + f)), Values: make([]float32, n)})
	}
	for r := range n {
		x := make([]float64, nf)
		for f := range x {
			x[f] = rng.NormFloat64()
			v := float32(x[f])
			if f == 2 && rng.Float64() < 0.1 {
				v = float32(math.NaN())
				x[f] = 1.5 // missing values carry signal
			}
			d.Features[f].Values[r] = v
		}
		s := math.Sin(x[0]*2) + x[1]*x[2] + 0.5*x[3] + rng.NormFloat64()*0.3
		switch task {
		case ml.Binary:
			if s > 0 {
				d.Labels[r] = 1
			}
		case ml.Regression:
			d.Labels[r] = float32(s)
		case ml.Multiclass:
			d.Labels[r] = float32(min(2, max(0, int(math.Floor(s+1.5)))))
		}
	}
	return d
}
