package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/internal/httpx"
	"github.com/sluice-ml/sluice/pipelines"
	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/specstore"
)

// Temporal is what the run and schedule endpoints need: a client, its
// namespace, how to find the project a pipeline belongs to, and the UI's
// URL for links (empty: no links).
type Temporal struct {
	Client    client.Client
	Namespace string
	// Project names the project whose newest spec has the pipeline
	// (ErrNoPipeline when none; ErrAmbiguousPipeline when several and
	// project, the caller's choice, is empty).
	Project func(ctx context.Context, pipeline, project string) (string, error)
	UIURL   string
}

var (
	// ErrNoPipeline reports a pipeline no applied spec has.
	ErrNoPipeline = errors.New("api: no applied spec has this pipeline")
	// ErrAmbiguousPipeline reports a pipeline several projects have.
	ErrAmbiguousPipeline = errors.New("api: several projects have this pipeline")
)

// WithTemporal serves runs, pipelines and schedules.
func (s *Server) WithTemporal(t Temporal) *Server {
	s.temporal = &t
	return s
}

func (s *Server) runRoutes(r chi.Router) {
	r.Post("/pipelines/{name}/runs", httpx.Wrap(s.logger, s.startRun))
	r.Get("/runs", httpx.Wrap(s.logger, s.listRuns))
	r.Get("/runs/{id}", httpx.Wrap(s.logger, s.getRun))
	r.Post("/runs/{id}/cancel", httpx.Wrap(s.logger, s.cancelRun))
	r.Get("/schedules", httpx.Wrap(s.logger, s.listSchedules))
	r.Post("/schedules/{id}/{action}", httpx.Wrap(s.logger, s.scheduleAction))
}

func (s *Server) needTemporal() error {
	if s.temporal == nil {
		return httpx.Errorf(http.StatusNotImplemented, "no_temporal", "this server has no Temporal connection")
	}
	return nil
}

// param reads a path parameter that may hold escaped slashes (run and
// schedule ids do).
func param(r *http.Request, name string) (string, error) {
	v, err := url.PathUnescape(chi.URLParam(r, name))
	if err != nil {
		return "", httpx.Errorf(http.StatusBadRequest, "bad_request", "%s: %v", name, err)
	}
	return v, nil
}

// Started answers a started run: 202.
type Started struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	UIURL      string `json:"ui_url,omitempty"`
}

// HTTPStatus is 202 Accepted.
func (Started) HTTPStatus() int { return http.StatusAccepted }

func (s *Server) uiURL(id, runID string) string {
	if s.temporal.UIURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", s.temporal.UIURL, url.PathEscape(s.temporal.Namespace), url.PathEscape(id), url.PathEscape(runID))
}

// startRun answers POST /api/v1/pipelines/{name}/runs with an optional
// {"as_of": "2026-11-01T00:00:00Z"}: the run's id derives from the
// pipeline and the as-of time, so the same one starts once.
func (s *Server) startRun(r *http.Request) (any, error) {
	if err := s.needTemporal(); err != nil {
		return nil, err
	}
	var req struct {
		AsOf time.Time `json:"as_of"`
	}
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, 64<<10, &req, `{"as_of": "2026-11-01T00:00:00Z"}`); err != nil {
			return nil, err
		}
	}
	if req.AsOf.IsZero() {
		req.AsOf = time.Now().UTC().Truncate(time.Second)
	}
	name := chi.URLParam(r, "name")
	project, err := s.temporal.Project(r.Context(), name, r.URL.Query().Get("project"))
	switch {
	case errors.Is(err, ErrNoPipeline):
		return nil, httpx.Errorf(http.StatusNotFound, "unknown_pipeline", "%v", err)
	case errors.Is(err, ErrAmbiguousPipeline):
		return nil, httpx.Errorf(http.StatusConflict, "ambiguous_pipeline", "%v: add ?project=NAME", err)
	case err != nil:
		return nil, err
	}
	run, err := pipelines.Start(r.Context(), s.temporal.Client, pipelines.StartOptions{Namespace: s.temporal.Namespace,
		Project: project, Pipeline: name, AsOf: req.AsOf, Once: true})
	if errors.Is(err, pipelines.ErrAlreadyRan) {
		return nil, httpx.Errorf(http.StatusConflict, "already_ran", "%s already ran as of %s", name, req.AsOf.Format(time.RFC3339))
	}
	if err != nil {
		return nil, err
	}
	return Started{WorkflowID: run.GetID(), RunID: run.GetRunID(), UIURL: s.uiURL(run.GetID(), run.GetRunID())}, nil
}

// Run is a workflow run as listed.
type Run struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Start      time.Time `json:"start_time"`
	Close      time.Time `json:"close_time,omitzero"`
	UIURL      string    `json:"ui_url,omitempty"`
}

func statusName(st enums.WorkflowExecutionStatus) string {
	switch st {
	case enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "Running"
	case enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "Completed"
	case enums.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "Failed"
	case enums.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "Canceled"
	case enums.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "Terminated"
	case enums.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "TimedOut"
	case enums.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "ContinuedAsNew"
	}
	return "Unknown"
}

// listRuns answers GET /api/v1/runs: the newest 100 pipeline runs, or
// ?type=Train (any workflow type) .
func (s *Server) listRuns(r *http.Request) (any, error) {
	if err := s.needTemporal(); err != nil {
		return nil, err
	}
	typ := r.URL.Query().Get("type")
	if typ == "" {
		typ = "Pipeline"
	}
	for _, c := range typ {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "type must be a workflow type name")
		}
	}
	resp, err := s.temporal.Client.ListWorkflow(r.Context(), &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.temporal.Namespace, PageSize: 100, Query: fmt.Sprintf("WorkflowType = '%s'", typ)})
	if err != nil {
		return nil, err
	}
	runs := []Run{}
	for _, e := range resp.Executions {
		run := Run{WorkflowID: e.Execution.WorkflowId, RunID: e.Execution.RunId, Type: e.Type.GetName(), Status: statusName(e.Status),
			Start: e.StartTime.AsTime(), UIURL: s.uiURL(e.Execution.WorkflowId, e.Execution.RunId)}
		if e.CloseTime != nil {
			run.Close = e.CloseTime.AsTime()
		}
		runs = append(runs, run)
	}
	return map[string]any{"runs": runs}, nil
}

// getRun answers GET /api/v1/runs/{id} (the id URL-escaped): the newest
// run of that workflow id, with its failure when it failed.
func (s *Server) getRun(r *http.Request) (any, error) {
	if err := s.needTemporal(); err != nil {
		return nil, err
	}
	id, err := param(r, "id")
	if err != nil {
		return nil, err
	}
	desc, err := s.temporal.Client.DescribeWorkflowExecution(r.Context(), id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, httpx.Errorf(http.StatusNotFound, "not_found", "no run %q", id)
	}
	if err != nil {
		return nil, err
	}
	e := desc.WorkflowExecutionInfo
	run := Run{WorkflowID: e.Execution.WorkflowId, RunID: e.Execution.RunId, Type: e.Type.GetName(), Status: statusName(e.Status),
		Start: e.StartTime.AsTime(), UIURL: s.uiURL(e.Execution.WorkflowId, e.Execution.RunId)}
	if e.CloseTime != nil {
		run.Close = e.CloseTime.AsTime()
	}
	out := map[string]any{"workflow_id": run.WorkflowID, "run_id": run.RunID, "type": run.Type, "status": run.Status,
		"start_time": run.Start, "ui_url": run.UIURL}
	if !run.Close.IsZero() {
		out["close_time"] = run.Close
	}
	if run.Status == "Completed" || run.Status == "Failed" {
		var result any
		if gerr := s.temporal.Client.GetWorkflow(r.Context(), id, run.RunID).Get(r.Context(), &result); gerr != nil {
			out["error"] = gerr.Error()
		} else {
			out["result"] = result
		}
	}
	return out, nil
}

// cancelRun answers POST /api/v1/runs/{id}/cancel.
func (s *Server) cancelRun(r *http.Request) (any, error) {
	if err := s.needTemporal(); err != nil {
		return nil, err
	}
	id, err := param(r, "id")
	if err != nil {
		return nil, err
	}
	err = s.temporal.Client.CancelWorkflow(r.Context(), id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, httpx.Errorf(http.StatusNotFound, "not_found", "no running run %q", id)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"workflow_id": id, "status": "CancelRequested"}, nil
}

func (s *Server) listSchedules(r *http.Request) (any, error) {
	if err := s.needTemporal(); err != nil {
		return nil, err
	}
	list, err := pipelines.ListSchedules(r.Context(), s.temporal.Client, "")
	if list == nil {
		list = []pipelines.Schedule{}
	}
	return map[string]any{"schedules": list}, err
}

// scheduleAction answers POST /api/v1/schedules/{id}/{trigger|pause|
// unpause|backfill}; a backfill takes {"start": ..., "end": ...}.
func (s *Server) scheduleAction(r *http.Request) (any, error) {
	if err := s.needTemporal(); err != nil {
		return nil, err
	}
	id, err := param(r, "id")
	if err != nil {
		return nil, err
	}
	action := chi.URLParam(r, "action")
	var req struct {
		Start time.Time `json:"start"`
		End   time.Time `json:"end"`
	}
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(r, 64<<10, &req, `{"start": "...", "end": "..."}`); err != nil {
			return nil, err
		}
	}
	switch action {
	case "trigger", "pause", "unpause", "backfill":
	default:
		return nil, httpx.Errorf(http.StatusNotFound, "not_found", "no schedule action %q: trigger, pause, unpause or backfill", action)
	}
	err = pipelines.ScheduleAction(r.Context(), s.temporal.Client, id, action, req.Start, req.End)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, httpx.Errorf(http.StatusNotFound, "not_found", "no schedule %q", id)
	}
	if err != nil && action == "backfill" && req.End.IsZero() {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_request", "%v", err)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": id, "action": action}, nil
}

// SpecProjects finds a pipeline's project among the newest applied spec
// of every project (Temporal.Project).
func SpecProjects(store *specstore.Store) func(ctx context.Context, pipeline, project string) (string, error) {
	return func(ctx context.Context, pipeline, project string) (string, error) {
		newest, err := store.Newest(ctx)
		if err != nil {
			return "", err
		}
		var found []string
		for _, v := range newest {
			if project != "" && v.Project != project {
				continue
			}
			s, err := spec.Parse(fmt.Sprintf("%s spec v%d", v.Project, v.Version), []byte(v.Content))
			if err != nil {
				continue
			}
			if _, ok := s.Pipelines[pipeline]; ok {
				found = append(found, v.Project)
			}
		}
		switch len(found) {
		case 0:
			if project != "" {
				return "", fmt.Errorf("%w: project %q has no pipeline %q", ErrNoPipeline, project, pipeline)
			}
			return "", fmt.Errorf("%w: %q (sluice apply -f sluice.yaml first)", ErrNoPipeline, pipeline)
		case 1:
			return found[0], nil
		}
		return "", fmt.Errorf("%w: %q is in projects %s", ErrAmbiguousPipeline, pipeline, strings.Join(found, ", "))
	}
}
