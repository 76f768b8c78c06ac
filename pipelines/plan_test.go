package pipelines_test

import (
	"testing"
	"time"

	"github.com/sluice-ml/sluice/examples/churn"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/spec"
)

func TestPlanResolvesEachSourceAndViewOnce(t *testing.T) {
	s, err := spec.Parse("sluice.yaml", churn.Spec)
	if err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	p, err := pipelines.NewPlan(s, "/proj", "churn_daily", "7", "dev", asOf)
	if err != nil {
		t.Fatal(err)
	}
	var sources, views []string
	for _, in := range p.Ingest {
		sources = append(sources, in.Source+"@"+in.Path)
	}
	for _, m := range p.Materialize {
		views = append(views, m.View.View.Name)
		if !m.AsOf.Equal(asOf) || !m.Online {
			t.Errorf("materialize %+v", m)
		}
	}
	if got := []string{"churn_demo.customers@/proj/data/customers.csv", "churn_demo.labels@/proj/data/labels.csv", "churn_demo.transactions@/proj/data/transactions.csv"}; !equal(sources, got) {
		t.Errorf("sources %v, want %v", sources, got)
	}
	if !equal(views, []string{"churn_demo.customer_profile", "churn_demo.customer_txn"}) {
		t.Errorf("views %v", views)
	}
	m := p.Models[0]
	if m.Model != "churn_demo.churn" || m.Train.TrainingSet.LabelTable != "churn_demo_raw.labels" || m.Train.SpecVersion != "7" || len(m.Train.Sweep) != 2 || len(m.Gates) != 2 ||
		m.Score.Population != "churn_demo_raw.customers" || m.Score.Key != "customer_id" || !m.Score.AsOf.Equal(asOf) || m.Score.Retention != 30*24*time.Hour {
		t.Errorf("model plan %+v", m)
	}
	if !p.Has("score") || p.Has("deploy") {
		t.Errorf("steps %v", p.Steps)
	}
	if _, err := pipelines.NewPlan(s, "/proj", "nope", "7", "dev", asOf); err == nil {
		t.Error("an unknown pipeline was planned")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
