package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/workflows"
)

// loadSpec reads the spec from -f, else ./sluice.yaml.
func loadSpec(path string) (*spec.Spec, string, error) {
	if path == "" {
		if _, err := os.Stat("sluice.yaml"); err != nil {
			return nil, "", errors.New("no project spec: pass -f FILE or run where sluice.yaml is")
		}
		path = "sluice.yaml"
	}
	s, err := spec.Load(path)
	if err != nil {
		return nil, "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	return s, filepath.Dir(abs), nil
}

// specArg parses the flags and the one name a spec command takes (a
// source, view or model), and loads the spec from -f or ./sluice.yaml.
func specArg(f *flagSet, args []string, specPath *string, usage string) (string, *spec.Spec, string, error) {
	name, err := f.parseOne(args)
	if err != nil {
		return "", nil, "", err
	}
	if name == "" {
		return "", nil, "", errors.New(usage)
	}
	s, dir, err := loadSpec(*specPath)
	return name, s, dir, err
}

// startRun dials Temporal and starts a workflow on the control queue,
// saying so on stdout. The caller closes the client.
func startRun(ctx context.Context, cfg *config, stdout io.Writer, id string, wf, req any) (client.Client, client.WorkflowRun, error) {
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		return nil, nil, err
	}
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl}, wf, req)
	if err != nil {
		tc.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", id, err)
	}
	announce(stdout, cfg, id, run.GetRunID())
	return tc, run, nil
}

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("ingest", stderr)
	cfg.temporalFlags(f)
	var specPath string
	wait := true
	var chunkRows int
	var maxReject float64
	var fullRefresh bool
	f.StringVar(&specPath, "f", "", "project spec (default ./sluice.yaml)")
	f.BoolVar(&wait, "wait", true, "wait for the run to finish")
	f.IntVar(&chunkRows, "chunk-rows", 0, "rows per chunk, the unit of parsing and of resuming after a crash (default 100000)")
	f.Float64Var(&maxReject, "max-reject-ratio", 0, "fail above this share of rejected rows (default 0.01)")
	f.BoolVar(&fullRefresh, "full-refresh", false, "replace the table's content in one snapshot instead of appending")
	source, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if source == "" {
		return errors.New("usage: sluice ingest SOURCE [-f sluice.yaml] [--full-refresh]")
	}
	s, dir, err := loadSpec(specPath)
	if err != nil {
		return err
	}
	req, err := pipelines.Ingest(s, dir, source)
	if err != nil {
		return err
	}
	req.ChunkRows, req.MaxRejectRatio, req.FullRefresh = chunkRows, maxReject, fullRefresh
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	id := fmt.Sprintf("ingest/%s/%s", req.Source, time.Now().UTC().Format("2006-01-02T15:04:05Z"))
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workflows.QueueControl}, workflows.Ingest, req)
	if err != nil {
		return fmt.Errorf("starting ingest: %w", err)
	}
	announce(stdout, &cfg, id, run.GetRunID())
	if !wait {
		return nil
	}
	var res workflows.IngestResult
	if err := waitRun(ctx, tc, run, &res, stderr); err != nil {
		return fmt.Errorf("ingest %s: %w", id, err)
	}
	r := res.Ingest
	for _, q := range r.Quality {
		status := "pass"
		if !q.Passed {
			status = q.Level
		}
		fmt.Fprintf(stdout, "check %-40s %-4s %s\n", q.Check, status, q.Detail)
	}
	if r.Unchanged {
		fmt.Fprintf(stdout, "%s: unchanged since the last ingest (same files as snapshot %d); nothing landed\n", r.Table, r.SnapshotID)
		return nil
	}
	fmt.Fprintf(stdout, "ingested %d rows into %s (snapshot %d), %d rejected into %s\n", r.Rows, r.Table, r.SnapshotID, r.Rejected, r.Quarantine)
	if len(r.AddedColumns) > 0 {
		fmt.Fprintf(stdout, "the table gained columns: %s\n", strings.Join(r.AddedColumns, ", "))
	}
	return nil
}
