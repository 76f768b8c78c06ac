// Package metrics scores predictions: ranking (AUC), probabilistic (log
// loss), thresholded classification (accuracy, precision, recall, F1) and
// regression (RMSE, MAE, R²) metrics, per class for multiclass.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrSingleClass reports an AUC asked of labels that hold one class only.
var ErrSingleClass = errors.New("metrics: AUC needs both positive and negative labels")

func checkLen(a, b int) error {
	if a != b {
		return fmt.Errorf("metrics: %d labels but %d predictions", a, b)
	}
	if a == 0 {
		return errors.New("metrics: no rows")
	}
	return nil
}

// AUC is the area under the ROC curve of scores against binary labels
// (label > 0.5 is positive), computed exactly: tied scores count one half,
// as in the Mann-Whitney U statistic.
func AUC(labels []float32, scores []float64) (float64, error) {
	if err := checkLen(len(labels), len(scores)); err != nil {
		return 0, err
	}
	idx := make([]int32, len(scores))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		sa, sb := scores[a], scores[b]
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	// Walk groups of tied scores in ascending order. Each positive in a
	// group beats every negative below it and ties half of those within.
	var pos, neg, negBelow, u float64
	for i := 0; i < len(idx); {
		j := i
		var gp, gn float64
		s := scores[idx[i]]
		for ; j < len(idx) && scores[idx[j]] == s; j++ {
			if labels[idx[j]] > 0.5 {
				gp++
			} else {
				gn++
			}
		}
		u += gp * (negBelow + gn/2)
		negBelow += gn
		pos += gp
		neg += gn
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0, ErrSingleClass
	}
	return u / (pos * neg), nil
}

// LogLoss is the mean binary cross-entropy of probabilities, clipped to
// [1e-15, 1-1e-15].
func LogLoss(labels []float32, probs []float64) (float64, error) {
	if err := checkLen(len(labels), len(probs)); err != nil {
		return 0, err
	}
	var sum float64
	for i, p := range probs {
		p = clip(p)
		if labels[i] > 0.5 {
			sum -= math.Log(p)
		} else {
			sum -= math.Log(1 - p)
		}
	}
	return sum / float64(len(probs)), nil
}

func clip(p float64) float64 {
	const eps = 1e-15
	return math.Min(math.Max(p, eps), 1-eps)
}

// MultiLogLoss is the mean cross-entropy of class probabilities, row-major
// with k columns, against integer class labels.
func MultiLogLoss(labels []float32, probs []float64, k int) (float64, error) {
	if err := checkLen(len(labels)*k, len(probs)); err != nil {
		return 0, err
	}
	var sum float64
	for i, l := range labels {
		c := int(l)
		if c < 0 || c >= k {
			return 0, fmt.Errorf("metrics: label %v of row %d is not a class in [0,%d)", l, i, k)
		}
		sum -= math.Log(clip(probs[i*k+c]))
	}
	return sum / float64(len(labels)), nil
}

// Confusion counts a binary classifier's outcomes at a threshold.
type Confusion struct {
	TP, FP, TN, FN int
}

// BinaryConfusion thresholds probabilities: p >= threshold predicts 1.
func BinaryConfusion(labels []float32, probs []float64, threshold float64) (Confusion, error) {
	var c Confusion
	if err := checkLen(len(labels), len(probs)); err != nil {
		return c, err
	}
	for i, p := range probs {
		pred, actual := p >= threshold, labels[i] > 0.5
		switch {
		case pred && actual:
			c.TP++
		case pred:
			c.FP++
		case actual:
			c.FN++
		default:
			c.TN++
		}
	}
	return c, nil
}

// Accuracy is the share of correct predictions.
func (c Confusion) Accuracy() float64 {
	return ratio(c.TP+c.TN, c.TP+c.TN+c.FP+c.FN)
}

// Precision is TP / (TP + FP); zero when nothing is predicted positive.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP / (TP + FN); zero when there are no positives.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall.
func (c Confusion) F1() float64 {
	p, r := c.Precision(), c.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Regression holds the regression metrics.
type Regression struct {
	RMSE, MAE, R2 float64
}

// RegressionMetrics compares predictions with targets. R² is 1 - SSE/SST; it
// is 0 when the targets are constant and predicted exactly, else -Inf.
func RegressionMetrics(labels []float32, preds []float64) (Regression, error) {
	if err := checkLen(len(labels), len(preds)); err != nil {
		return Regression{}, err
	}
	var mean float64
	for _, l := range labels {
		mean += float64(l)
	}
	mean /= float64(len(labels))
	var sse, sae, sst float64
	for i, p := range preds {
		d := p - float64(labels[i])
		sse += d * d
		sae += math.Abs(d)
		t := float64(labels[i]) - mean
		sst += t * t
	}
	n := float64(len(labels))
	r := Regression{RMSE: math.Sqrt(sse / n), MAE: sae / n}
	switch {
	case sst > 0:
		r.R2 = 1 - sse/sst
	case sse == 0:
		r.R2 = 0
	default:
		r.R2 = math.Inf(-1)
	}
	return r, nil
}

// ClassReport is one class's one-vs-rest metrics in a multiclass problem.
type ClassReport struct {
	Class     int
	Support   int
	Precision float64
	Recall    float64
	F1        float64
}

// Multiclass holds the multiclass metrics.
type Multiclass struct {
	Accuracy float64
	LogLoss  float64
	// MacroF1 is the unweighted mean of the per-class F1 scores.
	MacroF1  float64
	PerClass []ClassReport
}

// MulticlassMetrics scores row-major class probabilities (k per row): the
// predicted class is the most probable one.
func MulticlassMetrics(labels []float32, probs []float64, k int) (Multiclass, error) {
	var m Multiclass
	ll, err := MultiLogLoss(labels, probs, k)
	if err != nil {
		return m, err
	}
	m.LogLoss = ll
	conf := make([]Confusion, k)
	correct := 0
	for i, l := range labels {
		row := probs[i*k : (i+1)*k]
		pred := 0
		for c := 1; c < k; c++ {
			if row[c] > row[pred] {
				pred = c
			}
		}
		actual := int(l)
		if pred == actual {
			correct++
		}
		for c := range k {
			switch {
			case pred == c && actual == c:
				conf[c].TP++
			case pred == c:
				conf[c].FP++
			case actual == c:
				conf[c].FN++
			default:
				conf[c].TN++
			}
		}
	}
	m.Accuracy = float64(correct) / float64(len(labels))
	for c, cc := range conf {
		r := ClassReport{Class: c, Support: cc.TP + cc.FN, Precision: cc.Precision(), Recall: cc.Recall(), F1: cc.F1()}
		m.PerClass = append(m.PerClass, r)
		m.MacroF1 += r.F1 / float64(k)
	}
	return m, nil
}

// Evaluate computes the standard metrics of a task, by name: auc, logloss,
// accuracy, precision, recall and f1 (at 0.5) for binary; rmse, mae and r2
// for regression; accuracy, logloss and macro_f1 for multiclass. preds are
// row-major outputs: k per row (1 unless multiclass).
func Evaluate(task string, labels []float32, preds []float64, k int) (map[string]float64, error) {
	out := map[string]float64{}
	switch task {
	case "binary":
		if auc, err := AUC(labels, preds); err == nil {
			out["auc"] = auc
		} else if !errors.Is(err, ErrSingleClass) {
			return nil, err
		}
		ll, err := LogLoss(labels, preds)
		if err != nil {
			return nil, err
		}
		c, _ := BinaryConfusion(labels, preds, 0.5)
		out["logloss"], out["accuracy"], out["precision"], out["recall"], out["f1"] = ll, c.Accuracy(), c.Precision(), c.Recall(), c.F1()
	case "regression":
		r, err := RegressionMetrics(labels, preds)
		if err != nil {
			return nil, err
		}
		out["rmse"], out["mae"] = r.RMSE, r.MAE
		if !math.IsInf(r.R2, 0) {
			out["r2"] = r.R2
		}
	case "multiclass":
		m, err := MulticlassMetrics(labels, preds, k)
		if err != nil {
			return nil, err
		}
		out["accuracy"], out["logloss"], out["macro_f1"] = m.Accuracy, m.LogLoss, m.MacroF1
	default:
		return nil, fmt.Errorf("metrics: unknown task %q", task)
	}
	return out, nil
}
