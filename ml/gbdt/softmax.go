package gbdt

import "math"

// softmaxTrain turns margins into probabilities in place, as ml.Softmax
// does, to about float32 precision: every row of every round goes through
// it, and with quantized gradients math.Exp's last bits cost more than
// they are worth (see expTrain). Exact gradients and predictions use
// ml.Softmax.
func softmaxTrain(m []float64) {
	mx := math.Inf(-1)
	for _, v := range m {
		if v > mx {
			mx = v
		}
	}
	var sum float64
	for i, v := range m {
		e := expTrain(v - mx)
		m[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range m {
		m[i] *= inv
	}
}

// expTrain is e^x for x <= 0 within about 2e-7 relative error (0 below
// -700): x = k·ln2 + r with |r| <= ln2/2, e^r by its Taylor polynomial of
// degree 6, times 2^k built in the exponent bits. Plain comparisons and
// a truncating conversion: the builtin min and max and math.Floor made an
// earlier version no faster than math.Exp.
func expTrain(x float64) float64 {
	const (
		log2e = 1.4426950408889634
		ln2Hi = 6.93147180369123816490e-01
		ln2Lo = 1.90821492927058770002e-10
	)
	if x < -700 {
		return 0
	}
	// k = round(x / ln2), by truncation of a positive number.
	k := float64(int64(x*log2e+1024.5)) - 1024
	r := x - k*ln2Hi - k*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// sigmoidTrain is 1/(1+e^-x) through expTrain, for training's gradients.
func sigmoidTrain(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + expTrain(-x))
	}
	e := expTrain(x)
	return e / (1 + e)
}
