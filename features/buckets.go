package features

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// windowAggregates hold one column's count, sum and extremes over each
// of its windows, per entity.
type windowAggregates interface {
	name() string
	grow(n int)
	// fold adds the rows at or before the as-of time (rows lists them,
	// ids gives their entities); vals is the column.
	fold(rows, ids []int32, times []arrow.Timestamp, vals arrow.Array) error
	window(e int32, w time.Duration) (n int64, sum, lo, hi float64)
	// parts is the count and the compensated sum (sum + comp), as a
	// state keeps them.
	parts(e int32, w time.Duration) (n int64, sum, comp float64)
}

// columnWindows aggregates one column over its windows as of one time.
// The windows share their upper end, so a row in a window is in every
// longer one: each row goes to one bucket, that of the shortest window
// holding it, and a window's aggregate combines the buckets up to its
// own. A row costs one update however many windows the column has.
type columnWindows struct {
	column  string
	windows []time.Duration // ascending
	from    []int64         // per window: it covers (from, at]
	// numeric is set when a function needs the values as numbers;
	// extremes when one needs the minimum or maximum.
	numeric, extremes bool
	// The buckets, at entity × len(windows) + bucket: the count and sum
	// side by side (one cache line a row), the extremes apart.
	buckets []bucket
	lo, hi  []float64
	nums    []float64 // a batch's values as numbers, reused
}

// bucket is the count and sum of a bucket's non-null values.
type bucket struct {
	n         int64
	sum, comp float64 // a compensated sum (see neumaier)
}

// columnWindowsOf groups a view's count, sum, mean, min and max
// aggregations by column (last aggregations keep rows instead).
func columnWindowsOf(v View, at int64) []*columnWindows {
	var out []*columnWindows
	for _, a := range v.Aggregations {
		if a.Function == "last" {
			continue
		}
		i := slices.IndexFunc(out, func(c *columnWindows) bool { return c.column == a.Column })
		if i < 0 {
			out = append(out, &columnWindows{column: a.Column})
			i = len(out) - 1
		}
		c := out[i]
		if !slices.Contains(c.windows, a.Window) {
			c.windows = append(c.windows, a.Window)
		}
		c.numeric = c.numeric || a.Function != "count"
		c.extremes = c.extremes || a.Function == "min" || a.Function == "max"
	}
	for _, c := range out {
		slices.Sort(c.windows)
		for _, w := range c.windows {
			c.from = append(c.from, at-w.Microseconds())
		}
	}
	return out
}

func (c *columnWindows) name() string { return c.column }

// grow makes room for entities up to n.
func (c *columnWindows) grow(n int) {
	size := n * len(c.windows)
	c.buckets = extend(c.buckets, size)
	if c.extremes {
		c.lo, c.hi = extend(c.lo, size), extend(c.hi, size)
	}
}

func extend[T any](s []T, n int) []T {
	if n <= len(s) {
		return s
	}
	return slices.Grow(s, n-len(s))[:n]
}

// fold adds a batch's rows to the buckets: rows lists the rows to take
// (a key, an event time at or before the as-of time), ids their
// entities, vals the column; null values are skipped.
func (c *columnWindows) fold(rows, ids []int32, times []arrow.Timestamp, vals arrow.Array) error {
	var nums []float64
	if f, ok := vals.(*array.Float64); ok && c.numeric {
		nums = f.Float64Values()
	} else if c.numeric {
		if c.nums, ok = floatsInto(c.nums, vals); !ok {
			return fmt.Errorf("the aggregation of column %s needs numbers; it is %s", c.column, vals.DataType())
		}
		nums = c.nums
	}
	nb, nulls := len(c.windows), vals.NullN() > 0
	for _, i := range rows {
		t, b := int64(times[i]), 0
		for b < nb && t <= c.from[b] {
			b++
		}
		if b == nb || (nulls && vals.IsNull(int(i))) {
			continue
		}
		j := int(ids[i])*nb + b
		k := &c.buckets[j]
		if nums != nil {
			x := nums[i]
			switch {
			case k.n == 0:
				k.sum = x
				if c.extremes {
					c.lo[j], c.hi[j] = x, x
				}
			case c.extremes:
				k.sum, k.comp = neumaier(k.sum, k.comp, x)
				c.lo[j], c.hi[j] = math.Min(c.lo[j], x), math.Max(c.hi[j], x)
			default:
				k.sum, k.comp = neumaier(k.sum, k.comp, x)
			}
		}
		k.n++
	}
	return nil
}

// window is entity e's aggregate over window w: its buckets combined,
// shortest first.
func (c *columnWindows) window(e int32, w time.Duration) (n int64, sum, lo, hi float64) {
	n, sum, comp := c.parts(e, w)
	if !c.extremes || n == 0 {
		return n, sum + comp, 0, 0
	}
	nb := len(c.windows)
	first := true
	for j := int(e) * nb; j <= int(e)*nb+slices.Index(c.windows, w); j++ {
		if c.buckets[j].n == 0 {
			continue
		}
		if first {
			lo, hi, first = c.lo[j], c.hi[j], false
		} else {
			lo, hi = math.Min(lo, c.lo[j]), math.Max(hi, c.hi[j])
		}
	}
	return n, sum + comp, lo, hi
}

// parts is entity e's count and compensated sum over window w.
func (c *columnWindows) parts(e int32, w time.Duration) (n int64, sum, comp float64) {
	nb := len(c.windows)
	for j := int(e) * nb; j <= int(e)*nb+slices.Index(c.windows, w); j++ {
		k := c.buckets[j]
		if k.n == 0 {
			continue
		}
		if n == 0 {
			sum, comp = k.sum, k.comp
		} else {
			sum, comp = neumaier(sum, comp, k.sum)
			comp += k.comp
		}
		n += k.n
	}
	return n, sum, comp
}

// neumaier adds x to the compensated sum (sum, comp): comp keeps what
// rounding dropped, so values far apart in size (a large one added and
// later subtracted) keep the small ones. Past infinity or NaN it stays
// out of the way.
func neumaier(sum, comp, x float64) (float64, float64) {
	t := sum + x
	if math.IsInf(t, 0) || math.IsNaN(t) {
		return t, comp
	}
	if math.Abs(sum) >= math.Abs(x) {
		comp += (sum - t) + x
	} else {
		comp += (x - t) + sum
	}
	return t, comp
}
