package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/api"
	"github.com/sluice-ml/sluice/internal/testenv"
	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/registry"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestRegistryEndpoints(t *testing.T) {
	ctx := testenv.Context(t)
	db, err := metastore.Open(ctx, testenv.PostgresURL(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg := &registry.Registry{DB: db}
	model := fmt.Sprintf("api_%d", time.Now().UnixNano())
	if _, err := reg.Register(ctx, registry.Version{Model: model, Metrics: map[string]float64{"auc": 0.8}, ArtifactKey: "k", RunID: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SetAlias(ctx, model, "champion", 1, "test", "first"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{Token: "s3cret"}, nil).WithRegistry(reg).Handler())
	defer srv.Close()
	get := func(path string, into any) int {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if into != nil {
			json.NewDecoder(resp.Body).Decode(into)
		}
		return resp.StatusCode
	}
	var v registry.Version
	if code := get("/api/v1/models/"+model+"/versions/v1", &v); code != 200 || v.Metrics["auc"] != 0.8 || len(v.Aliases) != 1 {
		t.Errorf("version: %d %+v", code, v)
	}
	var list struct{ Models []registry.Model }
	if code := get("/api/v1/models", &list); code != 200 || len(list.Models) == 0 {
		t.Errorf("models: %d %+v", code, list)
	}
	var hist struct{ Moves []registry.AliasMove }
	if code := get("/api/v1/models/"+model+"/aliases/champion/history", &hist); code != 200 || len(hist.Moves) != 1 {
		t.Errorf("history: %d %+v", code, hist)
	}
	var exps struct{ Experiments []registry.Experiment }
	if code := get("/api/v1/models/"+model+"/experiments", &exps); code != 200 || exps.Experiments == nil {
		t.Errorf("experiments: %d %+v", code, exps)
	}
	if code := get("/api/v1/models/"+model+"/versions/9", nil); code != 404 {
		t.Errorf("a missing version: %d, want 404", code)
	}
	if code := get("/api/v1/models/nope", nil); code != 404 {
		t.Errorf("a missing model: %d, want 404", code)
	}
}
