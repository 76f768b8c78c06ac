package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	db, err := metastore.Open(testenv.Context(t), testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return &registry.Registry{DB: db}
}

func TestVersionsAliasesHistoryAndNotify(t *testing.T) {
	r := newRegistry(t)
	ctx := testenv.Context(t)
	model := fmt.Sprintf("churn_%d", time.Now().UnixNano())
	var moves []registry.AliasMove
	var mu sync.Mutex
	wctx, stop := context.WithCancel(ctx)
	done, err := r.Watch(wctx, func(m registry.AliasMove) {
		mu.Lock()
		moves = append(moves, m)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	v1, err := r.Register(ctx, registry.Version{Model: model, Algorithm: "gbdt", Params: map[string]any{"trees": 200.0}, Metrics: map[string]float64{"auc": 0.81},
		TrainingSnapshots: map[string]int64{"training.churn": 42}, ArtifactKey: "models/churn/v1/model.sluice", RunID: "train/churn/1"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Register(ctx, registry.Version{Model: model, ArtifactKey: "other", RunID: "train/churn/1"})
	if err != nil || again.Version != 1 || again.ArtifactKey != v1.ArtifactKey {
		t.Fatalf("a retried registration gave %+v, %v; want version 1 as first registered", again, err)
	}
	v2, err := r.Register(ctx, registry.Version{Model: model, Metrics: map[string]float64{"auc": 0.84}, ArtifactKey: "models/churn/v2/model.sluice", RunID: "train/churn/2"})
	if err != nil || v2.Version != 2 {
		t.Fatalf("second version %+v, %v", v2, err)
	}
	if _, err := r.SetAlias(ctx, model, "champion", 1, "test", "first"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetAlias(ctx, model, "champion", 2, "test", "better auc"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetAlias(ctx, model, "champion", 2, "test", "again"); err != nil { // no move
		t.Fatal(err)
	}
	champ, err := r.Resolve(ctx, model, "champion")
	if err != nil || champ.Version != 2 || champ.Metrics["auc"] != 0.84 || len(champ.Aliases) != 1 {
		t.Fatalf("champion %+v, %v", champ, err)
	}
	back, err := r.Rollback(ctx, model, "champion", "test", "regression in prod")
	if err != nil || back.From != 2 || back.To != 1 {
		t.Fatalf("rollback %+v, %v", back, err)
	}
	hist, err := r.History(ctx, model, "champion")
	if err != nil || len(hist) != 3 || hist[0].Reason != "regression in prod" || hist[2].From != 0 || hist[2].To != 1 {
		t.Fatalf("history %+v, %v", hist, err)
	}
	if _, err := r.SetAlias(ctx, model, "champion", 9, "test", "no such version"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("moving to a missing version: %v", err)
	}
	if _, err := r.Resolve(ctx, model, "challenger"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("an unset alias: %v", err)
	}
	if err := r.SetGateReport(ctx, model, 2, json.RawMessage(`{"passed":false}`)); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Get(ctx, model, 2); string(v.GateReport) != `{"passed": false}` && string(v.GateReport) != `{"passed":false}` {
		t.Errorf("gate report %s", v.GateReport)
	}
	models, err := r.Models(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range models {
		if m.Name == model {
			found = m.Versions == 2 && m.Latest == 2 && m.Aliases["champion"] == 1
		}
	}
	if !found {
		t.Errorf("models %+v", models)
	}
	// Every move was announced, in order.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(moves)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if len(moves) != 3 || moves[0].To != 1 || moves[1].From != 1 || moves[1].To != 2 || moves[2].To != 1 || moves[2].Model != model {
		t.Errorf("notifications %+v", moves)
	}
}

func TestConcurrentRegistrationsNumberDistinctly(t *testing.T) {
	r := newRegistry(t)
	ctx := testenv.Context(t)
	model := fmt.Sprintf("m_%d", time.Now().UnixNano())
	var wg sync.WaitGroup
	got := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := r.Register(ctx, registry.Version{Model: model, ArtifactKey: "k", RunID: fmt.Sprint(i)})
			if err != nil {
				t.Error(err)
				return
			}
			got <- v.Version
		}()
	}
	wg.Wait()
	close(got)
	seen := map[int]bool{}
	for v := range got {
		seen[v] = true
	}
	if len(seen) != 8 || !seen[1] || !seen[8] {
		t.Errorf("versions %v, want 1..8", seen)
	}
}

// TestAliasMovesRefuseTextTheyCannotKeep: a NUL in who or why, or a
// reason past the NOTIFY payload's room, is ErrInvalidText, and the alias
// does not move. (Before, PostgreSQL refused the NUL and NOTIFY the long
// payload, and the API answered 500.)
func TestAliasMovesRefuseTextTheyCannotKeep(t *testing.T) {
	r := newRegistry(t)
	ctx := testenv.Context(t)
	model := fmt.Sprintf("text_%d", time.Now().UnixNano())
	for i := range 2 {
		if _, err := r.Register(ctx, registry.Version{Model: model, ArtifactKey: "k", RunID: fmt.Sprint("r", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.SetAlias(ctx, model, "champion", 1, "me", "first"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ by, reason string }{
		{"me", "a\x00b"}, {"m\x00e", "why"}, {"me", strings.Repeat("why ", 2500)}, {strings.Repeat("m", 201), "why"}, {"me", "\xff"},
	} {
		if _, err := r.SetAlias(ctx, model, "champion", 2, c.by, c.reason); !errors.Is(err, registry.ErrInvalidText) {
			t.Errorf("by %.20q, reason %.20q: %v, want ErrInvalidText", c.by, c.reason, err)
		}
		if _, err := r.Rollback(ctx, model, "champion", c.by, c.reason); !errors.Is(err, registry.ErrInvalidText) && !errors.Is(err, registry.ErrNoPrevious) {
			t.Errorf("rollback, by %.20q: %v", c.by, err)
		}
	}
	if v, err := r.Resolve(ctx, model, "champion"); err != nil || v.Version != 1 {
		t.Errorf("champion is v%d (%v), want v1 still", v.Version, err)
	}
}
