// Package selfcheck proves that a worker reaches the platform's storage:
// it writes objects to the lake in resumable steps and a row to
// PostgreSQL's sluice.selfcheck, and reads both back.
package selfcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-ml/sluice/internal/permanent"
	"github.com/sluice-ml/sluice/lakehouse"
)

// Prober probes the platform's storage from a worker.
type Prober struct {
	DB   *pgxpool.Pool
	Lake lakehouse.ObjectStore
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Request names the run and its steps.
type Request struct {
	RunID     string
	Note      string
	Steps     int
	StepDelay time.Duration
}

// Result says what the probe wrote and read back.
type Result struct {
	// LakeKey is the object the probe wrote and read back.
	LakeKey string
	// RowNote is the note read back from PostgreSQL.
	RowNote string
	// StepsDone counts the steps completed, across attempts.
	StepsDone int
	// ResumedFrom is the step the final attempt started at: above zero when
	// a retry resumed from an earlier attempt's heartbeat.
	ResumedFrom int
	// Attempt is the attempt that finished.
	Attempt int32
}

// Probe writes one lake object per step from start, reporting each step
// done to progress so that a retry on another worker resumes where the
// last attempt stopped, then writes and reads back a row in PostgreSQL
// and a summary object in the lake. attempt numbers the attempt, for the
// objects' text and the result.
func (s *Prober) Probe(ctx context.Context, in Request, start int, attempt int32, progress func(step int)) (Result, error) {
	if in.RunID == "" || in.Steps < 1 {
		return Result{}, permanent.Errorf(permanent.BadInput, "probe needs a run id and at least one step, got %q and %d", in.RunID, in.Steps)
	}
	now := s.Now
	if now == nil {
		now = time.Now
	}
	prefix := "selfcheck/" + safeKey(in.RunID) + "/"
	for step := start; step < in.Steps; step++ {
		key := fmt.Sprintf("%sstep-%04d", prefix, step)
		body := fmt.Sprintf("step %d of %d, attempt %d\n", step+1, in.Steps, attempt)
		if err := s.Lake.Put(ctx, key, strings.NewReader(body)); err != nil {
			return Result{}, fmt.Errorf("writing step %d: %w", step, err)
		}
		progress(step + 1)
		if in.StepDelay > 0 {
			select {
			case <-ctx.Done():
				return Result{}, ctx.Err()
			case <-time.After(in.StepDelay):
			}
		}
	}
	keys, err := s.Lake.List(ctx, prefix+"step-")
	if err != nil {
		return Result{}, err
	}
	if len(keys) != in.Steps {
		return Result{}, fmt.Errorf("lake holds %d step objects for %s, want %d", len(keys), in.RunID, in.Steps)
	}

	summary := prefix + "summary.txt"
	want := fmt.Sprintf("run %s: %s\n", in.RunID, in.Note)
	if err := s.Lake.Put(ctx, summary, strings.NewReader(want)); err != nil {
		return Result{}, err
	}
	got, err := readAll(ctx, s.Lake, summary)
	if err != nil {
		return Result{}, err
	}
	if !bytes.Equal(got, []byte(want)) {
		return Result{}, fmt.Errorf("lake object %s read back %q, wrote %q", summary, got, want)
	}

	// Upsert, so a retried attempt rewrites its own row instead of failing.
	if _, err := s.DB.Exec(ctx, `
		INSERT INTO sluice.selfcheck (run_id, note, lake_key, written_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (run_id) DO UPDATE SET note = EXCLUDED.note, lake_key = EXCLUDED.lake_key, written_at = EXCLUDED.written_at`,
		in.RunID, in.Note, summary, now().UTC()); err != nil {
		return Result{}, fmt.Errorf("writing self-check row: %w", err)
	}
	var note string
	if err := s.DB.QueryRow(ctx, `SELECT note FROM sluice.selfcheck WHERE run_id = $1`, in.RunID).Scan(&note); err != nil {
		return Result{}, fmt.Errorf("reading self-check row: %w", err)
	}
	if note != in.Note {
		return Result{}, errors.New("self-check row read back a different note")
	}
	return Result{LakeKey: summary, RowNote: note, StepsDone: len(keys), ResumedFrom: start, Attempt: attempt}, nil
}

func readAll(ctx context.Context, store lakehouse.ObjectStore, key string) ([]byte, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", key, err)
	}
	return b, nil
}

// safeKey turns a workflow id into one object-key segment.
func safeKey(id string) string {
	return strings.NewReplacer("/", "_", "\\", "_", "..", "_").Replace(id)
}
