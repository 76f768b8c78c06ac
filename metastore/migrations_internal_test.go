package metastore

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"no number", fstest.MapFS{"migrations/init.sql": {Data: []byte("SELECT 1")}}, "NNNN_description"},
		{"zero", fstest.MapFS{"migrations/0000_init.sql": {Data: []byte("SELECT 1")}}, "NNNN_description"},
		{"duplicate", fstest.MapFS{
			"migrations/0001_a.sql": {Data: []byte("SELECT 1")},
			"migrations/0001_b.sql": {Data: []byte("SELECT 1")},
		}, "share version 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadMigrations(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadMigrationsSortsByVersion(t *testing.T) {
	ms, err := loadMigrations(fstest.MapFS{
		"migrations/0010_later.sql":  {Data: []byte("SELECT 10")},
		"migrations/0002_second.sql": {Data: []byte("SELECT 2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 2 || ms[1].Version != 10 || ms[0].Name != "second" {
		t.Fatalf("got %+v", ms)
	}
}
