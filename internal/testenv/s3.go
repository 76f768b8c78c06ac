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
	cmd := exec.Command(bin, "--port", addr, "--access", s3AccessKey, "--secret", s3SecretKey, "posix", dir)
	logf, err := os.Create(filepath.Join(dir, "..", filepath.Base(dir)+".log"))
	if err == nil {
		cmd.Stdout, cmd.Stderr = logf, logf
		onExit(func() { logf.Close(); os.Remove(logf.Name()) })
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	onExit(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	for _, kv := range [][2]string{{"AWS_ACCESS_KEY_ID", s3AccessKey}, {"AWS_SECRET_ACCESS_KEY", s3SecretKey}, {"AWS_REGION", "us-east-1"}} {
		os.Setenv(kv[0], kv[1])
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr, nil
		}
		select {
		case err := <-done:
			return "", fmt.Errorf("versitygw exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("versitygw did not listen on %s in 20 s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
