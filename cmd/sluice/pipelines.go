package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/metastore"
	"github.com/sluice-ml/sluice/naming"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/specstore"
)

// runApply validates the spec, stores it as a new version when it
// changed (printing the diff), and syncs the pipelines' schedules.
func runApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("apply", stderr)
	cfg.temporalFlags(f)
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL connection URL")
	specPath := "sluice.yaml"
	var explain, move bool
	f.StringVar(&specPath, "f", specPath, "project spec")
	f.BoolVar(&explain, "explain", false, "print what the spec creates (tables, online views, models, schedules) and change nothing")
	f.BoolVar(&move, "move", false, "accept that the project was applied from another folder before (the project moved)")
	if err := f.parse(args, false); err != nil {
		return err
	}
	if explain {
		s, _, err := loadSpec(specPath)
		if err != nil {
			return err
		}
		return explainSpec(stdout, s)
	}
	if cfg.DatabaseURL == "" {
		return errors.New("--database-url (or SLUICE_DATABASE_URL) is needed")
	}
	cfg.applyMove = move
	res, err := applySpec(ctx, &cfg, specPath)
	if err != nil {
		return err
	}
	res.print(stdout)
	return nil
}

// applied is what an apply did.
type applied struct {
	project        string
	version, prev  specstore.Version
	changed        bool
	schedules      []pipelines.ScheduleChange
	attributesNote string
}

func (a applied) print(w io.Writer) {
	switch {
	case !a.changed:
		fmt.Fprintf(w, "%s: spec unchanged (version %d)\n", a.project, a.version.Version)
	case a.prev.Version == 0:
		fmt.Fprintf(w, "%s: spec version %d stored (the first)\n", a.project, a.version.Version)
	default:
		fmt.Fprintf(w, "%s: spec version %d stored; changes from version %d:\n", a.project, a.version.Version, a.prev.Version)
		for _, line := range strings.Split(strings.TrimSuffix(specstore.Diff(a.prev.Content, a.version.Content), "\n"), "\n") {
			if !strings.HasPrefix(line, "  ") {
				fmt.Fprintln(w, line)
			}
		}
	}
	for _, s := range a.schedules {
		fmt.Fprintf(w, "schedule %s: %s %s\n", s.ID, s.Action, s.Cron)
	}
	if a.attributesNote != "" {
		fmt.Fprintln(w, a.attributesNote)
	}
}

// applySpec is sluice apply's work, shared with the demo.
func applySpec(ctx context.Context, cfg *config, specPath string) (applied, error) {
	content, err := os.ReadFile(specPath)
	if err != nil {
		return applied{}, err
	}
	s, err := spec.Parse(specPath, content)
	if err != nil {
		return applied{}, err
	}
	abs, err := filepath.Abs(specPath)
	if err != nil {
		return applied{}, err
	}
	db, err := metastore.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return applied{}, err
	}
	defer db.Close()
	res := applied{project: s.Project}
	store := &specstore.Store{DB: db}
	// A project's tables are its own: a spec from another folder that
	// names an existing project would write into that project's tables
	// (a copied spec whose project was not renamed, most often).
	if prev, err := store.Get(ctx, s.Project, 0); err == nil && prev.BaseDir != filepath.Dir(abs) && !cfg.applyMove {
		return res, fmt.Errorf("project %s belongs to the spec in %s (version %d); %s would write into its tables. "+
			"Give this project its own name (project: in the spec), or, if the project moved here, apply with --move", s.Project, prev.BaseDir, prev.Version, abs)
	} else if err != nil && !errors.Is(err, specstore.ErrNotFound) {
		return res, err
	}
	res.version, res.prev, res.changed, err = store.Apply(ctx, s.Project, string(content), filepath.Dir(abs), operator())
	if err != nil {
		return res, err
	}
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		return res, err
	}
	defer tc.Close()
	attrs := true
	if err := pipelines.EnsureSearchAttributes(ctx, tc, cfg.Temporal.Namespace); err != nil {
		attrs = false
		res.attributesNote = fmt.Sprintf("note: runs will not carry the Sluice* search attributes (%v)", err)
	}
	res.schedules, err = pipelines.SyncSchedules(ctx, tc, s.Project, s, res.version.Version, res.changed, attrs)
	return res, err
}

// currentProject names the project of ./sluice.yaml (or -f), else of the
// newest applied spec.
func currentProject(ctx context.Context, cfg *config, specPath string) (string, error) {
	if specPath != "" || fileExists("sluice.yaml") {
		s, _, err := loadSpec(specPath)
		if err != nil {
			return "", err
		}
		return s.Project, nil
	}
	if cfg.DatabaseURL == "" {
		return "", errors.New("no sluice.yaml here: pass -f FILE or --database-url to use the newest applied spec")
	}
	db, err := metastore.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return "", err
	}
	defer db.Close()
	v, err := (&specstore.Store{DB: db}).Latest(ctx)
	if err != nil {
		return "", fmt.Errorf("no spec applied yet (sluice apply -f sluice.yaml): %w", err)
	}
	return v.Project, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// apiFlags are the flags of commands that can go through the control API.
func (c *config) apiFlags(f *flagSet) {
	f.stringVar(&c.APIURL, "api", "SLUICE_API", "", "control API URL (http://127.0.0.1:8081); empty talks to Temporal directly")
	f.stringVar(&c.API.Token, "api-token", "SLUICE_API_TOKEN", "", "the control API's bearer token")
	f.stringVar(&c.APITokenFile, "api-token-file", "SLUICE_API_TOKEN_FILE", "", "a file holding the control API's bearer token (sluice dev writes one)")
}

// apiToken is the control API's token: --api-token, else the first line
// of --api-token-file.
func (c *config) apiToken() (string, error) {
	if c.API.Token != "" || c.APITokenFile == "" {
		return c.API.Token, nil
	}
	b, err := os.ReadFile(c.APITokenFile)
	if err != nil {
		return "", fmt.Errorf("reading the API token: %w", err)
	}
	tok, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(tok), nil
}

// callAPI sends a request to the control API and decodes its JSON answer.
func (c *config) callAPI(ctx context.Context, method, path string, body, into any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.APIURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	token, err := c.apiToken()
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("the control API: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal(raw, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("the control API answered %d %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("the control API answered %d: %s", resp.StatusCode, raw)
	}
	if into != nil {
		return json.Unmarshal(raw, into)
	}
	return nil
}

// runRun starts a pipeline run as of a time, through the API with --api.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("run", stderr)
	cfg.temporalFlags(f)
	cfg.apiFlags(f)
	f.stringVar(&cfg.DatabaseURL, "database-url", "SLUICE_DATABASE_URL", "", "PostgreSQL (to find the newest applied spec)")
	var specPath, asOfFlag string
	var wait bool
	f.StringVar(&specPath, "f", "", "project spec naming the project (default ./sluice.yaml, else the newest applied)")
	f.StringVar(&asOfFlag, "as-of", "", "run as of this time: a date or RFC 3339 (default now); an earlier time backfills")
	f.BoolVar(&wait, "wait", isTerminal(stdout), "wait for the run to finish, showing its progress, and print its result (default on a terminal)")
	name, err := f.parseOne(args)
	if err != nil {
		return err
	}
	if name == "" {
		return errors.New("usage: sluice run PIPELINE [--as-of T] [--wait] [--api URL]")
	}
	asOf, err := parseDay("as-of", asOfFlag)
	if err != nil {
		return err
	}
	if asOf.IsZero() {
		asOf = time.Now().UTC().Truncate(time.Second)
	}
	if cfg.APIURL != "" {
		var started struct {
			WorkflowID string `json:"workflow_id"`
			RunID      string `json:"run_id"`
			UIURL      string `json:"ui_url"`
		}
		path := "/api/v1/pipelines/" + url.PathEscape(name) + "/runs"
		if specPath != "" || fileExists("sluice.yaml") {
			s, _, err := loadSpec(specPath)
			if err != nil {
				return err
			}
			path += "?project=" + url.QueryEscape(s.Project)
		}
		if err := cfg.callAPI(ctx, "POST", path, map[string]any{"as_of": asOf}, &started); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "started %s (run %s)\n%s\n", started.WorkflowID, started.RunID, started.UIURL)
		for wait {
			var run struct{ Status string }
			if err := cfg.callAPI(ctx, "GET", "/api/v1/runs/"+url.PathEscape(started.WorkflowID), nil, &run); err != nil {
				return err
			}
			if run.Status != "Running" {
				fmt.Fprintf(stdout, "%s: %s\n", started.WorkflowID, run.Status)
				if run.Status != "Completed" {
					return fmt.Errorf("run %s ended %s", started.WorkflowID, run.Status)
				}
				return nil
			}
			time.Sleep(time.Second)
		}
		return nil
	}
	project, err := currentProject(ctx, &cfg, specPath)
	if err != nil {
		return err
	}
	tc, err := cfg.dialTemporal(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	run, err := startPipeline(ctx, tc, cfg.Temporal.Namespace, project, name, asOf)
	if err != nil {
		return err
	}
	announce(stdout, &cfg, run.GetID(), run.GetRunID())
	if !wait {
		return nil
	}
	var res pipelines.Result
	if err := waitRun(ctx, tc, run, &res, stderr); err != nil {
		return fmt.Errorf("pipeline %s: %w", run.GetID(), err)
	}
	printPipeline(stdout, res)
	return nil
}

// startPipeline starts a pipeline run with its deterministic id; a run of
// the same pipeline and as-of time that already started is returned, not
// started again.
func startPipeline(ctx context.Context, tc client.Client, namespace, project, name string, asOf time.Time) (client.WorkflowRun, error) {
	return pipelines.Start(ctx, tc, pipelines.StartOptions{Namespace: namespace, Project: project, Pipeline: name, AsOf: asOf})
}

func printPipeline(w io.Writer, res pipelines.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "STEP\tNAME\tRESULT\n")
	for _, s := range res.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Step, naming.Base(s.Name), s.Summary)
	}
	tw.Flush()
}

func scheduleCommands() []command {
	return []command{
		{"list", "the project's pipeline schedules", runScheduleList},
		{"trigger", "start a schedule's pipeline now: sluice schedule trigger ID", scheduleAction("trigger")},
		{"pause", "stop a schedule's runs: sluice schedule pause ID", scheduleAction("pause")},
		{"unpause", "resume a schedule: sluice schedule unpause ID", scheduleAction("unpause")},
		{"backfill", "run a schedule's missed times: sluice schedule backfill ID --start DAY --end DAY", scheduleAction("backfill")},
	}
}

func runSchedule(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runSub(ctx, "schedule", scheduleCommands(), args, stdout, stderr)
}

func runScheduleList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := defaultConfig()
	f := newFlagSet("schedule list", stderr)
	cfg.temporalFlags(f)
	cfg.apiFlags(f)
	if err := f.parse(args, false); err != nil {
		return err
	}
	var list []pipelines.Schedule
	if cfg.APIURL != "" {
		var body struct{ Schedules []pipelines.Schedule }
		if err := cfg.callAPI(ctx, "GET", "/api/v1/schedules", nil, &body); err != nil {
			return err
		}
		list = body.Schedules
	} else {
		tc, err := cfg.dialTemporal(ctx)
		if err != nil {
			return err
		}
		defer tc.Close()
		if list, err = pipelines.ListSchedules(ctx, tc, ""); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tCRON\tPAUSED\tNEXT RUN")
	for _, s := range list {
		next := "-"
		if !s.Next.IsZero() {
			next = s.Next.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", s.ID, strings.Join(s.Cron, " | "), s.Paused, next)
	}
	return tw.Flush()
}

func scheduleAction(action string) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		cfg := defaultConfig()
		f := newFlagSet("schedule "+action, stderr)
		cfg.temporalFlags(f)
		cfg.apiFlags(f)
		var startFlag, endFlag string
		if action == "backfill" {
			f.StringVar(&startFlag, "start", "", "first time to run (a date or RFC 3339)")
			f.StringVar(&endFlag, "end", "", "run the schedule's times before this")
		}
		id, err := f.parseOne(args)
		if err != nil {
			return err
		}
		if id == "" {
			return fmt.Errorf("usage: sluice schedule %s ID (see sluice schedule list)", action)
		}
		from, err := parseDay("start", startFlag)
		if err != nil {
			return err
		}
		to, err := parseDay("end", endFlag)
		if err != nil {
			return err
		}
		if cfg.APIURL != "" {
			err = cfg.callAPI(ctx, "POST", "/api/v1/schedules/"+url.PathEscape(id)+"/"+action, map[string]any{"start": from, "end": to}, nil)
		} else {
			tc, derr := cfg.dialTemporal(ctx)
			if derr != nil {
				return derr
			}
			defer tc.Close()
			err = pipelines.ScheduleAction(ctx, tc, id, action, from, to)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", id, action)
		return nil
	}
}
