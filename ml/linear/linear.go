// Package linear trains L2-regularised linear and logistic regression (and
// multinomial logistic regression) by L-BFGS. Numeric features are
// standardised and categorical ones one-hot encoded; the encoding is part of
// the model, so it applies to raw columns.
package linear

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/sluice-ml/sluice/ml"
)

// Params are the training parameters.
type Params struct {
	Task     ml.Task
	NumClass int
	// L2 is the penalty on the weights: the objective is the summed loss
	// plus L2/2·‖w‖², as scikit-learn's with C = 1/L2. The intercept is not
	// penalised.
	L2 float64
	// MaxIter caps L-BFGS iterations; Tol stops when the gradient's largest
	// component falls below it.
	MaxIter int
	Tol     float64
	Threads int
}

// DefaultParams match scikit-learn's LogisticRegression defaults (C = 1).
func DefaultParams() Params {
	return Params{Task: ml.Binary, L2: 1, MaxIter: 200, Tol: 1e-6}
}

// Validate reports the first invalid parameter.
func (p Params) Validate() error {
	switch {
	case p.Task != ml.Binary && p.Task != ml.Regression && p.Task != ml.Multiclass:
		return fmt.Errorf("linear: task %q; want binary, regression or multiclass", p.Task)
	case p.Task == ml.Multiclass && p.NumClass < 2:
		return fmt.Errorf("linear: num_class = %d; want at least 2 for multiclass", p.NumClass)
	case p.L2 < 0 || math.IsNaN(p.L2) || math.IsInf(p.L2, 0):
		return fmt.Errorf("linear: l2 = %v; want zero or more", p.L2)
	case p.MaxIter < 1:
		return fmt.Errorf("linear: max_iter = %d; want at least 1", p.MaxIter)
	case !(p.Tol > 0):
		return fmt.Errorf("linear: tol = %v; want a positive number", p.Tol)
	}
	return nil
}

// Input is how one raw feature enters the model.
type Input struct {
	Kind ml.Kind
	// Mean and Scale standardise a numeric feature: (x-Mean)/Scale. A
	// missing value counts as the mean (zero after scaling).
	Mean, Scale float64
	// Offset is the feature's first column in the weight vector; a
	// categorical feature takes Width columns, one per category code.
	Offset, Width int
}

// Model is a trained linear model.
type Model struct {
	Task     ml.Task
	NumClass int
	Inputs   []Input
	// Weights are output-major: output j's weights are
	// Weights[j*Width():(j+1)*Width()]. Bias holds the intercepts.
	Weights []float64
	Bias    []float64
}

// Outputs is the number of margins per row.
func (m *Model) Outputs() int {
	if m.Task == ml.Multiclass {
		return m.NumClass
	}
	return 1
}

// Width is the number of encoded columns.
func (m *Model) Width() int {
	w := 0
	for _, in := range m.Inputs {
		w = max(w, in.Offset+in.Width)
	}
	return w
}

// Validate checks a model read from outside.
func (m *Model) Validate() error {
	k := m.Outputs()
	if k < 1 || (m.Task == ml.Multiclass && k < 2) {
		return fmt.Errorf("linear: %d outputs for task %q", k, m.Task)
	}
	w := m.Width()
	if len(m.Weights) != w*k || len(m.Bias) != k {
		return fmt.Errorf("linear: %d weights and %d intercepts for %d columns × %d outputs", len(m.Weights), len(m.Bias), w, k)
	}
	for i, in := range m.Inputs {
		if in.Offset < 0 || in.Width < 1 || (in.Kind == ml.Numeric && in.Width != 1) {
			return fmt.Errorf("linear: input %d has offset %d width %d", i, in.Offset, in.Width)
		}
		if in.Kind == ml.Numeric && !(in.Scale > 0) {
			return fmt.Errorf("linear: input %d has scale %v", i, in.Scale)
		}
	}
	return nil
}

// encode returns the column and value that raw value x of input in adds to
// the encoded row, or col -1 when it adds nothing (missing, unseen).
func (in *Input) encode(x float32) (col int, v float64) {
	if x != x {
		return -1, 0
	}
	if in.Kind == ml.Categorical {
		c := int(x)
		if c < 0 || c >= in.Width || float32(c) != x {
			return -1, 0
		}
		return in.Offset + c, 1
	}
	return in.Offset, (float64(x) - in.Mean) / in.Scale
}

// PredictRow writes one row's prediction (raw features) into out, which
// holds Outputs() values. It does not allocate.
func (m *Model) PredictRow(x []float32, out []float64) {
	k, w := m.Outputs(), m.Width()
	copy(out, m.Bias)
	for f := range m.Inputs {
		col, v := m.Inputs[f].encode(x[f])
		if col < 0 {
			continue
		}
		for j := range k {
			out[j] += m.Weights[j*w+col] * v
		}
	}
	transform(m.Task, out)
}

func transform(task ml.Task, out []float64) {
	switch task {
	case ml.Binary:
		out[0] = ml.Sigmoid(out[0])
	case ml.Multiclass:
		ml.Softmax(out)
	}
}

// Predict scores column-major raw features and returns row-major outputs.
func (m *Model) Predict(cols [][]float32, threads int) ([]float64, error) {
	if len(cols) != len(m.Inputs) {
		return nil, fmt.Errorf("linear: model needs %d features, got %d", len(m.Inputs), len(cols))
	}
	n := len(cols[0])
	for f, c := range cols {
		if len(c) != n {
			return nil, fmt.Errorf("linear: feature %d has %d rows, want %d", f, len(c), n)
		}
	}
	k := m.Outputs()
	margins := m.margins(cols, m.Weights, m.Bias, threads)
	for r := range n {
		transform(m.Task, margins[r*k:(r+1)*k])
	}
	return margins, nil
}

// margins computes X·W + b column by column, in row chunks.
func (m *Model) margins(cols [][]float32, weights, bias []float64, threads int) []float64 {
	n, k, w := len(cols[0]), m.Outputs(), m.Width()
	out := make([]float64, n*k)
	chunks(n, threads, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(out[r*k:(r+1)*k], bias)
		}
		for f := range m.Inputs {
			in := &m.Inputs[f]
			for r, x := range cols[f][lo:hi] {
				col, v := in.encode(x)
				if col < 0 {
					continue
				}
				o := (lo + r) * k
				for j := range k {
					out[o+j] += weights[j*w+col] * v
				}
			}
		}
	})
	return out
}

// chunks runs f over [0,n) split into one range per worker.
func chunks(n, threads int, f func(lo, hi int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	threads = max(1, min(threads, n/4096+1))
	var wg sync.WaitGroup
	for t := range threads {
		lo, hi := t*n/threads, (t+1)*n/threads
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// Train fits a model to d.
func Train(ctx context.Context, d *ml.Dataset, p Params) (*Model, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := d.Validate(p.Task, p.NumClass); err != nil {
		return nil, err
	}
	if d.Labels == nil {
		return nil, errors.New("linear: training data has no labels")
	}
	m := layout(d, p)
	k, w := m.Outputs(), m.Width()
	nw := w * k
	// x holds the weights then the intercepts.
	x := make([]float64, nw+k)
	x[nw] = startIntercept(d.Labels, p.Task)
	eval := objective(m, d, p)
	if err := lbfgs(ctx, x, eval, p.MaxIter, p.Tol); err != nil {
		return nil, err
	}
	m.Weights = append([]float64(nil), x[:nw]...)
	m.Bias = append([]float64(nil), x[nw:]...)
	return m, nil
}

// layout sizes the model's inputs: one column per numeric feature, one per
// category of a categorical one, and the numeric features' scaling.
func layout(d *ml.Dataset, p Params) *Model {
	m := &Model{Task: p.Task, NumClass: p.NumClass}
	if p.Task != ml.Multiclass {
		m.NumClass = 0
	}
	offset := 0
	for _, f := range d.Features {
		in := Input{Kind: f.Kind, Offset: offset, Width: 1}
		if f.Kind == ml.Categorical {
			in.Width = max(1, len(f.Categories))
			for _, v := range f.Values {
				if v == v && int(v)+1 > in.Width {
					in.Width = int(v) + 1
				}
			}
		} else {
			in.Mean, in.Scale = meanStd(f.Values)
		}
		m.Inputs = append(m.Inputs, in)
		offset += in.Width
	}
	return m
}

// startIntercept starts the intercept at the label mean (its logit for
// binary), as gbdt does; multiclass starts at zero.
func startIntercept(labels []float32, task ml.Task) float64 {
	var s float64
	for _, l := range labels {
		s += float64(l)
	}
	n := float64(len(labels))
	switch task {
	case ml.Binary:
		q := math.Min(math.Max(s/n, 1e-6), 1-1e-6)
		return math.Log(q / (1 - q))
	case ml.Regression:
		return s / n
	}
	return 0
}

// objective returns the training objective of m's layout on d: the mean
// loss plus L2/(2n)·‖w‖² at x = (weights, intercepts), with its gradient.
// Scaling by 1/n makes the tolerance mean the same for any row count; the
// minimiser is that of the summed loss.
func objective(m *Model, d *ml.Dataset, p Params) func(x, grad []float64) float64 {
	k, w := m.Outputs(), m.Width()
	nw := w * k
	labels := d.Labels
	nrows := len(labels)
	n := float64(nrows)
	// Numeric inputs are standardised once (missing as zero), so each
	// evaluation runs tight multiply-adds; categorical ones are encoded.
	std := make([][]float32, len(d.Features))
	parallelEach(len(d.Features), p.Threads, func(f int) {
		in := &m.Inputs[f]
		if in.Kind != ml.Numeric {
			return
		}
		col := make([]float32, nrows)
		for r, x := range d.Features[f].Values {
			if x == x {
				col[r] = float32((float64(x) - in.Mean) / in.Scale)
			}
		}
		std[f] = col
	})
	cats := d.Features
	marg := make([]float64, nrows*k)
	type partial struct{ loss float64 }
	return func(x, grad []float64) float64 {
		weights, bias := x[:nw], x[nw:]
		workers := max(1, min(threadsOf(p.Threads), nrows/4096+1))
		parts := make([]partial, workers)
		gbParts := make([][]float64, workers)
		chunkedEach(nrows, workers, func(c, lo, hi int) {
			// Margins.
			for r := lo; r < hi; r++ {
				copy(marg[r*k:(r+1)*k], bias)
			}
			for f := range m.Inputs {
				in := &m.Inputs[f]
				if col := std[f]; col != nil {
					for j := range k {
						wj := weights[j*w+in.Offset]
						for r, v := range col[lo:hi] {
							marg[(lo+r)*k+j] += wj * float64(v)
						}
					}
					continue
				}
				for r, xv := range cats[f].Values[lo:hi] {
					ci, v := in.encode(xv)
					if ci < 0 {
						continue
					}
					for j := range k {
						marg[(lo+r)*k+j] += weights[j*w+ci] * v
					}
				}
			}
			// Loss, and residuals (d loss / d margin) in place.
			var loss float64
			probs := make([]float64, k)
			gb := make([]float64, k)
			for r := lo; r < hi; r++ {
				row := marg[r*k : (r+1)*k]
				l := float64(labels[r])
				switch p.Task {
				case ml.Binary:
					z := row[0]
					// log(1+e^z) - y z, stably.
					if z > 0 {
						loss += z + math.Log1p(math.Exp(-z)) - l*z
					} else {
						loss += math.Log1p(math.Exp(z)) - l*z
					}
					row[0] = ml.Sigmoid(z) - l
				case ml.Regression:
					e := row[0] - l
					loss += e * e / 2
					row[0] = e
				case ml.Multiclass:
					copy(probs, row)
					ml.Softmax(probs)
					c := int(l)
					loss -= math.Log(math.Max(probs[c], 1e-300))
					copy(row, probs)
					row[c]--
				}
				for j := range k {
					gb[j] += row[j]
				}
			}
			parts[c].loss = loss
			gbParts[c] = gb
		})
		var loss float64
		clear(grad)
		gw, gb := grad[:nw], grad[nw:]
		for c := range parts {
			loss += parts[c].loss
			for j := range k {
				gb[j] += gbParts[c][j]
			}
		}
		// Weight gradient, one input per task: no shared writes.
		parallelEach(len(m.Inputs), p.Threads, func(f int) {
			in := &m.Inputs[f]
			if col := std[f]; col != nil {
				for j := range k {
					var s float64
					for r, v := range col {
						s += marg[r*k+j] * float64(v)
					}
					gw[j*w+in.Offset] += s
				}
				return
			}
			for r, xv := range cats[f].Values {
				ci, v := in.encode(xv)
				if ci < 0 {
					continue
				}
				for j := range k {
					gw[j*w+ci] += marg[r*k+j] * v
				}
			}
		})
		var reg float64
		for i, wv := range weights {
			reg += wv * wv
			gw[i] += p.L2 * wv
		}
		loss += p.L2 / 2 * reg
		for i := range grad {
			grad[i] /= n
		}
		return loss / n
	}
}

// parallelEach runs f(0..n-1) on up to threads goroutines.
func parallelEach(n, threads int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, threadsOf(threads))
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// chunkedEach splits [0,n) into workers ranges and runs f on each at once.
func chunkedEach(n, workers int, f func(c, lo, hi int)) {
	var wg sync.WaitGroup
	for c := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(c, c*n/workers, (c+1)*n/workers)
		}()
	}
	wg.Wait()
}

func threadsOf(t int) int {
	if t <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return t
}

func meanStd(vals []float32) (mean, std float64) {
	var n float64
	for _, v := range vals {
		if v == v {
			mean += float64(v)
			n++
		}
	}
	if n == 0 {
		return 0, 1
	}
	mean /= n
	for _, v := range vals {
		if v == v {
			d := float64(v) - mean
			std += d * d
		}
	}
	std = math.Sqrt(std / n)
	if !(std > 0) {
		std = 1
	}
	return mean, std
}
