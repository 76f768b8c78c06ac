// Package ml is Sluice's machine learning core: datasets, histogram
// gradient-boosted trees (ml/gbdt), linear models (ml/linear), metrics
// (ml/metrics) and model artifacts (ml/artifact). It knows nothing of
// Temporal, HTTP or storage: callers hand it columns and get models back.
package ml

import (
	"errors"
	"fmt"
	"math"
)

// Task is what a model predicts.
type Task string

// Tasks.
const (
	Binary     Task = "binary"
	Regression Task = "regression"
	Multiclass Task = "multiclass"
)

// ParseTask checks a task name.
func ParseTask(s string) (Task, error) {
	switch t := Task(s); t {
	case Binary, Regression, Multiclass:
		return t, nil
	}
	return "", fmt.Errorf("ml: unknown task %q (want binary, regression or multiclass)", s)
}

// Kind says how a feature's values are read.
type Kind uint8

// Feature kinds.
const (
	Numeric Kind = iota
	Categorical
)

// Feature is one input column, stored as float32. NaN is a missing value.
// A categorical feature stores category codes: Categories[code].
type Feature struct {
	Name       string
	Kind       Kind
	Categories []string
	Values     []float32
}

// Dataset is a column-major table of features with optional labels.
type Dataset struct {
	Features []Feature
	// Labels are the targets: 0/1 for binary, class codes for multiclass.
	Labels []float32
	// Classes names the class codes of a multiclass label, when it was
	// read from strings.
	Classes []string
}

// Rows is the number of rows.
func (d *Dataset) Rows() int {
	if len(d.Features) == 0 {
		return len(d.Labels)
	}
	return len(d.Features[0].Values)
}

// Validate checks column lengths, labels for the task, and that no label is
// missing.
func (d *Dataset) Validate(task Task, numClass int) error {
	n := d.Rows()
	if n == 0 {
		return errors.New("ml: dataset has no rows")
	}
	if len(d.Features) == 0 {
		return errors.New("ml: dataset has no features")
	}
	for _, f := range d.Features {
		if len(f.Values) != n {
			return fmt.Errorf("ml: feature %q has %d rows, want %d", f.Name, len(f.Values), n)
		}
	}
	if d.Labels == nil {
		return nil
	}
	if len(d.Labels) != n {
		return fmt.Errorf("ml: %d labels for %d rows", len(d.Labels), n)
	}
	for i, l := range d.Labels {
		v := float64(l)
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return fmt.Errorf("ml: label of row %d is %v; labels must be finite", i, l)
		case task == Binary && l != 0 && l != 1:
			return fmt.Errorf("ml: label of row %d is %v; a binary label must be 0 or 1", i, l)
		case task == Multiclass && (l != float32(int(l)) || int(l) < 0 || int(l) >= numClass):
			return fmt.Errorf("ml: label of row %d is %v; a multiclass label must be a class code in [0,%d)", i, l, numClass)
		}
	}
	return nil
}

// Slice returns the rows [from, to) as a new dataset sharing no memory.
func (d *Dataset) Slice(from, to int) *Dataset {
	out := &Dataset{Classes: d.Classes}
	for _, f := range d.Features {
		g := f
		g.Values = append([]float32(nil), f.Values[from:to]...)
		out.Features = append(out.Features, g)
	}
	if d.Labels != nil {
		out.Labels = append([]float32(nil), d.Labels[from:to]...)
	}
	return out
}

// Sigmoid maps a margin to a probability.
func Sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Softmax turns margins into probabilities in place.
func Softmax(m []float64) {
	mx := math.Inf(-1)
	for _, v := range m {
		if v > mx { // not math.Max: its care for NaN and -0 is slow here
			mx = v
		}
	}
	var sum float64
	for i, v := range m {
		m[i] = math.Exp(v - mx)
		sum += m[i]
	}
	for i := range m {
		m[i] /= sum
	}
}
