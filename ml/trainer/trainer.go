// Package trainer turns a training request — a task, an algorithm and
// parameters by name — into a finished artifact: the model, its metrics on
// held-out data and its reference histograms. The CLI and the training
// activities share it.
package trainer

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-ml/sluice/ml"
	"github.com/sluice-ml/sluice/ml/artifact"
	"github.com/sluice-ml/sluice/ml/gbdt"
	"github.com/sluice-ml/sluice/ml/linear"
	"github.com/sluice-ml/sluice/ml/metrics"
)

// Spec is what to train.
type Spec struct {
	Task      ml.Task
	Algorithm artifact.Algorithm
	// Label names the label column, for the artifact.
	Label string
	// Params are algorithm parameters by name (gbdt: trees, learning_rate,
	// max_depth, max_leaves, min_child_weight, lambda, min_split_gain,
	// subsample, colsample, max_bins, early_stopping_rounds, seed,
	// threads, quantized_gradients, max_cat_to_onehot, max_cat_threshold,
	// cat_smooth, cat_l2; linear: l2, max_iter, tol, threads).
	Params map[string]string
	// Now stamps the artifact; nil means time.Now.
	Now func() time.Time
	// Resume continues gbdt training from a checkpoint of the same data
	// and parameters; OnRound sees every round's checkpoint (an error
	// stops training), those of the refit on every row too when defaults
	// held rows out (see AutoStopping; never when resuming).
	Resume  *gbdt.Checkpoint
	OnRound func(*gbdt.Checkpoint) error
	// Engine grows gbdt trees (package gpu's on a GPU); nil is the CPU.
	Engine gbdt.Engine
}

// GBDTParams reads gbdt parameters by name over the defaults (learning
// rate 0.1 rather than XGBoost's 0.3, as the design's examples use).
func GBDTParams(task ml.Task, numClass int, kv map[string]string) (gbdt.Params, error) {
	p := gbdt.DefaultParams()
	p.Task, p.NumClass, p.LearningRate = task, numClass, 0.1
	for _, k := range sortedKeys(kv) {
		v := kv[k]
		var err error
		switch k {
		case "trees", "n_estimators", "num_boost_round":
			p.Trees, err = strconv.Atoi(v)
		case "learning_rate", "eta":
			p.LearningRate, err = strconv.ParseFloat(v, 64)
		case "max_depth":
			p.MaxDepth, err = strconv.Atoi(v)
		case "max_leaves":
			p.MaxLeaves, err = strconv.Atoi(v)
		case "min_child_weight":
			p.MinChildWeight, err = strconv.ParseFloat(v, 64)
		case "lambda", "reg_lambda":
			p.Lambda, err = strconv.ParseFloat(v, 64)
		case "min_split_gain", "gamma":
			p.MinSplitGain, err = strconv.ParseFloat(v, 64)
		case "subsample":
			p.Subsample, err = strconv.ParseFloat(v, 64)
		case "colsample", "colsample_bytree":
			p.Colsample, err = strconv.ParseFloat(v, 64)
		case "max_bins", "max_bin":
			p.MaxBins, err = strconv.Atoi(v)
		case "early_stopping_rounds":
			p.EarlyStoppingRounds, err = strconv.Atoi(v)
		case "seed":
			p.Seed, err = strconv.ParseUint(v, 10, 64)
		case "threads", "nthread":
			p.Threads, err = strconv.Atoi(v)
		case "quantized_gradients", "use_quantized_grad":
			p.QuantizedGradients, err = strconv.ParseBool(v)
		case "max_cat_to_onehot":
			p.MaxCatToOnehot, err = strconv.Atoi(v)
		case "max_cat_threshold":
			p.MaxCatThreshold, err = strconv.Atoi(v)
		case "cat_smooth":
			p.CatSmooth, err = strconv.ParseFloat(v, 64)
		case "cat_l2":
			p.CatL2, err = strconv.ParseFloat(v, 64)
		default:
			return p, fmt.Errorf("unknown gbdt parameter %q", k)
		}
		if err != nil {
			return p, fmt.Errorf("parameter %s=%q: %w", k, v, err)
		}
	}
	return p, p.Validate()
}

// LinearParams reads linear parameters by name over the defaults.
func LinearParams(task ml.Task, numClass int, kv map[string]string) (linear.Params, error) {
	p := linear.DefaultParams()
	p.Task, p.NumClass = task, numClass
	for _, k := range sortedKeys(kv) {
		v := kv[k]
		var err error
		switch k {
		case "l2", "lambda":
			p.L2, err = strconv.ParseFloat(v, 64)
		case "c", "C":
			var c float64
			if c, err = strconv.ParseFloat(v, 64); err == nil {
				p.L2 = 1 / c
			}
		case "max_iter":
			p.MaxIter, err = strconv.Atoi(v)
		case "tol":
			p.Tol, err = strconv.ParseFloat(v, 64)
		case "threads":
			p.Threads, err = strconv.Atoi(v)
		default:
			return p, fmt.Errorf("unknown linear parameter %q", k)
		}
		if err != nil {
			return p, fmt.Errorf("parameter %s=%q: %w", k, v, err)
		}
	}
	return p, p.Validate()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// NumClass is the class count a multiclass dataset needs: the class names
// when it has them, else the largest label plus one.
func NumClass(d *ml.Dataset) int {
	if len(d.Classes) > 0 {
		return len(d.Classes)
	}
	k := 0
	for _, l := range d.Labels {
		if !math.IsNaN(float64(l)) {
			k = max(k, int(l)+1)
		}
	}
	return k
}

// Split holds out a deterministic random share of rows for validation.
func Split(d *ml.Dataset, fraction float64, seed uint64) (train, valid *ml.Dataset, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("validation fraction %v: want a number in (0, 1)", fraction)
	}
	n := d.Rows()
	rng := rand.New(rand.NewPCG(seed, 0xfeed))
	perm := rng.Perm(n)
	nv := int(math.Round(fraction * float64(n)))
	if nv < 1 || nv >= n {
		return nil, nil, fmt.Errorf("validation fraction %v of %d rows leaves an empty side", fraction, n)
	}
	train, valid = Take(d, perm[nv:]), Take(d, perm[:nv])
	return train, valid, nil
}

// Take returns the given rows of d, in ascending order (it sorts rows), as
// a new dataset.
func Take(d *ml.Dataset, rows []int) *ml.Dataset {
	slices.Sort(rows)
	out := &ml.Dataset{Classes: d.Classes}
	for _, f := range d.Features {
		g := f
		g.Values = make([]float32, len(rows))
		for i, r := range rows {
			g.Values[i] = f.Values[r]
		}
		out.Features = append(out.Features, g)
	}
	if d.Labels != nil {
		out.Labels = make([]float32, len(rows))
		for i, r := range rows {
			out.Labels[i] = d.Labels[r]
		}
	}
	return out
}

// Columns is the dataset's schema, for reading later data the same way.
func Columns(d *ml.Dataset) []ml.Column {
	cols := make([]ml.Column, len(d.Features))
	for i, f := range d.Features {
		cols[i] = ml.Column{Name: f.Name, Kind: f.Kind, Categories: f.Categories}
	}
	return cols
}

// ArtifactColumns turns an artifact's features back into a schema.
func ArtifactColumns(a *artifact.Artifact) []ml.Column {
	cols := make([]ml.Column, len(a.Features))
	for i, f := range a.Features {
		kind := ml.Numeric
		if f.Kind == "categorical" {
			kind = ml.Categorical
		}
		cols[i] = ml.Column{Name: f.Name, Kind: kind, Categories: f.Categories}
	}
	return cols
}

func features(d *ml.Dataset) []artifact.Feature {
	out := make([]artifact.Feature, len(d.Features))
	for i, f := range d.Features {
		kind := "numeric"
		if f.Kind == ml.Categorical {
			kind = "categorical"
		}
		out[i] = artifact.Feature{Name: f.Name, Kind: kind, Categories: f.Categories}
	}
	return out
}

// Columns2D returns the dataset's feature columns.
func Columns2D(d *ml.Dataset) [][]float32 {
	c := make([][]float32, len(d.Features))
	for i := range c {
		c[i] = d.Features[i].Values
	}
	return c
}

// Early stopping by default: when a gbdt spec names neither trees nor
// early_stopping_rounds, training grows up to AutoTrees rounds and stops
// when the validation loss has not improved for AutoPatience rounds, on
// the validation set given or, with none, on AutoValidFraction of the
// training rows held out (seeded). Below autoMinRows rows there is too
// little to hold out, and it grows autoSmallTrees rounds; up to
// autoRefitRows, the held-out rows are then trained on too.
const (
	AutoTrees         = 1000
	AutoPatience      = 50
	AutoValidFraction = 0.2
	autoMinRows       = 50
	autoSmallTrees    = 100
	// autoRefitRows: up to this many rows, the model is then grown again
	// on every row, for as many rounds per row as early stopping chose.
	autoRefitRows = 100_000
)

// AutoStopping says whether gbdt parameters leave the number of trees to
// early stopping.
func AutoStopping(params map[string]string) bool {
	for _, k := range []string{"trees", "n_estimators", "num_boost_round", "early_stopping_rounds"} {
		if _, ok := params[k]; ok {
			return false
		}
	}
	return true
}

// Train fits the model, measures it on valid (on the held-out rows, when
// it held some out for early stopping; else on train) and packs the
// artifact.
func Train(ctx context.Context, train, valid *ml.Dataset, s Spec) (*artifact.Artifact, error) {
	numClass := 0
	if s.Task == ml.Multiclass {
		numClass = NumClass(train)
		if valid != nil {
			numClass = max(numClass, NumClass(valid))
		}
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	a := &artifact.Artifact{Task: s.Task, Algorithm: s.Algorithm, Features: features(train), Label: s.Label,
		Classes: train.Classes, Params: s.Params, CreatedAt: now().UTC(), Source: "sluice"}
	// held are rows of train held out for early stopping, when no
	// validation set was given; refit is set when the model was then grown
	// again on every row, and a.Metrics are already the held-out rows'.
	var held *ml.Dataset
	var refit bool
	switch s.Algorithm {
	case artifact.GBDT:
		var err error
		if held, refit, err = fitGBDT(ctx, a, train, valid, s, numClass); err != nil {
			return nil, err
		}
	case artifact.Linear:
		p, err := LinearParams(s.Task, numClass, s.Params)
		if err != nil {
			return nil, err
		}
		m, err := linear.Train(ctx, train, p)
		if err != nil {
			return nil, err
		}
		a.Linear = m
	default:
		return nil, fmt.Errorf("unknown algorithm %q (want gbdt or linear)", s.Algorithm)
	}
	trainPreds, err := a.Predict(Columns2D(train), 0)
	if err != nil {
		return nil, err
	}
	a.Reference = artifact.NewReference(train, trainPreds, a.Outputs())
	switch {
	case refit:
		a.EvaluatedOn = fmt.Sprintf("%d training rows held out for early stopping, by the model before it was grown again on every row", held.Rows())
		return a, nil
	case valid != nil:
		a.Metrics, err = evaluate(a, valid)
		a.EvaluatedOn = "validation data"
	case held != nil:
		a.Metrics, err = evaluate(a, held)
		a.EvaluatedOn = fmt.Sprintf("%d training rows held out for early stopping", held.Rows())
	default:
		a.Metrics, err = metrics.Evaluate(string(s.Task), train.Labels, trainPreds, a.Outputs())
		a.EvaluatedOn = "training data"
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// evaluate is the artifact's metrics on d.
func evaluate(a *artifact.Artifact, d *ml.Dataset) (map[string]float64, error) {
	preds, err := a.Predict(Columns2D(d), 0)
	if err != nil {
		return nil, err
	}
	return metrics.Evaluate(string(a.Task), d.Labels, preds, a.Outputs())
}

// fitGBDT fits a's tree model on train: on the validation set or held-out
// rows for early stopping when the defaults ask for it (AutoStopping),
// and again on every row for small data, in which case refit is set and
// a.Metrics are already the held-out rows'.
func fitGBDT(ctx context.Context, a *artifact.Artifact, train, valid *ml.Dataset, s Spec, numClass int) (held *ml.Dataset, refit bool, err error) {
	p, err := GBDTParams(s.Task, numClass, s.Params)
	if err != nil {
		return nil, false, err
	}
	fit := train
	if AutoStopping(s.Params) {
		p.Trees, p.EarlyStoppingRounds = AutoTrees, AutoPatience
		if _, ok := s.Params["learning_rate"]; !ok {
			if _, ok := s.Params["eta"]; !ok {
				p.LearningRate = 0.05
			}
		}
		switch {
		case valid != nil:
		case train.Rows() >= autoMinRows:
			if fit, held, err = Split(train, AutoValidFraction, p.Seed); err != nil {
				return nil, false, err
			}
		default: // too few rows to hold any out
			p.Trees, p.EarlyStoppingRounds = autoSmallTrees, 0
		}
	}
	stopOn := valid
	if held != nil {
		stopOn = held
	}
	m, err := gbdt.Train(ctx, fit, p, gbdt.Options{Valid: stopOn, Resume: s.Resume, OnRound: s.OnRound, Engine: s.Engine})
	if err != nil {
		return nil, false, err
	}
	if held != nil && train.Rows() <= autoRefitRows && s.Resume == nil {
		// Small data: the held-out rows are worth training on. Measure
		// the early-stopped model on them, then grow the same number
		// of rounds per row on every row.
		a.GBDT = m
		if a.Metrics, err = evaluate(a, held); err != nil {
			return nil, false, err
		}
		p.Trees = max(1, int(math.Round(float64(m.BestRound)*float64(train.Rows())/float64(fit.Rows()))))
		p.EarlyStoppingRounds = 0
		// A new CPU engine: Train closed the first.
		if m, err = gbdt.Train(ctx, train, p, gbdt.Options{OnRound: s.OnRound}); err != nil {
			return nil, false, err
		}
		refit = true
	}
	a.GBDT = m
	return held, refit, nil
}
