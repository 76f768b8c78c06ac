package gbdt

import (
	"fmt"
	"math"

	"github.com/sluice-ml/sluice/ml"
)

// Params are the training parameters; names follow XGBoost's.
type Params struct {
	Task     ml.Task
	NumClass int // classes, for multiclass
	// Trees is the number of boosting rounds.
	Trees        int
	LearningRate float64
	// MaxDepth limits depth; 0 means no limit (MaxLeaves must be set).
	MaxDepth int
	// MaxLeaves > 0 grows leaf-wise (best leaf first) up to that many
	// leaves; 0 grows depth-wise, level by level.
	MaxLeaves      int
	MinChildWeight float64
	Lambda         float64
	// MinSplitGain is the loss reduction a split needs (XGBoost's gamma).
	MinSplitGain float64
	// Subsample is the share of rows each tree sees.
	Subsample float64
	// Colsample is the share of features each tree may split on.
	Colsample float64
	// MaxBins caps the histogram bins per feature (at most 255).
	MaxBins int
	// EarlyStoppingRounds stops training when the validation loss has not
	// improved for that many rounds; 0 disables it.
	EarlyStoppingRounds int
	Seed                uint64
	// Threads is the worker count; 0 means GOMAXPROCS. Results do not
	// depend on it.
	Threads int
	// QuantizedGradients builds histograms of gradients rounded to
	// integers (stochastically, so without bias; up to 2^15 levels, fewer
	// past 65k rows so that a node's sums fit 32 bits), as LightGBM 4's
	// use_quantized_grad: a bin is one integer add, about a fifth faster
	// in all, with splits and leaf values that differ from exact ones by
	// the rounding. Engines without it (the GPU's) use exact gradients.
	QuantizedGradients bool
	// MaxCatToOnehot, MaxCatThreshold, CatSmooth and CatL2 shape the
	// splits of categorical features (see CatParams).
	MaxCatToOnehot  int
	MaxCatThreshold int
	CatSmooth       float64
	CatL2           float64
}

// DefaultParams are XGBoost's defaults with 100 trees, quantized
// gradients, and LightGBM's regularization of categorical splits.
func DefaultParams() Params {
	return Params{
		QuantizedGradients: true,
		MaxCatToOnehot:     4,
		MaxCatThreshold:    32,
		CatSmooth:          10,
		CatL2:              10,
		Task:               ml.Binary,
		Trees:              100,
		LearningRate:       0.3,
		MaxDepth:           6,
		MinChildWeight:     1,
		Lambda:             1,
		Subsample:          1,
		Colsample:          1,
		MaxBins:            255,
	}
}

// Validate reports the first invalid parameter.
func (p Params) Validate() error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("gbdt: %s = %v; want %s", name, v, want)
	}
	switch {
	case p.Task != ml.Binary && p.Task != ml.Regression && p.Task != ml.Multiclass:
		return bad("task", p.Task, "binary, regression or multiclass")
	case p.Task == ml.Multiclass && p.NumClass < 2:
		return bad("num_class", p.NumClass, "at least 2 for multiclass")
	case p.Trees < 1:
		return bad("trees", p.Trees, "at least 1")
	case !(p.LearningRate > 0) || math.IsInf(p.LearningRate, 0):
		return bad("learning_rate", p.LearningRate, "a positive number")
	case p.MaxDepth < 0 || p.MaxDepth > 30:
		return bad("max_depth", p.MaxDepth, "0 to 30")
	case p.MaxLeaves < 0 || p.MaxLeaves == 1:
		return bad("max_leaves", p.MaxLeaves, "0 (depth-wise) or at least 2")
	case p.MaxDepth == 0 && p.MaxLeaves == 0:
		return bad("max_depth", p.MaxDepth, "a limit when max_leaves is 0")
	case p.MinChildWeight < 0 || math.IsNaN(p.MinChildWeight):
		return bad("min_child_weight", p.MinChildWeight, "zero or more")
	case p.Lambda < 0 || math.IsNaN(p.Lambda):
		return bad("lambda", p.Lambda, "zero or more")
	case p.MinSplitGain < 0 || math.IsNaN(p.MinSplitGain):
		return bad("min_split_gain", p.MinSplitGain, "zero or more")
	case !(p.Subsample > 0 && p.Subsample <= 1):
		return bad("subsample", p.Subsample, "in (0, 1]")
	case !(p.Colsample > 0 && p.Colsample <= 1):
		return bad("colsample", p.Colsample, "in (0, 1]")
	case p.MaxBins < 2 || p.MaxBins > 255:
		return bad("max_bins", p.MaxBins, "2 to 255")
	case p.EarlyStoppingRounds < 0:
		return bad("early_stopping_rounds", p.EarlyStoppingRounds, "zero or more")
	case p.Threads < 0:
		return bad("threads", p.Threads, "zero or more")
	case p.MaxCatToOnehot < 0:
		return bad("max_cat_to_onehot", p.MaxCatToOnehot, "zero or more")
	case p.MaxCatThreshold < 0:
		return bad("max_cat_threshold", p.MaxCatThreshold, "zero or more")
	case p.CatSmooth < 0 || math.IsNaN(p.CatSmooth):
		return bad("cat_smooth", p.CatSmooth, "zero or more")
	case p.CatL2 < 0 || math.IsNaN(p.CatL2):
		return bad("cat_l2", p.CatL2, "zero or more")
	}
	return nil
}

func (p Params) outputs() int {
	if p.Task == ml.Multiclass {
		return p.NumClass
	}
	return 1
}

func (p Params) catParams() CatParams {
	return CatParams{MaxCatToOnehot: p.MaxCatToOnehot, MaxCatThreshold: p.MaxCatThreshold, CatSmooth: p.CatSmooth, CatL2: p.CatL2}
}
