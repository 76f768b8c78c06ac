package linear

import (
	"context"
	"errors"
	"math"
)

// lbfgsMemory is the number of correction pairs kept.
const lbfgsMemory = 10

// lbfgs minimises f from x in place. f returns the objective and writes the
// gradient. It stops when the gradient's largest component is below tol,
// when the objective stops decreasing, or after maxIter iterations.
func lbfgs(ctx context.Context, x []float64, f func(x, grad []float64) float64, maxIter int, tol float64) error {
	n := len(x)
	g := make([]float64, n)
	fx := f(x, g)
	if math.IsNaN(fx) {
		return errors.New("linear: objective is NaN at the start")
	}
	var s, y [][]float64
	var rho []float64
	d := make([]float64, n)
	xNew := make([]float64, n)
	gNew := make([]float64, n)
	alpha := make([]float64, lbfgsMemory)
	for iter := 0; iter < maxIter; iter++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if normInf(g) < tol {
			return nil
		}
		// Two-loop recursion: d = -H·g.
		copy(d, g)
		for i := len(s) - 1; i >= 0; i-- {
			alpha[i] = rho[i] * dot(s[i], d)
			axpy(-alpha[i], y[i], d)
		}
		gamma := 1.0
		if len(s) > 0 {
			last := len(s) - 1
			gamma = dot(s[last], y[last]) / dot(y[last], y[last])
		}
		for i := range d {
			d[i] *= gamma
		}
		for i := range s {
			b := rho[i] * dot(y[i], d)
			axpy(alpha[i]-b, s[i], d)
		}
		for i := range d {
			d[i] = -d[i]
		}
		slope := dot(g, d)
		if slope >= 0 {
			// Not a descent direction: restart from steepest descent.
			s, y, rho = nil, nil, nil
			for i := range d {
				d[i] = -g[i]
			}
			slope = dot(g, d)
		}
		// Backtracking line search with the Armijo condition.
		step := 1.0
		if len(s) == 0 {
			step = math.Min(1, 1/normInf(g))
		}
		var fNew float64
		accepted := false
		for range 40 {
			for i := range x {
				xNew[i] = x[i] + step*d[i]
			}
			fNew = f(xNew, gNew)
			if fNew <= fx+1e-4*step*slope {
				accepted = true
				break
			}
			step /= 2
		}
		if !accepted {
			return nil // no further progress is possible at this precision
		}
		sk := make([]float64, n)
		yk := make([]float64, n)
		for i := range x {
			sk[i] = xNew[i] - x[i]
			yk[i] = gNew[i] - g[i]
		}
		if sy := dot(sk, yk); sy > 1e-12 {
			if len(s) == lbfgsMemory {
				s, y, rho = s[1:], y[1:], rho[1:]
			}
			s, y, rho = append(s, sk), append(y, yk), append(rho, 1/sy)
		}
		copy(x, xNew)
		copy(g, gNew)
		if math.Abs(fx-fNew) <= 1e-12*math.Max(1, math.Abs(fx)) {
			return nil
		}
		fx = fNew
	}
	return nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func axpy(a float64, x, y []float64) {
	for i := range x {
		y[i] += a * x[i]
	}
}

func normInf(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}
