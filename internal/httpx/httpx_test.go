package httpx

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// serve runs NewServer(h) on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, NewServer(h, nil), ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// TestAPanickingHandlerAnswers500: the client gets a JSON 500, not a
// dropped connection, and the server goes on answering.
func TestAPanickingHandlerAnswers500(t *testing.T) {
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			panic("label value is not valid UTF-8")
		}
		WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}))
	for range 3 {
		resp, err := http.Get(url + "/boom")
		if err != nil {
			t.Fatalf("the panic cost the client its answer: %v", err)
		}
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || err != nil || body.Error.Code != "internal" {
			t.Errorf("status %d, body %+v (%v), want a JSON 500", resp.StatusCode, body, err)
		}
	}
	resp, err := http.Get(url + "/fine")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after the panics: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestHeadersAreBounded: a request with 100 KiB of headers is refused
// with 431 before any handler runs.
func TestHeadersAreBounded(t *testing.T) {
	reached := false
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
	req, err := http.NewRequest(http.MethodGet, url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || reached {
		t.Errorf("status %d (handler reached: %v), want 431", resp.StatusCode, reached)
	}
}
