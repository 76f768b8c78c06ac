package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/devstack/temporalserver"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

// runMainEnv makes the test binary act as the sluice binary, so that tests
// run the real commands in child processes they can signal and kill.
const runMainEnv = "SLUICE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if db := os.Getenv(runTemporalEnv); db != "" {
		os.Exit(runTemporal(db))
	}
	if os.Getenv(runMainEnv) == "1" {
		if dir := os.Getenv(killAfterEnv); dir != "" {
			testInterceptors = append(testInterceptors, &killAfterEffects{dir: dir})
		}
		os.Exit(mainWithArgs(os.Args[1:], os.Stdout, os.Stderr))
	}
	testenv.Main(m)
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a `sluice` child process.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// startSluice runs `sluice args...` as a child with env added to this
// process's environment less SLUICE_DATABASE_URL.
func startSluice(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_DATABASE_URL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, runMainEnv+"=1")
	cmd.Env = append(cmd.Env, env...)
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of sluice %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// waitFor waits until the output contains s.
func (p *process) waitFor(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("process exited (%v) before printing %q:\n%s", p.err, s, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %s:\n%s", s, timeout, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exit waits for the process to end and returns how long it took.
func (p *process) exit(t *testing.T, timeout time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	select {
	case <-p.done:
		return time.Since(start), p.err
	case <-time.After(timeout):
		t.Fatalf("process still running after %s:\n%s", timeout, p.out.String())
		return 0, nil
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		p, err := temporalserver.FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

// processesNaming lists the pids whose command line contains s.
func processesNaming(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) && e.Name() != fmt.Sprint(os.Getpid()) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func runInProcess(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := mainWithArgs(args, &out, &out)
	return code, out.String()
}

func TestHelpListsCommands(t *testing.T) {
	code, out := runInProcess(t, "help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name+" ") {
			t.Errorf("help does not list %q:\n%s", c.name, out)
		}
	}
	code, out = runInProcess(t, "frobnicate")
	if code != 2 || !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, output %q", code, out)
	}
}

func TestConfigErrorsNameTheirSource(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad flag value", nil, []string{"worker", "--slots", "many"}, "-slots"},
		{"bad env bool", map[string]string{"SLUICE_S3_PATH_STYLE": "maybe"}, []string{"worker"}, "SLUICE_S3_PATH_STYLE"},
		{"bad env int", map[string]string{"SLUICE_WORKER_SLOTS": "x"}, []string{"worker"}, "SLUICE_WORKER_SLOTS"},
		{"missing database", map[string]string{"SLUICE_DATABASE_URL": ""}, []string{"worker", "--lake", "file:///tmp/l"}, "--database-url (SLUICE_DATABASE_URL) is required"},
		{"unknown queue", nil, []string{"worker", "--queues", "io,tpu"}, `unknown queue "tpu"`},
		{"bad lake", map[string]string{"SLUICE_DATABASE_URL": "postgres://x"}, []string{"worker", "--lake", "gs://b"}, "--lake (SLUICE_LAKE)"},
		{"bad temporal address", map[string]string{"SLUICE_TEMPORAL_ADDRESS": "nohostport"}, []string{"selfcheck"}, "SLUICE_TEMPORAL_ADDRESS"},
		{"bad port", nil, []string{"dev", "--ui-port", "70000"}, "--ui-port"},
		{"bad log level", nil, []string{"serve", "--log-level", "loud"}, "--log-level"},
		{"stray argument", nil, []string{"serve", "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out := runInProcess(t, tt.args...)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output %q; want a failure naming %q", code, out, tt.want)
			}
		})
	}
}

// TestCPUProfileOfACommand: SLUICE_CPUPROFILE writes a profile of the
// command, %p naming the process; a path it cannot create fails the
// command before it runs.
func TestCPUProfileOfACommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SLUICE_CPUPROFILE", filepath.Join(dir, "cpu-%p.pprof"))
	if code, out := runInProcess(t, "ml", "inspect", filepath.Join(dir, "missing.sluice")); code != 1 {
		t.Fatalf("exit %d: %s", code, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("cpu-%d.pprof", os.Getpid())))
	if err != nil || len(b) == 0 {
		t.Fatalf("no profile written: %v", err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) { // pprof's profiles are gzipped protobufs
		t.Errorf("the profile is not a pprof file: % x", b[:min(8, len(b))])
	}
	t.Setenv("SLUICE_CPUPROFILE", filepath.Join(dir, "no-such-dir", "cpu.pprof"))
	if code, out := runInProcess(t, "ml", "inspect", filepath.Join(dir, "missing.sluice")); code != 1 || !strings.Contains(out, "SLUICE_CPUPROFILE") {
		t.Errorf("an unwritable profile path: exit %d, %q", code, out)
	}
}
