package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-ml/sluice/lakehouse"
)

// VersityGW is the S3-compatible server the harness runs; `make test`
// installs it into bin/.
const VersityGW = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

const (
	s3AccessKey = "sluicetest"
	s3SecretKey = "sluicetestsecret"
)

var s3srv struct {
	once     sync.Once
	endpoint string
	err      error

	mu   sync.Mutex
	addr string
	cmd  *exec.Cmd // the running server
	done chan error
	args []string
	logf *os.File
}

// S3 returns lake options for a new, empty bucket on a versitygw server
// started once per test package on loopback. Credentials are set in the
// environment, where the AWS chain finds them.
func S3(t testing.TB) lakehouse.Options {
	t.Helper()
	s3srv.once.Do(func() { s3srv.endpoint, s3srv.err = startVersityGW() })
	if s3srv.err != nil {
		Unavailable(t, "S3 (versitygw): %v", s3srv.err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	bucket := "test-" + hex.EncodeToString(b[:])
	o := lakehouse.Options{URL: "s3://" + bucket + "/lake", S3Endpoint: s3srv.endpoint, S3PathStyle: true, S3Region: "us-east-1"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := lakehouse.NewS3Client(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
	return o
}

func findVersityGW() (string, error) {
	if p := os.Getenv("SLUICE_VERSITYGW"); p != "" {
		return p, nil
	}
	if root := moduleRoot(); root != "" {
		p := filepath.Join(root, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", errors.New("versitygw not found in bin/ or on PATH; `make tools` installs it (go install " + VersityGW + ")")
}

func startVersityGW() (string, error) {
	bin, err := findVersityGW()
	if err != nil {
		return "", err
	}
	dir, err := sharedTempDir("sluice-tests3-")
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	// Name the address: versitygw's default listens on every interface.
	s3srv.addr = addr
	s3srv.args = []string{bin, "--port", addr, "--access", s3AccessKey, "--secret", s3SecretKey, "posix", dir}
	logf, err := os.Create(filepath.Join(dir, "..", filepath.Base(dir)+".log"))
	if err == nil {
		s3srv.logf = logf
		onExit(func() { logf.Close(); os.Remove(logf.Name()) })
	}
	if err := runVersityGW(); err != nil {
		return "", err
	}
	onExit(stopVersityGW)
	for _, kv := range [][2]string{{"AWS_ACCESS_KEY_ID", s3AccessKey}, {"AWS_SECRET_ACCESS_KEY", s3SecretKey}, {"AWS_REGION", "us-east-1"}} {
		os.Setenv(kv[0], kv[1])
	}
	if err := waitListening(addr); err != nil {
		return "", err
	}
	return "http://" + addr, nil
}

// runVersityGW starts the server with the saved arguments.
func runVersityGW() error {
	s3srv.mu.Lock()
	defer s3srv.mu.Unlock()
	cmd := exec.Command(s3srv.args[0], s3srv.args[1:]...)
	if s3srv.logf != nil {
		cmd.Stdout, cmd.Stderr = s3srv.logf, s3srv.logf
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s3srv.args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	s3srv.cmd, s3srv.done = cmd, done
	return nil
}

// stopVersityGW stops the running server: SIGTERM, then SIGKILL after 5 s.
func stopVersityGW() {
	s3srv.mu.Lock()
	cmd, done := s3srv.cmd, s3srv.done
	s3srv.cmd = nil
	s3srv.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func waitListening(addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		s3srv.mu.Lock()
		done := s3srv.done
		s3srv.mu.Unlock()
		select {
		case err := <-done:
			return fmt.Errorf("versitygw exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not listen on %s in 20 s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopS3For stops the package's S3 server (the one S3 started), in the
// background: it is down for d, then starts again on the same address and
// data. The returned channel yields once it listens again. Fault-injection
// tests use it.
func StopS3For(t testing.TB, d time.Duration) <-chan error {
	t.Helper()
	if s3srv.endpoint == "" {
		t.Fatal("StopS3For before S3")
	}
	stopVersityGW()
	back := make(chan error, 1)
	go func() {
		time.Sleep(d)
		if err := runVersityGW(); err != nil {
			back <- err
			return
		}
		back <- waitListening(s3srv.addr)
	}()
	return back
}
