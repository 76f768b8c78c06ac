// Package features computes feature values as of points in time: the same
// code serves training sets, materialization and batch scoring, so a
// feature means one thing everywhere.
//
// Semantics. A feature view reads one source: rows of an entity key, an
// event time and values. The value of a feature for entity k as of time t
// uses only the source rows of k with event time ≤ t, so nothing from the
// future leaks into it:
//
//   - A plain column is the value of k's newest row at or before t; among
//     rows with the same newest time, the last one read wins. It is null
//     when k has no such row, or when that row is older than the view's
//     ttl (t − event time > ttl). Its value may itself be null.
//   - An aggregation over a window w covers the rows with event time in
//     (t−w, t]. Null values are skipped, as in SQL: count counts the
//     non-null values (0 when there are none); sum, mean, min and max are
//     null when there are none; last is the newest non-null value (ties:
//     the last read). Sums, means, minima and maxima are float64.
//
// Columns are named <view>__<column> for plain columns and
// <view>__<column>_<function>_<window> for aggregations, windows written
// as in the spec (7d, 12h, 30m, 45s).
package features

import (
	"fmt"
	"time"

	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/spec"
)

// Functions are the aggregation functions.
var Functions = []string{"sum", "count", "mean", "min", "max", "last"}

// View is a feature view resolved against its source.
type View struct {
	Name string
	// Key is the entity key column; Timestamp the event-time column.
	Key       string
	Timestamp string
	// Columns are plain columns: the newest value within the ttl.
	Columns      []string
	Aggregations []Aggregation
	// TTL bounds the age of a plain column's value; 0 means no bound.
	TTL time.Duration
}

// Aggregation is one function of one column over one window.
type Aggregation struct {
	Column   string
	Function string
	Window   time.Duration
}

// ViewFromSpec resolves a view of the spec: its key comes from the
// entity, its event time from the source.
func ViewFromSpec(s *spec.Spec, name string) (View, error) {
	fv, ok := s.FeatureViews[name]
	if !ok {
		return View{}, fmt.Errorf("features: the spec has no feature view %q", name)
	}
	src, ok := s.Sources[fv.Source]
	if !ok {
		return View{}, fmt.Errorf("features: view %s reads source %q, which the spec lacks", name, fv.Source)
	}
	if src.Timestamp == "" {
		return View{}, fmt.Errorf("features: view %s: source %s has no timestamp column, which point-in-time features need", name, fv.Source)
	}
	v := View{Name: name, Key: s.Entities[fv.Entity].Key, Timestamp: src.Timestamp, Columns: fv.Columns, TTL: time.Duration(fv.TTL)}
	for _, a := range fv.Aggregations {
		for _, w := range a.Windows {
			v.Aggregations = append(v.Aggregations, Aggregation{Column: a.Column, Function: a.Function, Window: time.Duration(w)})
		}
	}
	return v, nil
}

// ColumnName is the output name of a plain column.
func (v View) ColumnName(col string) string { return naming.Base(v.Name) + "__" + col }

// Name is the output name of an aggregation in view v.
func (a Aggregation) Name(v View) string {
	return fmt.Sprintf("%s__%s_%s_%s", naming.Base(v.Name), a.Column, a.Function, FormatWindow(a.Window))
}

// FormatWindow writes a window the way the spec does: the largest of d,
// h, m and s that divides it.
func FormatWindow(w time.Duration) string {
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if w%u.d == 0 {
			return fmt.Sprintf("%d%s", w/u.d, u.s)
		}
	}
	return fmt.Sprintf("%ds", w/time.Second)
}

// OutputNames lists the view's feature columns in output order: plain
// columns, then aggregations.
func (v View) OutputNames() []string {
	var names []string
	for _, c := range v.Columns {
		names = append(names, v.ColumnName(c))
	}
	for _, a := range v.Aggregations {
		names = append(names, a.Name(v))
	}
	return names
}
