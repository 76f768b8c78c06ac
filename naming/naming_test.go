package naming_test

import (
	"testing"

	"github.com/sluice-ml/sluice/naming"
)

func TestTablesOfTwoProjectsNeverMeet(t *testing.T) {
	for _, tc := range []struct {
		layer, qualified, want string
	}{
		{naming.Raw, "churn_demo.labels", "churn_demo_raw.labels"},
		{naming.Raw, "newcomer.labels", "newcomer_raw.labels"},
		{naming.Quarantine, "newcomer.labels", "newcomer_quarantine.labels"},
		{naming.Features, "churn_demo.customer_txn", "churn_demo_features.customer_txn"},
		{naming.Training, "churn_demo.churn", "churn_demo_training.churn"},
		{naming.Predictions, "churn_demo.churn", "churn_demo_predictions.churn"},
		{naming.Online, "churn_demo.customer_txn", "churn_demo_online.customer_txn"},
		// A bare name keeps the first release's layout, which `sluice
		// migrate --project` moves.
		{naming.Raw, "labels", "raw.labels"},
		{naming.Online, "customer_txn", "sluice_online.customer_txn"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := naming.Table(tc.layer, tc.qualified); got != tc.want {
				t.Errorf("Table(%s, %s) = %s, want %s", tc.layer, tc.qualified, got, tc.want)
			}
			ident := naming.Ident(tc.layer, tc.qualified)
			if ident[0]+"."+ident[1] != tc.want {
				t.Errorf("Ident(%s, %s) = %v", tc.layer, tc.qualified, ident)
			}
		})
	}
}

func TestQualifySplitBase(t *testing.T) {
	q := naming.Qualify("churn_demo", "churn")
	if q != "churn_demo.churn" || naming.Base(q) != "churn" || naming.Project(q) != "churn_demo" {
		t.Errorf("Qualify/Base/Project: %q", q)
	}
	if naming.Qualify("", "churn") != "churn" || naming.Project("churn") != "" || naming.Base("churn") != "churn" {
		t.Error("a bare name stays bare")
	}
}

// No two (project, layer) pairs share a namespace: a layer is never the
// tail of another layer after an underscore, so <p>_<layer> names one
// project's layer only.
func TestNamespacesAreUnambiguous(t *testing.T) {
	layers := append([]string{naming.Online}, naming.Layers...)
	seen := map[string]string{}
	if naming.Namespace(naming.Reserved, naming.Online) != naming.Namespace("", naming.Online) {
		t.Error("the reserved project no longer shares the bare online schema: is the reservation still needed?")
	}
	for _, p := range []string{"", "a", "a_raw", "a_features", "raw", "a_b", "a_online"} {
		for _, l := range layers {
			ns := naming.Namespace(p, l)
			if other, ok := seen[ns]; ok {
				t.Errorf("%s is both %s and %s/%s", ns, other, p, l)
			}
			seen[ns] = p + "/" + l
		}
	}
}
