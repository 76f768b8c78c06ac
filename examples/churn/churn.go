// Package churn generates the churn example's data, deterministically:
// customers with plans and tenure, 180 days of transactions with weekly
// seasonality, and churn labels driven by recent activity, so that the
// windowed aggregations are what predicts churn.
package churn

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Spec is the example's sluice.yaml; its paths are relative to it.
//
//go:embed sluice.yaml
var Spec []byte

// Start is the first day of the transactions; End the day after the last.
var (
	Start = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	End   = Start.AddDate(0, 0, 180)
)

var plans = []struct {
	name    string
	charges float64
}{{"basic", 19}, {"standard", 39}, {"premium", 79}}

// Generate writes sluice.yaml and data/{customers,transactions,labels}.csv
// under dir for n customers. The same n and seed give the same files.
func Generate(dir string, n int, seed uint64) error {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sluice.yaml"), Spec, 0o644); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cw, cf, err := create(dir, "customers.csv", "customer_id", "plan", "tenure_months", "monthly_charges", "updated_at")
	if err != nil {
		return err
	}
	tw, tf, err := create(dir, "transactions.csv", "customer_id", "ts", "amount")
	if err != nil {
		return err
	}
	lw, lf, err := create(dir, "labels.csv", "customer_id", "label_at", "churned")
	if err != nil {
		return err
	}
	days := int(End.Sub(Start).Hours() / 24)
	for c := range n {
		id := fmt.Sprintf("C%06d", c)
		plan := plans[r.IntN(len(plans))]
		tenure := 1 + r.IntN(72)
		charges := plan.charges * (0.9 + 0.2*r.Float64())
		if err := cw.Write([]string{id, plan.name, strconv.Itoa(tenure), fmt.Sprintf("%.2f", charges), Start.Format(time.RFC3339)}); err != nil {
			return err
		}
		// A customer's activity: a base rate, and for those who will
		// leave a fade that starts some weeks before their label.
		base := 0.2 + 0.8*r.Float64()
		labelDay := 120 + r.IntN(days-120)
		risk := 0.15 + 0.25*float64(plan.charges)/79 - 0.15*math.Min(float64(tenure), 48)/48
		leaves := r.Float64() < risk+0.2*(1-base)
		fadeFrom := labelDay - 14 - r.IntN(35)
		for d := range days {
			rate := base * 0.6
			if wd := Start.AddDate(0, 0, d).Weekday(); wd == time.Saturday || wd == time.Sunday {
				rate *= 1.6
			}
			if leaves && d >= fadeFrom {
				rate *= math.Max(0.05, 1-float64(d-fadeFrom)/30)
			}
			for k := 0; k < 3 && r.Float64() < rate; k++ {
				at := Start.AddDate(0, 0, d).Add(time.Duration(8*3600+r.IntN(14*3600)) * time.Second)
				amount := math.Max(1, 20+15*r.NormFloat64()+0.2*charges)
				if err := tw.Write([]string{id, at.Format(time.RFC3339), fmt.Sprintf("%.2f", amount)}); err != nil {
					return err
				}
				rate *= 0.5
			}
		}
		at := Start.AddDate(0, 0, labelDay).Add(23 * time.Hour)
		if err := lw.Write([]string{id, at.Format(time.RFC3339), strconv.FormatBool(leaves)}); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		w *csv.Writer
		f *os.File
	}{{cw, cf}, {tw, tf}, {lw, lf}} {
		f.w.Flush()
		if err := f.w.Error(); err != nil {
			return err
		}
		if err := f.f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func create(dir, name string, header ...string) (*csv.Writer, *os.File, error) {
	f, err := os.Create(filepath.Join(dir, "data", name))
	if err != nil {
		return nil, nil, err
	}
	w := csv.NewWriter(f)
	return w, f, w.Write(header)
}
