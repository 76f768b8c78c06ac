package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"

	"github.com/sluice-ml/sluice/api"
)

// TestOpenAPIDocumentIsValidAndComplete: the served document is valid
// OpenAPI 3, and every route of the API is in it with its method.
func TestOpenAPIDocumentIsValidAndComplete(t *testing.T) {
	h := api.New(api.Options{}, nil).Handler()
	rec := newRecorder()
	h.ServeHTTP(rec, mustRequest(t, "GET", "/api/v1/openapi.json"))
	if rec.code != 200 {
		t.Fatalf("GET /api/v1/openapi.json: %d", rec.code)
	}
	doc, err := openapi3.NewLoader().LoadFromData([]byte(rec.body.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	routes := 0
	err = chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		path, ok := strings.CutPrefix(route, "/api/v1")
		if !ok {
			return nil
		}
		routes++
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("%s %s is not documented", method, route)
		}
		return nil
	})
	if err != nil || routes < 15 {
		t.Fatalf("walked %d routes: %v", routes, err)
	}
	if n := doc.Paths.Len(); n > routes {
		t.Errorf("%d documented paths for %d routes", n, routes)
	}
}
