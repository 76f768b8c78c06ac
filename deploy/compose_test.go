package deploy_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile loads deploy/docker-compose.yml with the Compose
// specification's reference loader and checks its services, ports,
// health checks and profiles.
func TestComposeFile(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"},
		cli.WithEnv([]string{"SLUICE_API_TOKEN=test-token", "MINIO_ROOT_PASSWORD=test-minio"}), cli.WithProfiles([]string{"cpu", "gpu"}), cli.WithName("sluice"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"api", "minio", "minio-setup", "postgresql", "serve", "temporal", "temporal-ui", "worker-cpu", "worker-gpu"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		t.Fatalf("services %v, want %v", got, want)
	}
	published := func(s types.ServiceConfig) []string {
		var out []string
		for _, port := range s.Ports {
			out = append(out, port.HostIP+":"+port.Published)
		}
		return out
	}
	// Temporal, its UI, MinIO and the worker's metrics are on loopback
	// only: reaching Temporal is full control of the platform, and
	// MinIO's keys can replace models.
	for name, ports := range map[string][]string{"api": {":8081"}, "serve": {":8080"}, "temporal": {"127.0.0.1:7233"}, "temporal-ui": {"127.0.0.1:8233"},
		"minio": {"127.0.0.1:9000", "127.0.0.1:9001"}, "worker-cpu": {"127.0.0.1:9464"}} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := published(s); !slices.Equal(got, ports) {
			t.Errorf("%s publishes %v, want %v", name, got, ports)
		}
	}
	for _, name := range []string{"postgresql", "temporal", "minio", "api", "serve", "worker-cpu", "worker-gpu"} {
		s, _ := p.GetService(name)
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 {
			t.Errorf("%s has no health check", name)
		}
		if strings.HasPrefix(name, "worker") || name == "api" || name == "serve" {
			if s.HealthCheck != nil && !slices.Contains(s.HealthCheck.Test, "probe") {
				t.Errorf("%s's health check %v does not use sluice probe (the image has no shell)", name, s.HealthCheck.Test)
			}
			if s.Environment["SLUICE_API_TOKEN"] == nil || *s.Environment["SLUICE_API_TOKEN"] != "test-token" || *s.Environment["SLUICE_LAKE"] != "s3://sluice/lake" {
				t.Errorf("%s's environment %v", name, s.Environment)
			}
			if dep, ok := s.DependsOn["minio-setup"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s does not wait for the bucket: %+v", name, s.DependsOn)
			}
		}
	}
	cpu, _ := p.GetService("worker-cpu")
	gpu, _ := p.GetService("worker-gpu")
	if !slices.Equal(cpu.Profiles, []string{"cpu"}) || !slices.Equal(gpu.Profiles, []string{"gpu"}) {
		t.Errorf("profiles: cpu %v, gpu %v", cpu.Profiles, gpu.Profiles)
	}
	if gpu.Deploy == nil || gpu.Deploy.Resources.Reservations == nil || len(gpu.Deploy.Resources.Reservations.Devices) != 1 ||
		!slices.Contains(gpu.Deploy.Resources.Reservations.Devices[0].Capabilities, "gpu") {
		t.Errorf("the gpu worker reserves no GPU: %+v", gpu.Deploy)
	}
	if !slices.Contains(gpu.Command, "--gpus") || !slices.Contains(cpu.Command, "control,io,cpu") {
		t.Errorf("worker commands: cpu %v, gpu %v", cpu.Command, gpu.Command)
	}

	// Without the token, or without MinIO's password, the file refuses to
	// load.
	for missing, env := range map[string][]string{"SLUICE_API_TOKEN": {"SLUICE_API_TOKEN=", "MINIO_ROOT_PASSWORD=x"},
		"MINIO_ROOT_PASSWORD": {"SLUICE_API_TOKEN=x", "MINIO_ROOT_PASSWORD="}} {
		opts, _ = cli.NewProjectOptions([]string{"docker-compose.yml"}, cli.WithEnv(env), cli.WithProfiles([]string{"cpu"}), cli.WithName("sluice"))
		if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("loading without %s: %v", missing, err)
		}
	}
}

func sorted(xs []string) []string {
	out := slices.Clone(xs)
	slices.Sort(out)
	return out
}
