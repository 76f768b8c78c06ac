package serving

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// hostileBodies are 1 MiB request bodies built to cost the server as
// much as it lets them: many instances, one instance of many fields,
// long strings, deep and long arrays, numbers by the hundred thousand.
func hostileBodies() map[string]struct {
	path string
	body []byte
} {
	const size = 1<<20 - 64
	fill := func(prefix, item, suffix string) []byte {
		var b bytes.Buffer
		b.WriteString(prefix)
		for b.Len()+len(item)+len(suffix) < size {
			if b.Len() > len(prefix) {
				b.WriteByte(',')
			}
			b.WriteString(item)
		}
		b.WriteString(suffix)
		return b.Bytes()
	}
	var fields bytes.Buffer
	fields.WriteString(`{"instances":[{`)
	for i := 0; fields.Len() < size-32; i++ {
		if i > 0 {
			fields.WriteByte(',')
		}
		fmt.Fprintf(&fields, `"f%d":%d`, i, i)
	}
	fields.WriteString(`}]}`)
	var extras bytes.Buffer // instances of as many extra fields as allowed
	extras.WriteString(`{`)
	for i := range 60 {
		fmt.Fprintf(&extras, `"x%d":%d,`, i, i)
	}
	extras.WriteString(`"amount":0.5,"plan":"pro"}`)
	var inputs bytes.Buffer
	inputs.WriteString(`{"inputs":[`)
	for i := 0; inputs.Len() < size-64; i++ {
		if i > 0 {
			inputs.WriteByte(',')
		}
		fmt.Fprintf(&inputs, `{"name":"i%d","shape":[2],"datatype":"FP64","data":[1.5,2.5]}`, i)
	}
	inputs.WriteString(`]}`)
	const v1, v2 = "/v1/models/m:predict", "/v2/models/m/infer"
	return map[string]struct {
		path string
		body []byte
	}{
		"many empty instances":      {v1, fill(`{"instances":[`, `{}`, `]}`)},
		"many full instances":       {v1, fill(`{"instances":[`, `{"amount":0.5,"plan":"pro","x":1}`, `]}`)},
		"one instance, many fields": {v1, fields.Bytes()},
		"a long string":             {v1, []byte(`{"instances":[{"plan":"` + strings.Repeat("p", size-40) + `"}]}`)},
		"a long array value":        {v1, fill(`{"instances":[{"amount":[`, `0`, `]}]}`)},
		"deep nesting":              {v1, []byte(`{"instances":[{"amount":` + strings.Repeat("[", size/2) + `]}]}`)},
		"many v2 rows":              {v2, fill(`{"inputs":[{"name":"amount","shape":[1],"datatype":"FP64","data":[`, `0.25`, `]}]}`)},
		"many v2 inputs":            {v2, inputs.Bytes()},
		"one v2 input, many times":  {v2, fill(`{"inputs":[`, `{"name":"amount","shape":[2],"datatype":"FP64","data":[1.5,2.5]}`, `]}`)},
		"instances of extra fields": {v1, fill(`{"instances":[`, extras.String(), `]}`)},
		"v2 parameters":             {v2, fill(`{"parameters":{"a":[`, `{"b":1}`, `]},"inputs":[]}`)},
	}
}

// TestHostileBodiesCostLittle: each 1 MiB hostile body is a 4xx and
// allocates at most 5 MB while the server reads it (before, the whole
// body became maps and slices first: tens of MB for some of these).
func TestHostileBodiesCostLittle(t *testing.T) {
	h := staticServer(t)
	for name, c := range hostileBodies() {
		t.Run(name, func(t *testing.T) {
			var rec *httptest.ResponseRecorder
			allocated := allocatedBy(func() {
				rec = httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, c.path, bytes.NewReader(c.body)))
			})
			if rec.Code < 400 || rec.Code >= 500 {
				t.Errorf("%d, want a 4xx: %.200s", rec.Code, rec.Body)
			}
			if allocated > 5e6 {
				t.Errorf("a %d-byte body allocated %.1f MB, want at most 5", len(c.body), float64(allocated)/1e6)
			}
			t.Logf("%d: %.2f MB allocated: %.120s", rec.Code, float64(allocated)/1e6, rec.Body)
		})
	}
}

// allocatedBy is the bytes f allocates (the least of three runs, so
// another goroutine's allocation does not count).
func allocatedBy(f func()) uint64 {
	least := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// BenchmarkHostileBodies: what each 1 MiB hostile body costs (see
// B/op; BENCHMARKS.md records them).
func BenchmarkHostileBodies(b *testing.B) {
	h := staticServer(b)
	for name, c := range hostileBodies() {
		b.Run(strings.ReplaceAll(name, " ", "_"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, c.path, bytes.NewReader(c.body)))
				if rec.Code < 400 || rec.Code >= 500 {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// TestRequestsOverTheInFlightLimitAre503: with MaxInFlight requests being
// served (their bodies still arriving), the next is answered 503 with
// Retry-After at once, and is served again once one finishes.
func TestRequestsOverTheInFlightLimitAre503(t *testing.T) {
	h := staticServerWith(t, Options{MaxInFlight: 2})
	ts := httptest.NewServer(h)
	defer ts.Close()
	var slow []*io.PipeWriter
	done := make(chan int, 2)
	for range 2 {
		pr, pw := io.Pipe()
		slow = append(slow, pw)
		go func() {
			resp, err := http.Post(ts.URL+"/v1/models/m:predict", "application/json", pr)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		pw.Write([]byte(`{"instances": [`)) // the handler is reading it
	}
	post := func() *http.Response {
		resp, err := http.Post(ts.URL+"/v1/models/m:predict", "application/json", strings.NewReader(`{"instances": [{"amount": 0.3, "plan": "pro"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	deadline := time.Now().Add(5 * time.Second)
	resp := post()
	for resp.StatusCode == http.StatusOK && time.Now().Before(deadline) { // until both slow ones hold a slot
		time.Sleep(10 * time.Millisecond)
		resp = post()
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a third request: %d, Retry-After %q; want 503 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	slow[0].Write([]byte(`{"amount": 0.3, "plan": "pro"}]}`))
	slow[0].Close()
	if status := <-done; status != http.StatusOK {
		t.Errorf("the slow request: %d", status)
	}
	if resp := post(); resp.StatusCode != http.StatusOK {
		t.Errorf("after a slot freed: %d, want 200", resp.StatusCode)
	}
	slow[1].Close()
	<-done
}

// TestShadowQueueIsBoundedInBytes: while the shadow scorer is behind,
// the queue keeps at most shadowQueueBytes of request bodies; the rest
// are dropped and counted, and a dequeued job frees its bytes.
func TestShadowQueueIsBoundedInBytes(t *testing.T) {
	s := New(Options{}, nil)
	s.shadowOnce.Do(func() { s.shadow = make(chan shadowJob, 1024) }) // no scorer runs
	l := staticLoaded(t)
	st := &modelState{name: "m", routing: Routing{Variants: []Variant{{Alias: "champion", Weight: 100}}, Shadow: "challenger"},
		byAlias: map[string]*loaded{"champion": l, "challenger": l}}
	const body = 1 << 20
	for range 20 {
		s.afterScoring("m", st, rows{{"amount": 0.5, "plan": "pro"}}, body, []string{""}, []Prediction{{}}, "r", 0)
	}
	if len(s.shadow) != shadowQueueBytes/body || s.shadowBytes.Load() != shadowQueueBytes {
		t.Errorf("queued %d jobs of %d bytes in all, want %d and %d", len(s.shadow), s.shadowBytes.Load(), shadowQueueBytes/body, shadowQueueBytes)
	}
	var m dto.Metric
	if err := s.metrics.shadowDropped.Write(&m); err != nil {
		t.Fatal(err)
	}
	if dropped := m.GetCounter().GetValue(); dropped != 20-shadowQueueBytes/body {
		t.Errorf("dropped %v, want %d", dropped, 20-shadowQueueBytes/body)
	}
	// The scorer frees a job's bytes as it takes it.
	close(s.shadow)
	s.runShadow()
	if s.shadowBytes.Load() != 0 {
		t.Errorf("%d bytes still counted after the queue drained", s.shadowBytes.Load())
	}
}
