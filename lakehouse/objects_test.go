package lakehouse_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-ml/sluice/lakehouse"
	"github.com/sluice-ml/sluice/testkit/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// stores returns each backend, so every test runs against both.
func stores(t *testing.T) map[string]lakehouse.ObjectStore {
	t.Helper()
	ctx := context.Background()
	s3, err := lakehouse.Open(ctx, testenv.S3(t))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]lakehouse.ObjectStore{"file": testenv.Lake(t), "s3": s3}
}

func get(t *testing.T, s lakehouse.ObjectStore, key string) string {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestObjectStoreContract(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, kv := range [][2]string{
				{"raw/customers/a.parquet", "A"},
				{"raw/customers/b.parquet", "B"},
				{"raw/orders/c.parquet", "C"},
				{"models/churn/v1/model.sluice", "M"},
			} {
				if err := s.Put(ctx, kv[0], strings.NewReader(kv[1])); err != nil {
					t.Fatalf("Put(%q): %v", kv[0], err)
				}
			}
			if got := get(t, s, "raw/orders/c.parquet"); got != "C" {
				t.Errorf("Get = %q, want C", got)
			}
			// Put replaces: a retried writer rewrites the same key.
			if err := s.Put(ctx, "raw/orders/c.parquet", strings.NewReader("C2")); err != nil {
				t.Fatal(err)
			}
			if got := get(t, s, "raw/orders/c.parquet"); got != "C2" {
				t.Errorf("Get after overwrite = %q, want C2", got)
			}
			keys, err := s.List(ctx, "raw/customers/")
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"raw/customers/a.parquet", "raw/customers/b.parquet"}; !reflect.DeepEqual(keys, want) {
				t.Errorf("List = %v, want %v", keys, want)
			}
			if err := s.Delete(ctx, "raw/customers/a.parquet"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "raw/customers/a.parquet"); err != nil {
				t.Errorf("deleting a missing key: %v, want nil", err)
			}
			if _, err := s.Get(ctx, "raw/customers/a.parquet"); !errors.Is(err, lakehouse.ErrNotFound) {
				t.Errorf("Get of a deleted key: %v, want ErrNotFound", err)
			}
			for _, bad := range []string{"", "/abs", "a/../b", "a//b", "a/./b"} {
				if err := s.Put(ctx, bad, strings.NewReader("x")); err == nil {
					t.Errorf("Put(%q) succeeded, want an invalid-key error", bad)
				}
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{"file:///var/lib/sluice/lake", ""},
		{"s3://bucket/prefix", ""},
		{"s3://bucket", ""},
		{"", "empty"},
		{"file://relative/path", "absolute path"},
		{"s3:///prefix", "needs a bucket"},
		{"gs://bucket", "file:// or s3://"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := lakehouse.Options{URL: tt.url}.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestS3ErrorsHideTheKeys: S3 refusing the credentials is an error that
// names the bucket, not the secret key.
func TestS3ErrorsHideTheKeys(t *testing.T) {
	o := testenv.S3(t)
	const secret = "s3-Kp27-wrong-secret"
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIASLUICEWRONGKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	ctx := testenv.Context(t)
	store, err := lakehouse.Open(ctx, o)
	if err == nil {
		err = store.Put(ctx, "probe/object", strings.NewReader("x"))
	}
	if err == nil {
		t.Fatal("S3 accepted the wrong keys")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error shows the secret key: %v", err)
	}
}
