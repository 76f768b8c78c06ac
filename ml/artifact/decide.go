package artifact

import (
	"fmt"
	"slices"

	"github.com/sluice-ml/sluice/ml"
)

// Decide turns the model's raw outputs for n rows (Outputs() values per
// row) into a score and, for classifiers, a label per row: the binary
// label is the positive class at probability ≥ 0.5, the multiclass one
// the most probable class. The score is the positive class's probability
// (binary), the predicted class's (multiclass) or the prediction
// (regression); labels index classes, which is nil for regression.
func (a *Artifact) Decide(preds []float64, n int) (score []float64, label []int32, classes []string) {
	k := a.Outputs()
	classes = a.Classes
	switch a.Task {
	case ml.Binary:
		label = make([]int32, n)
		for i, p := range preds[:n] {
			if p >= 0.5 {
				label[i] = 1
			}
		}
		if len(classes) < 2 {
			classes = []string{"0", "1"}
		}
		return preds[:n], label, classes
	case ml.Multiclass:
		score, label = make([]float64, n), make([]int32, n)
		for r := range n {
			row := preds[r*k : (r+1)*k]
			best := 0
			for j := 1; j < k; j++ {
				if row[j] > row[best] {
					best = j
				}
			}
			score[r], label[r] = row[best], int32(best)
		}
		if len(classes) < k {
			// The artifact's own slice is shared by concurrent callers:
			// name the missing classes in a copy.
			classes = slices.Clip(slices.Clone(classes))
			for len(classes) < k {
				classes = append(classes, fmt.Sprint(len(classes)))
			}
		}
		return score, label, classes
	}
	return preds[:n], nil, nil
}
