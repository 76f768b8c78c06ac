package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/testkit/mockcuda"
)

// TestOnTheMockDriver runs both checks through the mock libcuda, whose
// kernels are the Go references.
func TestOnTheMockDriver(t *testing.T) {
	mockcuda.Load(t)
	var out bytes.Buffer
	if err := run([]string{"selftest"}, &out); err != nil {
		t.Fatalf("selftest: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "self-test gpu:0 (Mock GPU 0)  ok") || !strings.Contains(out.String(), "CUDA 12.4, 1 GPUs") {
		t.Errorf("selftest printed:\n%s", out.String())
	}
	out.Reset()
	if err := run([]string{"bench", "--rows", "20000", "--trees", "8", "--threads", "2"}, &out); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"cpu training (2 threads)", "gpu training (gpu:0 (Mock GPU 0))", "AUC difference", "(≤ 0.001: ok)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`identical trees +8 of 8`).MatchString(out.String()) {
		t.Errorf("the trees differ:\n%s", out.String())
	}
	t.Setenv("MOCKCUDA_FAIL", "cuModuleLoadDataEx")
	out.Reset()
	if err := run([]string{"selftest"}, &out); err == nil || !strings.Contains(out.String(), "FAILED") {
		t.Errorf("a failing JIT passed the self-test: %v\n%s", err, out.String())
	}
}
