package gbdt

import (
	"math"
	"testing"

	"github.com/sluice-ml/sluice/ml"
)

// TestTrainingSoftmaxIsFloat32Precise: the training softmax's exp is
// within 3e-7 of math.Exp over its whole range, and the sigmoid and the
// probabilities within float32 precision of ml.Sigmoid's and
// ml.Softmax's.
func TestTrainingSoftmaxIsFloat32Precise(t *testing.T) {
	for x := -700.0; x <= 0; x += 0.00713 {
		if got, want := expTrain(x), math.Exp(x); math.Abs(got-want) > 3e-7*want {
			t.Fatalf("expTrain(%v) = %v, math.Exp %v", x, got, want)
		}
	}
	if expTrain(-800) != 0 || expTrain(0) != 1 {
		t.Errorf("expTrain(-800) = %v, expTrain(0) = %v", expTrain(-800), expTrain(0))
	}
	for x := -40.0; x <= 40; x += 0.0371 {
		if got, want := sigmoidTrain(x), ml.Sigmoid(x); math.Abs(got-want) > 3e-7*want {
			t.Fatalf("sigmoidTrain(%v) = %v, ml.Sigmoid %v", x, got, want)
		}
	}
	for _, m := range [][]float64{{0, 0, 0}, {1, -2, 3.5, 0.25, -40}, {800, -800}} {
		a, b := append([]float64(nil), m...), append([]float64(nil), m...)
		softmaxTrain(a)
		ml.Softmax(b)
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-6*math.Max(b[i], 1e-30) && math.Abs(a[i]-b[i]) > 1e-300 {
				t.Errorf("softmax of %v: %v, ml.Softmax %v", m, a, b)
			}
		}
	}
}

func BenchmarkSoftmax(b *testing.B) {
	m := []float64{0.3, -1.2, 2.5, 0.1, -0.4}
	buf := make([]float64, 5)
	b.Run("train", func(b *testing.B) {
		for b.Loop() {
			copy(buf, m)
			softmaxTrain(buf)
		}
	})
	b.Run("ml", func(b *testing.B) {
		for b.Loop() {
			copy(buf, m)
			ml.Softmax(buf)
		}
	})
}
