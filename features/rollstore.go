package features

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/apache/iceberg-go"

	"github.com/sluice-ml/sluice/lakehouse"
)

// StateProperty is the features table property that points at the state
// of its watermark's materialization (a stateRef as JSON), set in the
// same commit as the watermark.
const StateProperty = "sluice.materialize-state"

// stateRef locates a materialization's state in the lake.
type stateRef struct {
	Key  string    `json:"key"`
	AsOf time.Time `json:"as_of"`
	// Source is the source snapshot the state reflects.
	Source int64  `json:"source"`
	View   string `json:"view"`
}

// stateKey is where a run's state goes: one object per run and source
// snapshot, so a retry that read the same snapshot overwrites its own,
// and attempts that read different ones cannot overwrite each other's.
func stateKey(table, runID string, source int64) string {
	sum := sha256.Sum256([]byte(runID))
	return fmt.Sprintf("materialize-state/%s/%s-%d.arrow", table, hex.EncodeToString(sum[:12]), source)
}

// stateOf reads a table's state property; ok is false without one.
func (s *Store) stateOf(ctx context.Context, table string) (ref stateRef, ok bool, err error) {
	raw, ok, err := s.Catalog.Property(ctx, table, StateProperty)
	if err != nil || !ok {
		return ref, false, err
	}
	return ref, json.Unmarshal([]byte(raw), &ref) == nil, nil
}

// rollPlan is a roll forward from a stored state: the state and the
// scans of what changed since.
type rollPlan struct {
	state      *State
	rows       RollRows
	snapshotID int64
}

// planRoll prepares an incremental run from the state stored with the
// watermark wm, or returns nil when there is none to use: no lake for
// states, a view that cannot roll or has changed, a state not of the
// watermark, or source snapshots since that did more than append.
func (s *Store) planRoll(ctx context.Context, sv SourcedView, table string, wm, t time.Time) (*rollPlan, error) {
	v := sv.View
	if s.Lake == nil || wm.IsZero() || !t.After(wm) || !Rollable(v) {
		return nil, nil
	}
	ref, ok, err := s.stateOf(ctx, table)
	if err != nil || !ok || !ref.AsOf.Equal(wm) || ref.View != Fingerprint(v) || ref.Source == 0 {
		return nil, err
	}
	ts := iceberg.Reference(v.Timestamp)
	micros := func(t time.Time) iceberg.Timestamp { return iceberg.Timestamp(t.UnixMicro()) }
	entering, err := s.Catalog.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: sv.columns(),
		Filter: iceberg.NewAnd(iceberg.GreaterThan(ts, micros(wm)), iceberg.LessThanEqual(ts, micros(t)))})
	if err != nil {
		return nil, err
	}
	if entering.SnapshotID == 0 {
		return nil, nil // the source is empty now: it was recreated
	}
	late, err := s.Catalog.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: sv.columns(), SnapshotID: entering.SnapshotID,
		AppendedAfter: ref.Source, Filter: iceberg.LessThanEqual(ts, micros(wm))})
	if errors.Is(err, lakehouse.ErrNotAppendOnly) || errors.Is(err, lakehouse.ErrNoSnapshot) {
		return nil, nil // rows changed, not only arrived: recompute
	} else if err != nil {
		return nil, err
	}
	plan := &rollPlan{rows: RollRows{Entering: entering.Records, Late: late.Records}, snapshotID: entering.SnapshotID}
	// The rows leaving window w are those in (wm − w, min(wm, t − w)].
	var leave iceberg.BooleanExpression
	for _, w := range rollingWindowsOf(v) {
		span := iceberg.NewAnd(iceberg.GreaterThan(ts, micros(wm.Add(-w))),
			iceberg.LessThanEqual(ts, iceberg.Timestamp(min(wm.UnixMicro(), t.Add(-w).UnixMicro()))))
		if leave == nil {
			leave = span
		} else {
			leave = iceberg.NewOr(leave, span)
		}
	}
	if leave != nil {
		leaving, err := s.Catalog.Read(ctx, sv.Table, lakehouse.ScanOptions{Columns: sv.columns(), SnapshotID: ref.Source, Filter: leave})
		if errors.Is(err, lakehouse.ErrNoSnapshot) {
			return nil, nil // the state's source snapshot expired
		} else if err != nil {
			return nil, err
		}
		plan.rows.Leaving = leaving.Records
	}
	rd, err := s.Lake.Get(ctx, ref.Key)
	if errors.Is(err, lakehouse.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading the state of %s: %w", table, err)
	}
	defer rd.Close()
	if plan.state, err = ReadState(rd); err != nil {
		return nil, nil // unreadable: recompute, and store a new one
	}
	return plan, nil
}

// rollingWindowsOf lists the distinct windows of a view's count, sum and
// mean aggregations (those a roll subtracts leaving rows from).
func rollingWindowsOf(v View) []time.Duration {
	var ws []time.Duration
	for _, a := range v.Aggregations {
		if a.Function != "last" && !slices.Contains(ws, a.Window) {
			ws = append(ws, a.Window)
		}
	}
	return ws
}

// saveState writes a run's state to the lake and returns the table
// property that points at it.
func (s *Store) saveState(ctx context.Context, st *State, table, runID string, source int64) (map[string]string, error) {
	var buf bytes.Buffer
	if _, err := st.WriteTo(&buf); err != nil {
		return nil, err
	}
	ref := stateRef{Key: stateKey(table, runID, source), AsOf: st.AsOf, Source: source, View: st.View}
	if err := s.Lake.Put(ctx, ref.Key, &buf); err != nil {
		return nil, fmt.Errorf("writing the state of %s: %w", table, err)
	}
	b, err := json.Marshal(ref)
	if err != nil {
		return nil, err
	}
	return map[string]string{StateProperty: string(b)}, nil
}
