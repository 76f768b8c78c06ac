package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// smallTable is a small "public-style" table: the kinds of columns and
// effects of churn, credit and HR data sets, a few thousand rows, label
// "y". The rows are written in random order, so a fold is every k-th row.
type smallTable struct {
	name string
	rows int
	// row draws one row: its cells (empty is missing) and its 0/1 label.
	row  func(rng *rand.Rand) ([]string, int)
	cols []string
}

var smallTables = []smallTable{
	{name: "churn", rows: 4000, cols: []string{"tenure", "contract", "internet", "payment", "monthly", "total", "senior", "tickets"}, row: churnRow},
	{name: "credit", rows: 3000, cols: []string{"age", "income", "job", "housing", "purpose", "amount", "duration", "savings"}, row: creditRow},
	{name: "hr", rows: 8000, cols: []string{"satisfaction", "evaluation", "projects", "hours", "years", "accident", "promotion", "department", "salary"}, row: hrRow},
}

func pick(rng *rand.Rand, levels []string, weights []float64) (int, string) {
	u := rng.Float64() * sum(weights)
	for i, w := range weights {
		if u < w {
			return i, levels[i]
		}
		u -= w
	}
	return len(levels) - 1, levels[len(levels)-1]
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func num(v float64, digits int) string { return strconv.FormatFloat(v, 'f', digits, 64) }

func bernoulli(rng *rand.Rand, z float64) int {
	if rng.Float64() < 1/(1+math.Exp(-z)) {
		return 1
	}
	return 0
}

// churnRow: contract length, fiber internet, electronic checks and short
// tenure raise churn; total charges are missing for new customers.
func churnRow(rng *rand.Rand) ([]string, int) {
	tenure := rng.IntN(73)
	ci, contract := pick(rng, []string{"month-to-month", "one-year", "two-year"}, []float64{5, 2.5, 2.5})
	ii, internet := pick(rng, []string{"dsl", "fiber", "none"}, []float64{3.4, 4.4, 2.2})
	pi, payment := pick(rng, []string{"e-check", "mailed-check", "bank-transfer", "card"}, []float64{3.4, 2.3, 2.2, 2.1})
	monthly := 20 + 30*float64(ii%2) + 25*float64(b2i(ii == 1)) + rng.NormFloat64()*8
	total := ""
	if tenure > 0 {
		total = num(monthly*float64(tenure)*(1+rng.NormFloat64()*0.05), 2)
	}
	senior := b2i(rng.Float64() < 0.16)
	tickets := rng.IntN(1 + 3*b2i(ii == 1) + 2)
	z := -1.0 + 1.4*float64(b2i(ci == 0)) - 0.9*float64(b2i(ci == 2)) + 0.8*float64(b2i(ii == 1)) - 0.6*float64(b2i(ii == 2)) +
		0.5*float64(b2i(pi == 0)) - 0.035*float64(tenure) + 0.01*(monthly-60) + 0.3*float64(senior) + 0.25*float64(tickets)
	return []string{strconv.Itoa(tenure), contract, internet, payment, num(monthly, 2), total, strconv.Itoa(senior), strconv.Itoa(tickets)}, bernoulli(rng, z)
}

// creditRow: the loan's size against income, its purpose and the
// applicant's savings and housing; savings are often unknown.
func creditRow(rng *rand.Rand) ([]string, int) {
	age := 19 + rng.IntN(55)
	income := math.Exp(10.3 + rng.NormFloat64()*0.5)
	ji, job := pick(rng, []string{"unskilled", "skilled", "management", "self-employed"}, []float64{2, 6, 1.5, 1})
	hi, housing := pick(rng, []string{"own", "rent", "free"}, []float64{7, 2, 1})
	purposes := []string{"car", "furniture", "radio-tv", "appliances", "repairs", "education", "business", "vacation", "retraining", "other"}
	effects := []float64{0.1, 0, -0.3, 0.2, 0.4, 0.6, 0.5, 0.3, -0.2, 0.7}
	pu, purpose := pick(rng, purposes, []float64{3.4, 1.8, 2.8, 0.1, 0.2, 0.5, 1, 0.1, 0.1, 0.1})
	amount := math.Exp(7.8 + rng.NormFloat64()*0.7)
	duration := 6 + 6*rng.IntN(8)
	si, savings := pick(rng, []string{"<100", "100-500", "500-1000", ">1000", ""}, []float64{6, 1, 0.6, 0.5, 1.9})
	z := -1.2 + 0.9*math.Log(amount/income*20) + 0.02*float64(duration) - 0.02*float64(age-35) + effects[pu] +
		0.4*float64(b2i(hi == 1)) - 0.5*float64(b2i(si == 3)) + 0.3*float64(b2i(si == 4)) - 0.3*float64(b2i(ji == 2))
	return []string{strconv.Itoa(age), num(income, 0), job, housing, purpose, num(amount, 0), strconv.Itoa(duration), savings}, bernoulli(rng, z)
}

// hrRow: people leave when they are unhappy, overworked or underworked,
// and underpaid; the effect of hours bends.
func hrRow(rng *rand.Rand) ([]string, int) {
	sat := math.Min(1, math.Max(0.09, 0.62+rng.NormFloat64()*0.25))
	eval := math.Min(1, math.Max(0.36, 0.72+rng.NormFloat64()*0.17))
	projects := 2 + rng.IntN(6)
	hours := 96 + rng.IntN(215)
	years := 2 + rng.IntN(9)
	accident := b2i(rng.Float64() < 0.14)
	promotion := b2i(rng.Float64() < 0.02)
	departments := []string{"sales", "technical", "support", "it", "product", "marketing", "rnd", "accounting", "hr", "management"}
	di, dept := pick(rng, departments, []float64{27, 18, 15, 8, 6, 6, 5, 5, 5, 4})
	si, salary := pick(rng, []string{"low", "medium", "high"}, []float64{49, 43, 8})
	h := float64(hours-200) / 50
	z := -1.5 - 3*(sat-0.6) + 0.8*h*h - 0.4*h + 0.35*float64(projects-4)*float64(projects-4)/4 - 1.2*float64(accident) -
		1.0*float64(promotion) + 0.5*float64(b2i(si == 0)) - 0.8*float64(b2i(si == 2)) + 0.2*float64(b2i(di == 8)) -
		0.3*float64(b2i(di == 9)) + 0.25*float64(b2i(years == 5))
	return []string{num(sat, 2), num(eval, 2), strconv.Itoa(projects), strconv.Itoa(hours), strconv.Itoa(years),
		strconv.Itoa(accident), strconv.Itoa(promotion), dept, salary}, bernoulli(rng, z)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeSmall writes the small tables, and the mixed tables whole (train
// and test rows together), into dir.
func writeSmall(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, t := range smallTables {
		rng := rand.New(rand.NewPCG(uint64(300+i), 31))
		var b strings.Builder
		b.WriteString(strings.Join(append(t.cols, "y"), ",") + "\n")
		for range t.rows {
			cells, y := t.row(rng)
			fmt.Fprintf(&b, "%s,%d\n", strings.Join(cells, ","), y)
		}
		if err := os.WriteFile(filepath.Join(dir, t.name+".csv"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	for i, shape := range mixedShapes {
		rows := shape.rows + shape.rows/2
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("mixed-%d.csv", i+1)), Mixed(shape, rows, uint64(400+i)), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d small tables to %s\n", len(smallTables)+len(mixedShapes), dir)
	return nil
}
