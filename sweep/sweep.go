// Package sweep turns a model's search space into trial parameters: every
// combination (grid search) or a seeded random sample (random search).
// Expansion is deterministic, so workflow code may call it.
package sweep

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Methods of search.
const (
	Grid   = "grid"
	Random = "random"
)

// Search says how to explore a space.
type Search struct {
	// Method is grid (the default) or random.
	Method string
	// Trials is the number of random trials.
	Trials int
	// Seed fixes the random sample; the same seed gives the same trials.
	Seed int64
	// MaxTrials caps the trials a sweep may have; 0 means
	// DefaultMaxTrials, and no more than MostTrials may be asked for.
	MaxTrials int
}

// DefaultMaxTrials caps a sweep unless its search raises the cap: a grid
// of 6 parameters of 10 values is a million trials, days of training that
// a typo can ask for.
const DefaultMaxTrials = 1000

// MostTrials is the highest cap a search may set.
const MostTrials = 100_000

// Cap is the most trials the search allows.
func (s Search) Cap() int {
	if s.MaxTrials > 0 {
		return s.MaxTrials
	}
	return DefaultMaxTrials
}

// Count is how many trials a space gives, without expanding it: the
// grid's product, or the random search's trials (the random search may
// run fewer, when the space is smaller). A grid past MostTrials counts as
// MostTrials+1, so the product cannot overflow.
func Count(space map[string][]string, s Search) int {
	if s.Method == Random {
		return s.Trials
	}
	n := 1
	for _, k := range sortedKeys(space) {
		n *= max(len(space[k]), 1)
		if n > MostTrials {
			return MostTrials + 1
		}
	}
	return n
}

// ValidateCount checks that the space's trials fit the search's cap.
func ValidateCount(space map[string][]string, s Search) error {
	if s.MaxTrials < 0 || s.MaxTrials > MostTrials {
		return fmt.Errorf("max_trials %d: want 1 to %d", s.MaxTrials, MostTrials)
	}
	if n := Count(space, s); n > s.Cap() {
		shown := strconv.Itoa(n)
		if n > MostTrials {
			shown = "more than " + strconv.Itoa(MostTrials)
		}
		return fmt.Errorf("%s trials, over the cap of %d: narrow the sweep, use a random search, or raise search.max_trials", shown, s.Cap())
	}
	return nil
}

// Distribution is a continuous or integer range a random search draws
// from: uniform(a, b), loguniform(a, b) or int(a, b) (both ends
// included).
type Distribution struct {
	Kind string
	Low  float64
	High float64
}

// ParseDistribution reads a distribution; ok is false when s is not
// written as one (a plain value), and err says what is wrong with one
// that is.
func ParseDistribution(s string) (d Distribution, ok bool, err error) {
	s = strings.TrimSpace(s)
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return d, false, nil
	}
	if !strings.HasSuffix(s, ")") {
		return d, true, fmt.Errorf("%q is cut short; inside a YAML {…} map quote it whole: \"loguniform(0.01, 0.3)\"", s)
	}
	d.Kind = strings.TrimSpace(s[:open])
	switch d.Kind {
	case "uniform", "loguniform", "int":
	default:
		return d, true, fmt.Errorf("%q: want uniform(a, b), loguniform(a, b) or int(a, b)", s)
	}
	args := strings.Split(s[open+1:len(s)-1], ",")
	if len(args) != 2 {
		return d, true, fmt.Errorf("%q: want two bounds", s)
	}
	if d.Low, err = strconv.ParseFloat(strings.TrimSpace(args[0]), 64); err == nil {
		d.High, err = strconv.ParseFloat(strings.TrimSpace(args[1]), 64)
	}
	switch {
	case err != nil:
		return d, true, fmt.Errorf("%q: bounds must be numbers", s)
	case math.IsNaN(d.Low) || math.IsNaN(d.High) || math.IsInf(d.Low, 0) || math.IsInf(d.High, 0):
		return d, true, fmt.Errorf("%q: bounds must be finite", s)
	case d.Kind == "int" && (d.Low != math.Trunc(d.Low) || d.High != math.Trunc(d.High)):
		return d, true, fmt.Errorf("%q: int bounds must be whole numbers", s)
	case d.Kind == "int" && d.Low > d.High, d.Kind != "int" && d.Low >= d.High:
		return d, true, fmt.Errorf("%q: the low bound must be below the high one", s)
	case d.Kind == "loguniform" && d.Low <= 0:
		return d, true, fmt.Errorf("%q: loguniform bounds must be positive", s)
	}
	return d, true, nil
}

// draw samples the distribution.
func (d Distribution) draw(r *rand.Rand) string {
	switch d.Kind {
	case "int":
		return strconv.FormatInt(int64(d.Low)+r.Int64N(int64(d.High-d.Low)+1), 10)
	case "loguniform":
		v := math.Exp(math.Log(d.Low) + r.Float64()*(math.Log(d.High)-math.Log(d.Low)))
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(d.Low+r.Float64()*(d.High-d.Low), 'g', 4, 64)
}

// Validate checks a space for a search: a grid takes lists of values
// only; a random search takes lists and distributions, and a trial count.
func Validate(space map[string][]string, s Search) error {
	if err := ValidateSearch(s); err != nil {
		return err
	}
	for _, k := range sortedKeys(space) {
		if err := ValidateParam(space[k], s); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// ValidateSearch checks the method and the trial count.
func ValidateSearch(s Search) error {
	switch s.Method {
	case "", Grid:
	case Random:
		if s.Trials < 1 {
			return fmt.Errorf("a random search needs trials ≥ 1")
		}
	default:
		return fmt.Errorf("search method %q: want grid or random", s.Method)
	}
	return nil
}

// ValidateParam checks one parameter's values.
func ValidateParam(values []string, s Search) error {
	if len(values) == 0 {
		return fmt.Errorf("want a list of values to try")
	}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return fmt.Errorf("an empty value")
		}
		_, isDist, err := ParseDistribution(v)
		if err != nil {
			return err
		}
		if isDist && (s.Method != Random || len(values) != 1) {
			return fmt.Errorf("a distribution like %s is for a random search, on its own", v)
		}
	}
	return nil
}

// Range is trials [lo, hi) of Trials, computed without expanding the
// rest of a grid (a random search, at most its cap, is drawn whole).
func Range(base map[string]string, space map[string][]string, s Search, lo, hi int) ([]map[string]string, error) {
	if err := Validate(space, s); err != nil {
		return nil, err
	}
	if s.Method == Random {
		all := random(base, space, s)
		return all[min(lo, len(all)):min(hi, len(all))], nil
	}
	keys := sortedKeys(space)
	var out []map[string]string
	for i := lo; i < hi; i++ {
		t := clone(base)
		// The grid's order: the last parameter name varies fastest.
		rest := i
		for j := len(keys) - 1; j >= 0; j-- {
			vs := space[keys[j]]
			t[keys[j]] = vs[rest%len(vs)]
			rest /= len(vs)
		}
		out = append(out, t)
	}
	return out, nil
}

// Trials expands a space into each trial's parameters, base overridden
// by the trial's values. A grid gives every combination in an order fixed
// by the sorted parameter names; a random search gives s.Trials distinct
// draws (fewer when the space is smaller), the same for the same seed.
func Trials(base map[string]string, space map[string][]string, s Search) ([]map[string]string, error) {
	if err := Validate(space, s); err != nil {
		return nil, err
	}
	if s.Method == Random {
		return random(base, space, s), nil
	}
	return grid(base, space), nil
}

func grid(base map[string]string, space map[string][]string) []map[string]string {
	trials := []map[string]string{clone(base)}
	for _, k := range sortedKeys(space) {
		var next []map[string]string
		for _, t := range trials {
			for _, v := range space[k] {
				c := clone(t)
				c[k] = v
				next = append(next, c)
			}
		}
		trials = next
	}
	return trials
}

func random(base map[string]string, space map[string][]string, s Search) []map[string]string {
	keys := sortedKeys(space)
	dists := make(map[string]Distribution)
	for _, k := range keys {
		if d, ok, _ := ParseDistribution(space[k][0]); ok {
			dists[k] = d
		}
	}
	r := rand.New(rand.NewPCG(uint64(s.Seed), 0x5eed))
	seen := make(map[string]bool)
	var trials []map[string]string
	// A finite space smaller than the trials asked for runs out of new
	// combinations: stop after enough repeats in a row.
	for misses := 0; len(trials) < s.Trials && misses < 100; {
		t := clone(base)
		var id strings.Builder
		for _, k := range keys {
			if d, ok := dists[k]; ok {
				t[k] = d.draw(r)
			} else {
				t[k] = space[k][r.IntN(len(space[k]))]
			}
			id.WriteString(t[k])
			id.WriteByte(0)
		}
		if seen[id.String()] {
			misses++
			continue
		}
		misses = 0
		seen[id.String()] = true
		trials = append(trials, t)
	}
	return trials
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		out[k] = m[k]
	}
	return out
}

// sortedKeys gives a map's keys in order; workflow code iterates no map
// directly. The sort makes the map's iteration order irrelevant.
//
//workflowcheck:ignore
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
