package gbdt

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQuantizedGradientsAreUnbiased: stochastic rounding keeps each
// scaled gradient's and hessian's mean, negative gradients included (a
// floor by truncation once rounded them up below -256), and the packed
// sums unpack to the sums of the quantized values.
func TestQuantizedGradientsAreUnbiased(t *testing.T) {
	const n = 200_000
	rng := rand.New(rand.NewPCG(1, 2))
	e := &cpuEngine{n: n, threads: 2, grad: make([]gradPair, n), q: make([]int64, n)}
	for i := range e.grad {
		e.grad[i] = gradPair{float32(rng.Float64()*2 - 1), float32(rng.Float64() * 0.25)}
	}
	e.quantize([][2]float32{blockMax(e.grad)})
	var errG, errH float64
	var sum int64
	var sumG, sumH int64
	for i, v := range e.q {
		qh := int64(uint32(v))
		qg := (v - qh) >> 32
		errG += float64(qg) - float64(e.grad[i].g)/e.gScale
		errH += float64(qh) - float64(e.grad[i].h)/e.hScale
		sum += v
		sumG += qg
		sumH += qh
	}
	// Rounding noise alone: |mean| ~ 0.5/sqrt(n) ~ 0.001.
	if math.Abs(errG/n) > 0.01 || math.Abs(errH/n) > 0.01 {
		t.Errorf("mean rounding error: gradients %.4f, hessians %.4f levels; want about 0", errG/n, errH/n)
	}
	g, h := e.unpack(sum)
	if g != float64(sumG)*e.gScale || h != float64(sumH)*e.hScale {
		t.Errorf("packed sum unpacks to %v, %v; want %v, %v", g, h, float64(sumG)*e.gScale, float64(sumH)*e.hScale)
	}
}
