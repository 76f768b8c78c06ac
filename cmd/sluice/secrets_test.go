package main

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ml/sluice/testkit/testenv"
)

// TestSecretsStayOutOfErrorsAndLogs runs commands with a database
// password, S3 keys and an API token in their configuration, against
// servers that are not there, at debug level, and greps everything they
// print for the secrets. (lakehouse's TestS3ErrorsHideTheKeys covers S3
// refusing the keys.)
func TestSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	const (
		password  = "pw-Zx81-secret"
		s3Secret  = "s3-Kp27-secret"
		apiToken  = "tok-Qv93-secret"
		s3KeyID   = "AKIASLUICETESTKEY"
		unreached = "postgres://sluice:" + password + "@127.0.0.1:1/sluice?connect_timeout=2"
	)
	secrets := []string{password, s3Secret, apiToken}
	good, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// Trust auth ignores the password: this URL connects, and carries it.
	good.User = url.UserPassword(good.User.Username(), password)
	t.Setenv("SLUICE_LOG_LEVEL", "debug")
	t.Setenv("SLUICE_API_TOKEN", apiToken)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"worker, database unreachable", nil, []string{"worker", "--database-url", unreached, "--lake", "file://" + t.TempDir()}},
		{"lake, database unreachable", nil, []string{"lake", "tables", "--database-url", unreached, "--lake", "file://" + t.TempDir()}},
		{"lake, malformed URL", nil, []string{"lake", "tables", "--database-url", "postgres://sluice:" + password + "@[::1:5432/x", "--lake", "file://" + t.TempDir()}},
		{"worker, Temporal unreachable", map[string]string{"AWS_ACCESS_KEY_ID": s3KeyID, "AWS_SECRET_ACCESS_KEY": s3Secret},
			[]string{"worker", "--database-url", good.String(), "--lake", "file://" + t.TempDir(), "--temporal-address", "127.0.0.1:1"}},
		{"run through an API that is not there", nil, []string{"run", "daily", "--api", "http://127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A child process: the commands log to the process's stderr.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			for k, v := range tc.env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			b, err := cmd.CombinedOutput()
			all := string(b)
			if err == nil {
				t.Errorf("succeeded against a server that refuses it:\n%s", all)
			}
			if !strings.Contains(all, "sluice "+tc.args[0]) && ctx.Err() == nil {
				t.Errorf("no error printed:\n%s", all)
			}
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("printed the secret %q:\n%s", s, all)
				}
			}
		})
	}
}
