package activities

import (
	"context"
	"runtime/debug"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/sluice-ml/sluice/features"
)

// Features builds training sets and materializes views (io queue).
type Features struct {
	Store *features.Store
}

// View is a feature view as workflows carry it; see features.View.
type View struct {
	Name         string
	Key          string
	Timestamp    string
	Columns      []string
	Aggregations []Aggregation
	TTL          time.Duration
}

// Aggregation is one function of one column over one window.
type Aggregation struct {
	Column   string
	Function string
	Window   time.Duration
}

// SourcedView is a feature view and the lake table it reads.
type SourcedView struct {
	View  View
	Table string
}

// ViewOf is the view as workflows carry it.
func ViewOf(v features.View) View {
	out := View{Name: v.Name, Key: v.Key, Timestamp: v.Timestamp, Columns: v.Columns, TTL: v.TTL}
	for _, a := range v.Aggregations {
		out.Aggregations = append(out.Aggregations, Aggregation(a))
	}
	return out
}

// Features is the view as package features takes it.
func (v View) Features() features.View {
	out := features.View{Name: v.Name, Key: v.Key, Timestamp: v.Timestamp, Columns: v.Columns, TTL: v.TTL}
	for _, a := range v.Aggregations {
		out.Aggregations = append(out.Aggregations, features.Aggregation(a))
	}
	return out
}

func (sv SourcedView) domain() features.SourcedView {
	return features.SourcedView{View: sv.View.Features(), Table: sv.Table}
}

func domainViews(svs []SourcedView) []features.SourcedView {
	out := make([]features.SourcedView, len(svs))
	for i, sv := range svs {
		out[i] = sv.domain()
	}
	return out
}

// TrainingSetInput asks for a model's point-in-time training set.
type TrainingSetInput struct {
	Model string
	// RunID stamps the training table's snapshot; the workflow sets it.
	RunID string
	// LabelTable holds the labels: the entity key, the label time and
	// the label column.
	LabelTable  string
	Key         string
	LabelTime   string
	LabelColumn string
	Views       []SourcedView
	// Partitions bounds memory (see features.TrainingSet); 0 means 16.
	Partitions int
	// Rebuild builds the set even when the table already holds one of
	// the same definition made from the tables as they are now.
	Rebuild bool
}

// TrainingSetResult says what was built from what.
type TrainingSetResult struct {
	Table      string
	Rows       int64
	SnapshotID int64
	// Read maps each table read to the snapshot read, so the set can be
	// rebuilt exactly.
	Read map[string]int64
	// Seconds is the activity's time, from the reuse check to the commit.
	Seconds float64
	// Reused says the table already held this set; nothing was built.
	Reused bool
	// Phases is where the time went, in seconds by phase (see
	// features.Timings).
	Phases map[string]float64 `json:",omitempty"`
}

// TrainingSet builds training.<model> (see features.Store.BuildTrainingSet),
// heartbeating as partitions come out.
func (a *Features) TrainingSet(ctx context.Context, in TrainingSetInput) (TrainingSetResult, error) {
	res, err := a.Store.BuildTrainingSet(ctx, features.TrainingSetRequest{Model: in.Model, RunID: in.RunID,
		LabelTable: in.LabelTable, Key: in.Key, LabelTime: in.LabelTime, LabelColumn: in.LabelColumn,
		Views: domainViews(in.Views), Partitions: in.Partitions, Rebuild: in.Rebuild}, heartbeat(ctx))
	releaseMemory()
	return TrainingSetResult(res), temporalError(err)
}

// releaseMemory hands the memory a training set or a materialization
// worked in back to the OS when it ends: Go's scavenger would take
// minutes, and meanwhile an idle worker looks (and, to the machine, is)
// as big as its largest run.
func releaseMemory() { debug.FreeOSMemory() }

// heartbeat records an empty heartbeat: the work is alive.
func heartbeat(ctx context.Context) func() {
	return func() { activity.RecordHeartbeat(ctx, nil) }
}

// MaterializeInput asks for a view's features as of a time.
type MaterializeInput struct {
	View SourcedView
	// AsOf is the time the features are computed at.
	AsOf time.Time
	// RunID stamps the snapshot; the workflow derives it from the view
	// and the as-of time, so materializing the same time twice writes
	// once.
	RunID string
	// Online also upserts the rows into sluice_online.<view>.
	Online bool
	// Incremental computes only the entities whose features may have
	// changed since the stored watermark; otherwise every entity.
	Incremental bool
}

// MaterializeResult says what a run wrote.
type MaterializeResult struct {
	Table      string
	Entities   int64
	SnapshotID int64
	// SourceSnapshot is the snapshot of the source read.
	SourceSnapshot int64
	// Since is the watermark an incremental run started from (zero: all).
	Since time.Time
	// Online counts the rows upserted into the online store.
	Online int64
	// Reused says the as-of time was materialized before from the same
	// source snapshot: nothing was computed or written.
	Reused bool `json:",omitempty"`
	// Rolled says the run rolled the stored state forward instead of
	// reading every window again (see features.Roll).
	Rolled bool `json:",omitempty"`
	// EmptyWindows says every window of every entity was empty.
	EmptyWindows bool `json:",omitempty"`
	// Seconds is the activity's time; Phases is where it went, in seconds
	// by phase (see features.Timings).
	Seconds float64            `json:",omitempty"`
	Phases  map[string]float64 `json:",omitempty"`
}

// Materialize computes a view's features as of a time (see
// features.Store.Materialize), heartbeating as partitions come out.
func (a *Features) Materialize(ctx context.Context, in MaterializeInput) (MaterializeResult, error) {
	res, err := a.Store.Materialize(ctx, features.MaterializeRequest{View: in.View.domain(), AsOf: in.AsOf, RunID: in.RunID,
		Online: in.Online, Incremental: in.Incremental}, heartbeat(ctx))
	releaseMemory()
	return MaterializeResult(res), temporalError(err)
}

// RowsProcessed is the label rows joined (workers' metrics).
func (r TrainingSetResult) RowsProcessed() int64 { return r.Rows }

// RowsProcessed is the entities computed (workers' metrics).
func (r MaterializeResult) RowsProcessed() int64 { return r.Entities }
