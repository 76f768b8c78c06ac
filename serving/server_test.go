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
	o := serving.DefaultOptions()
	o.FeaturesAPI = true
	srv := httptest.NewServer(serving.New(o, nil).Handler())
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

// TestTokenGuardsPredictionsAndFeatures: with a token, predict, infer and
// the features API answer 401 without it; health stays open. The features
// API is off unless asked for.
func TestTokenGuardsPredictionsAndFeatures(t *testing.T) {
	post := func(t *testing.T, url, token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"instances":[{"x":1}],"keys":["a"]}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	off := httptest.NewServer(serving.New(serving.DefaultOptions(), nil).Handler())
	defer off.Close()
	if code := post(t, off.URL+"/v1/features/shop.profile", ""); code != http.StatusNotFound {
		t.Errorf("features API without --features-api: %d, want 404", code)
	}
	o := serving.DefaultOptions()
	o.Token, o.FeaturesAPI = "s3cret", true
	srv := httptest.NewServer(serving.New(o, nil).Handler())
	defer srv.Close()
	for _, path := range []string{"/v1/models/churn:predict", "/v2/models/churn/infer", "/v1/features/shop.profile"} {
		for _, token := range []string{"", "wrong"} {
			if code := post(t, srv.URL+path, token); code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d, want 401", path, token, code)
			}
		}
		if code := post(t, srv.URL+path, "s3cret"); code == http.StatusUnauthorized {
			t.Errorf("%s with the token: 401", path)
		}
	}
	if resp, err := http.Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz behind the token: %v", err)
	}
}
