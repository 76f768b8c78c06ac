package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRedactURLHidesEveryPasswordForm: the banner and the demo print the
// database URL; the password never shows, whichever form the URL takes.
// (Before, a key=value DSN and a ?password= query printed it.)
func TestRedactURLHidesEveryPasswordForm(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://sluice:s3cret@127.0.0.1:5432/sluice?sslmode=disable", "postgres://sluice:****@127.0.0.1:5432/sluice?sslmode=disable"},
		{"postgres://sluice@127.0.0.1:5432/sluice?password=s3cret&sslmode=disable", "postgres://sluice@127.0.0.1:5432/sluice?password=****&sslmode=disable"},
		{"host=127.0.0.1 user=sluice password=s3cret dbname=sluice", "host=127.0.0.1 user=sluice password=**** dbname=sluice"},
		{"host=127.0.0.1 user=sluice password = 's3 cret' dbname=sluice", "host=127.0.0.1 user=sluice password = **** dbname=sluice"},
		{"postgres://sluice@127.0.0.1:5432/sluice", "postgres://sluice@127.0.0.1:5432/sluice"},
	} {
		got := redactURL(c.in)
		if got != c.want || strings.Contains(got, "s3") {
			t.Errorf("redactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestDevOptionsRefuseExposingTemporal: a non-loopback --host needs
// --insecure-expose, since the embedded Temporal has no authentication.
func TestDevOptionsRefuseExposingTemporal(t *testing.T) {
	o := defaultDevOptions()
	o.Host = "0.0.0.0"
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "--insecure-expose") {
		t.Errorf("--host 0.0.0.0: %v, want a refusal naming --insecure-expose", err)
	}
	o.InsecureExpose = true
	if err := o.validate(); err != nil {
		t.Errorf("--host 0.0.0.0 --insecure-expose: %v", err)
	}
	o = defaultDevOptions()
	o.Host = "::1"
	if err := o.validate(); err != nil {
		t.Errorf("--host ::1: %v", err)
	}
}

// TestDevWorkerQueues: --worker-queues takes known queues only, and at
// least one.
func TestDevWorkerQueues(t *testing.T) {
	for qs, ok := range map[string]bool{"control,io,cpu,gpu": true, "control,cpu,gpu": true, "control,disk": false, "": false} {
		o := defaultDevOptions()
		o.WorkerQueues = qs
		if err := o.validate(); (err == nil) != ok {
			t.Errorf("--worker-queues %q: %v", qs, err)
		} else if err != nil && !strings.HasPrefix(err.Error(), "--worker-queues") {
			t.Errorf("--worker-queues %q: %v, want it named", qs, err)
		}
	}
}

// TestDevTokenRefusesAFileOthersCanRead: an api-token file with loose
// permissions is refused, not reused; a private one is reused.
func TestDevTokenRefusesAFileOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-token")
	tok, err := devToken(path)
	if err != nil || len(tok) != 64 {
		t.Fatalf("a new token: %q %v", tok, err)
	}
	if again, err := devToken(path); err != nil || again != tok {
		t.Errorf("the private file was not reused: %q %v", again, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := devToken(path); err == nil || !strings.Contains(err.Error(), "readable or writable by others") {
		t.Errorf("a world-readable token file: %v, want a refusal", err)
	}
}
