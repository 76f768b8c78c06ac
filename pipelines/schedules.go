package pipelines

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sluice-ml/sluice/spec"
	"github.com/sluice-ml/sluice/workflows"
)

// ScheduleID names a pipeline's Temporal Schedule.
func ScheduleID(project, pipeline string) string { return "sluice/" + project + "/" + pipeline }

// RunID is the workflow id of a pipeline run as of a time: the same
// pipeline and as-of time runs once.
func RunID(project, pipeline string, asOf time.Time) string {
	return "pipeline/" + project + "/" + pipeline + "/" + asOf.UTC().Format(time.RFC3339)
}

// CatchupWindow is how late a schedule still starts a run it missed
// (the server was down): later than that, the run is skipped.
const CatchupWindow = time.Hour

// EnsureSearchAttributes registers the Sluice* search attributes in the
// namespace, once.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes: %w", err)
	}
	want := map[string]enums.IndexedValueType{
		AttrPipeline.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD,
		AttrModels.GetName():   enums.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		AttrAsOf.GetName():     enums.INDEXED_VALUE_TYPE_DATETIME,
	}
	for name := range resp.GetCustomAttributes() {
		delete(want, name)
	}
	if len(want) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: want})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("adding search attributes: %w", err)
	}
	return nil
}

// ScheduleChange is what SyncSchedules did to one schedule.
type ScheduleChange struct {
	ID, Action, Cron string
}

// SyncSchedules makes the project's schedules match its spec version:
// one per pipeline with a schedule (cron in its time zone, overlapping
// runs skipped, missed runs caught up within CatchupWindow), started with
// that spec version; schedules of pipelines the spec no longer schedules
// are deleted. When changed is false the spec version is the one the
// schedules already run, and existing ones are left as they are.
func SyncSchedules(ctx context.Context, c client.Client, project string, s *spec.Spec, specVersion int, changed, searchAttrs bool) ([]ScheduleChange, error) {
	var out []ScheduleChange
	want := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(s.Pipelines)) {
		p := s.Pipelines[name]
		if p.Schedule == "" {
			continue
		}
		id := ScheduleID(project, name)
		want[id] = true
		action := &client.ScheduleWorkflowAction{ID: "pipeline/" + project + "/" + name, Workflow: Pipeline, TaskQueue: workflows.QueueControl,
			Args: []any{Request{Project: project, Pipeline: name, SpecVersion: specVersion, SearchAttributes: searchAttrs}}}
		schedSpec := client.ScheduleSpec{CronExpressions: []string{p.Schedule}, TimeZoneName: p.TimeZone}
		h := c.ScheduleClient().GetHandle(ctx, id)
		_, err := h.Describe(ctx)
		var notFound *serviceerror.NotFound
		switch {
		case errors.As(err, &notFound):
			_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{ID: id, Spec: schedSpec, Action: action,
				Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: CatchupWindow,
				Memo: map[string]any{"project": project, "pipeline": name}})
			if err != nil {
				return out, fmt.Errorf("creating schedule %s: %w", id, err)
			}
			out = append(out, ScheduleChange{ID: id, Action: "created", Cron: p.Schedule})
		case err != nil:
			return out, fmt.Errorf("reading schedule %s: %w", id, err)
		case !changed:
			out = append(out, ScheduleChange{ID: id, Action: "unchanged", Cron: p.Schedule})
		default:
			err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				sch := in.Description.Schedule
				sch.Spec = &schedSpec
				sch.Action = action
				if sch.Policy == nil {
					sch.Policy = &client.SchedulePolicies{}
				}
				sch.Policy.Overlap, sch.Policy.CatchupWindow = enums.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow
				return &client.ScheduleUpdate{Schedule: &sch}, nil
			}})
			if err != nil {
				return out, fmt.Errorf("updating schedule %s: %w", id, err)
			}
			out = append(out, ScheduleChange{ID: id, Action: "updated", Cron: p.Schedule})
		}
	}
	ids, err := ListSchedules(ctx, c, project)
	if err != nil {
		return out, err
	}
	for _, id := range ids {
		if want[id.ID] {
			continue
		}
		if err := c.ScheduleClient().GetHandle(ctx, id.ID).Delete(ctx); err != nil {
			return out, fmt.Errorf("deleting schedule %s: %w", id.ID, err)
		}
		out = append(out, ScheduleChange{ID: id.ID, Action: "deleted"})
	}
	return out, nil
}

// Schedule is a pipeline schedule as listed.
type Schedule struct {
	ID       string    `json:"id"`
	Cron     []string  `json:"cron"`
	Paused   bool      `json:"paused"`
	Next     time.Time `json:"next_run,omitzero"`
	Recent   []string  `json:"recent_runs"`
	Workflow string    `json:"workflow"`
}

// ListSchedules lists the schedules of a project (all projects when
// project is empty), sorted by id.
func ListSchedules(ctx context.Context, c client.Client, project string) ([]Schedule, error) {
	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing schedules: %w", err)
	}
	prefix := "sluice/"
	if project != "" {
		prefix += project + "/"
	}
	var out []Schedule
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("listing schedules: %w", err)
		}
		if !strings.HasPrefix(e.ID, prefix) {
			continue
		}
		sc := Schedule{ID: e.ID, Paused: e.Paused, Workflow: e.WorkflowType.Name}
		if e.Spec != nil {
			for _, cal := range e.Spec.Calendars {
				sc.Cron = append(sc.Cron, cronText(cal))
			}
			sc.Cron = append(sc.Cron, e.Spec.CronExpressions...)
			for _, iv := range e.Spec.Intervals {
				sc.Cron = append(sc.Cron, "every "+iv.Every.String())
			}
		}
		if len(e.NextActionTimes) > 0 {
			sc.Next = e.NextActionTimes[0]
		}
		for _, a := range e.RecentActions {
			if a.StartWorkflowResult != nil {
				sc.Recent = append(sc.Recent, a.StartWorkflowResult.WorkflowID)
			}
		}
		out = append(out, sc)
	}
	slices.SortFunc(out, func(a, b Schedule) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ScheduleAction runs trigger, pause, unpause or backfill (from, to) on
// a schedule.
func ScheduleAction(ctx context.Context, c client.Client, id, action string, from, to time.Time) error {
	h := c.ScheduleClient().GetHandle(ctx, id)
	var err error
	switch action {
	case "trigger":
		err = h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enums.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL})
	case "pause":
		err = h.Pause(ctx, client.SchedulePauseOptions{Note: "paused through Sluice"})
	case "unpause":
		err = h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "unpaused through Sluice"})
	case "backfill":
		if from.IsZero() || to.IsZero() || !to.After(from) {
			return fmt.Errorf("a backfill needs a start before its end")
		}
		err = h.Backfill(ctx, client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{Start: from, End: to,
			Overlap: enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL}}})
	default:
		return fmt.Errorf("unknown schedule action %q: want trigger, pause, unpause or backfill", action)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, id, err)
	}
	return nil
}

// cronText writes a calendar (the server's form of a cron expression)
// back as "minute hour day month weekday".
func cronText(c client.ScheduleCalendarSpec) string {
	field := func(rs []client.ScheduleRange, lo, hi int) string {
		if len(rs) == 0 || (len(rs) == 1 && rs[0].Start == lo && (rs[0].End == hi) && rs[0].Step <= 1) {
			return "*"
		}
		parts := make([]string, len(rs))
		for i, r := range rs {
			parts[i] = fmt.Sprint(r.Start)
			if r.End > r.Start {
				parts[i] += fmt.Sprintf("-%d", r.End)
			}
			if r.Step > 1 {
				parts[i] += fmt.Sprintf("/%d", r.Step)
			}
		}
		return strings.Join(parts, ",")
	}
	return strings.Join([]string{field(c.Minute, 0, 59), field(c.Hour, 0, 23), field(c.DayOfMonth, 1, 31),
		field(c.Month, 1, 12), field(c.DayOfWeek, 0, 6)}, " ")
}
