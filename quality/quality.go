// Package quality evaluates data-quality checks on a source's rows: not
// null, unique, within a range, among allowed values, and fresh (the newest
// event recent enough). Each check warns or fails.
package quality

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Check is one rule on one column. Exactly one of the rule fields is set.
type Check struct {
	Column  string
	NotNull bool
	Unique  bool
	Min     *float64
	Max     *float64
	Allowed []string
	// Freshness: the newest value of the (timestamp) column is no older.
	Freshness time.Duration
	// Level is "fail" (the default: the run fails) or "warn".
	Level string
}

// Name describes the check, like "not_null(customer_id)".
func (c Check) Name() string {
	switch {
	case c.NotNull:
		return "not_null(" + c.Column + ")"
	case c.Unique:
		return "unique(" + c.Column + ")"
	case c.Min != nil || c.Max != nil:
		lo, hi := "-inf", "+inf"
		if c.Min != nil {
			lo = fmt.Sprint(*c.Min)
		}
		if c.Max != nil {
			hi = fmt.Sprint(*c.Max)
		}
		return fmt.Sprintf("range(%s, %s..%s)", c.Column, lo, hi)
	case len(c.Allowed) > 0:
		return fmt.Sprintf("allowed(%s: %s)", c.Column, strings.Join(c.Allowed, ", "))
	case c.Freshness > 0:
		return fmt.Sprintf("freshness(%s, %s)", c.Column, c.Freshness)
	}
	return "unknown(" + c.Column + ")"
}

// Result is a check's outcome on a run.
type Result struct {
	Check      string
	Level      string
	Passed     bool
	Violations int64
	Detail     string
}

// Evaluator accumulates checks over record batches.
type Evaluator struct {
	checks []Check
	state  []state
}

type state struct {
	violations int64
	seen       map[string]struct{}
	newest     time.Time
	rows       int64
	missing    bool // the column is not in the data
}

// NewEvaluator prepares the checks.
func NewEvaluator(checks []Check) *Evaluator {
	e := &Evaluator{checks: checks, state: make([]state, len(checks))}
	for i, c := range checks {
		if c.Unique {
			e.state[i].seen = map[string]struct{}{}
		}
	}
	return e
}

// Observe feeds a batch of rows.
func (e *Evaluator) Observe(rec arrow.RecordBatch) {
	for i, c := range e.checks {
		st := &e.state[i]
		idx := rec.Schema().FieldIndices(c.Column)
		if len(idx) == 0 {
			st.missing = true
			continue
		}
		col := rec.Column(idx[0])
		st.rows += int64(col.Len())
		for r := range col.Len() {
			if col.IsNull(r) {
				if c.NotNull {
					st.violations++
				}
				continue
			}
			switch {
			case c.Unique:
				k := col.ValueStr(r)
				if _, dup := st.seen[k]; dup {
					st.violations++
				} else {
					st.seen[k] = struct{}{}
				}
			case c.Min != nil || c.Max != nil:
				v, ok := number(col, r)
				if !ok || (c.Min != nil && v < *c.Min) || (c.Max != nil && v > *c.Max) {
					st.violations++
				}
			case len(c.Allowed) > 0:
				if !slices.Contains(c.Allowed, col.ValueStr(r)) {
					st.violations++
				}
			case c.Freshness > 0:
				if ts, ok := col.(*array.Timestamp); ok {
					unit := ts.DataType().(*arrow.TimestampType).Unit
					if t := ts.Value(r).ToTime(unit); t.After(st.newest) {
						st.newest = t
					}
				}
			}
		}
	}
}

func number(a arrow.Array, i int) (float64, bool) {
	switch c := a.(type) {
	case *array.Float64:
		return c.Value(i), true
	case *array.Int64:
		return float64(c.Value(i)), true
	case *array.Float32:
		return float64(c.Value(i)), true
	case *array.Int32:
		return float64(c.Value(i)), true
	}
	return math.NaN(), false
}

// Results reports every check as of now.
func (e *Evaluator) Results(now time.Time) []Result {
	out := make([]Result, len(e.checks))
	for i, c := range e.checks {
		st := e.state[i]
		level := c.Level
		if level == "" {
			level = "fail"
		}
		r := Result{Check: c.Name(), Level: level, Violations: st.violations, Passed: true}
		switch {
		case st.missing && st.rows == 0:
			r.Detail, r.Passed = "column "+c.Column+" is not in the data", false
		case c.Freshness > 0:
			age := now.Sub(st.newest)
			switch {
			case st.newest.IsZero():
				r.Detail, r.Passed = "no timestamps", false
			case age > c.Freshness:
				r.Detail, r.Violations, r.Passed = fmt.Sprintf("newest event is %s old", age.Round(time.Second)), 1, false
			default:
				r.Detail = fmt.Sprintf("newest event at %s", st.newest.UTC().Format(time.RFC3339))
			}
		case st.violations > 0:
			r.Detail, r.Passed = fmt.Sprintf("%d of %d rows violate it", st.violations, st.rows), false
		}
		out[i] = r
	}
	return out
}

// Failed reports whether a fail-level check did not pass.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if !r.Passed && r.Level == "fail" {
			return true
		}
	}
	return false
}
