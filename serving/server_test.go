package serving_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/serving"
)

func TestHealthEndpoints(t *testing.T) {
	srv := httptest.NewServer(serving.New(serving.DefaultOptions(), nil).Handler())
	defer srv.Close()
	for _, path := range []string{"/healthz", "/v2/health/live", "/v2/health/ready"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestFeaturesRejectsBadRequests(t *testing.T) {
	srv := httptest.NewServer(serving.New(serving.DefaultOptions(), nil).Handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/features/v", "application/json", strings.NewReader(`{"keys":["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("without an online store: %d, want 501", resp.StatusCode)
	}
}
