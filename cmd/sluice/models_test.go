package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/temporaltest"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestModelsCommands(t *testing.T) {
	ctx := testenv.Context(t)
	dbURL := testenv.PostgresURL(t)
	pool, err := metastore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	reg := &registry.Registry{DB: pool}
	model := fmt.Sprintf("cli_%d", time.Now().UnixNano())
	for i := 1; i <= 2; i++ {
		if _, err := reg.Register(ctx, registry.Version{Model: model, Algorithm: "gbdt", Metrics: map[string]float64{"auc": 0.7 + float64(i)/100},
			ArtifactKey: fmt.Sprintf("models/%s/v%d", model, i), RunID: fmt.Sprint(i), WorkflowID: "train/x",
			TrainingSnapshots: map[string]int64{"training.churn": 77, "raw.txn": 12}}); err != nil {
			t.Fatal(err)
		}
	}
	db := "--database-url=" + dbURL
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"models", "promote", model, "1", db}, model + " champion: - -> v1"},
		{[]string{"models", "promote", model, "v2", "--reason", "auc up", db}, model + " champion: v1 -> v2"},
		{[]string{"models", "list", db}, "champion=v2"},
		{[]string{"models", "show", model, db}, "auc=0.7200"},
		{[]string{"models", "show", model, "2", db}, `"artifact_key": "models/` + model + `/v2"`},
		{[]string{"models", "rollback", model, db}, model + " champion: v2 -> v1"},
		{[]string{"models", "history", model, db}, "auc up"},
		{[]string{"models", "lineage", model, "2", db}, "training.churn                 snapshot 77"},
	}
	for _, s := range steps {
		code, out := runInProcess(t, s.args...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Errorf("sluice %s: exit %d, want %q in:\n%s", strings.Join(s.args[:len(s.args)-1], " "), code, s.want, out)
		}
	}
	if code, out := runInProcess(t, "models", "promote", model, "9", db); code == 0 || !strings.Contains(out, "not found") {
		t.Errorf("promoting a missing version: exit %d:\n%s", code, out)
	}
}

func TestModelsApproveNeedsAWaitingVersion(t *testing.T) {
	srv := temporaltest.NewServer(temporaltest.WithT(t))
	code, out := runInProcess(t, "models", "approve", "churn", "v3", "--temporal-address", srv.GetFrontendHostPort(), "--temporal-namespace", srv.GetDefaultNamespace())
	if code == 0 || !strings.Contains(out, "promote/churn/v3") || !strings.Contains(out, "waiting for approval") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
