package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// isTerminal says whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runLink is a run's page in the Temporal UI; "" without a UI.
func runLink(uiURL, namespace, id, runID string) string {
	if uiURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimSuffix(uiURL, "/"), url.PathEscape(namespace), url.PathEscape(id), url.PathEscape(runID))
}

// announce says a run started, with its link in the Temporal UI.
func announce(w io.Writer, cfg *config, id, runID string) {
	fmt.Fprintf(w, "started %s (run %s)\n", id, runID)
	if link := runLink(cfg.UIURL, cfg.Temporal.Namespace, id, runID); link != "" {
		fmt.Fprintf(w, "  %s\n", link)
	}
}

// step is where a run is: its chain of workflows down to the running
// activity, and the activity's last heartbeat.
type step struct {
	path     []string
	activity string
	attempt  int32
	detail   string
}

func (s step) name() string {
	p := strings.Join(s.path, " > ")
	if s.activity != "" {
		p += " > " + s.activity
	}
	return p
}

// describe follows a run down its running child workflows (at most four
// deep) to the activity running at the bottom.
func describe(ctx context.Context, tc client.Client, id, runID string) (step, error) {
	var s step
	for range 4 {
		d, err := tc.DescribeWorkflowExecution(ctx, id, runID)
		if err != nil {
			return s, err
		}
		info := d.GetWorkflowExecutionInfo()
		s.path = append(s.path, info.GetType().GetName())
		if acts := d.GetPendingActivities(); len(acts) > 0 {
			a := acts[0]
			s.activity, s.attempt = a.GetActivityType().GetName(), a.GetAttempt()
			s.detail = heartbeatDetail(a.GetHeartbeatDetails().GetPayloads())
		}
		children := d.GetPendingChildren()
		if len(children) == 0 {
			break
		}
		c := children[0]
		id, runID = c.GetWorkflowId(), c.GetRunId()
		s.activity, s.detail = "", ""
	}
	return s, nil
}

// heartbeatDetail renders a heartbeat's numbers: rows=120000 chunks=3.
func heartbeatDetail(payloads []*commonpb.Payload) string {
	if len(payloads) == 0 {
		return ""
	}
	var v map[string]any
	if err := converter.GetDefaultDataConverter().FromPayload(payloads[len(payloads)-1], &v); err != nil {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if n, ok := v[k].(float64); ok && n != 0 {
			parts = append(parts, fmt.Sprintf("%s=%.0f", strings.ToLower(k), n))
		}
	}
	if len(parts) > 4 {
		parts = parts[:4]
	}
	return strings.Join(parts, " ")
}

// waitRun waits for a run's result into out and shows where it is on
// progress: on a terminal one line rewritten every second (the step, the
// heartbeat's counts, the time so far); otherwise one line per step.
func waitRun(ctx context.Context, tc client.Client, run client.WorkflowRun, out any, progress io.Writer) error {
	done := make(chan error, 1)
	go func() { done <- run.Get(ctx, out) }()
	tty := isTerminal(progress)
	begin := time.Now()
	tick := time.NewTicker(250 * time.Millisecond) // then every second
	defer tick.Stop()
	first := true
	last := ""
	for {
		select {
		case err := <-done:
			if tty && last != "" {
				fmt.Fprint(progress, "\r\033[K")
			}
			return err
		case <-tick.C:
			if first {
				tick.Reset(time.Second)
				first = false
			}
			s, err := describe(ctx, tc, run.GetID(), run.GetRunID())
			if err != nil {
				continue // the run's result says what went wrong
			}
			elapsed := time.Since(begin).Round(time.Second)
			switch {
			case tty:
				line := fmt.Sprintf("%s  %s  %s", s.name(), s.detail, elapsed)
				if s.attempt > 1 {
					line += fmt.Sprintf("  (attempt %d)", s.attempt)
				}
				fmt.Fprintf(progress, "\r\033[K%s", line)
				last = line
			case s.name() != last:
				fmt.Fprintf(progress, "%s  step %s\n", elapsed, s.name())
				last = s.name()
			}
		}
	}
}
