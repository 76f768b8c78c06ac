package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LogEntry is one logged prediction.
type LogEntry struct {
	RequestID string
	Model     string
	Entity    string
	Version   int
	Variant   string
	Score     float64
	Latency   time.Duration
	At        time.Time
	// Features is the model's input row (for the drift of online
	// traffic); nil logs none.
	Features []float32
}

// PredictionLog writes predictions to sluice.prediction_log in batches,
// off the request path: Add never blocks, and when the queue is full the
// entry is dropped and counted.
type PredictionLog struct {
	db      *pgxpool.Pool
	queue   chan LogEntry
	dropped atomic.Uint64
	written atomic.Uint64
	logger  *slog.Logger
	// days are the days (UTC) whose partition of the log is known to
	// exist; only Run's goroutine touches it.
	days map[time.Time]bool
	// remaking is set while a write is tried again after making the days
	// again.
	remaking bool
}

// NewPredictionLog makes a log with a queue of capacity entries.
func NewPredictionLog(db *pgxpool.Pool, capacity int, logger *slog.Logger) *PredictionLog {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PredictionLog{db: db, queue: make(chan LogEntry, capacity), logger: logger, days: map[time.Time]bool{}}
}

// Add queues an entry, or drops it when the queue is full.
func (l *PredictionLog) Add(e LogEntry) {
	select {
	case l.queue <- e:
	default:
		l.dropped.Add(1)
	}
}

// Dropped counts entries dropped for a full queue; Written those written.
func (l *PredictionLog) Dropped() uint64 { return l.dropped.Load() }

// Written counts entries written to PostgreSQL.
func (l *PredictionLog) Written() uint64 { return l.written.Load() }

// write copies entries into the log. When PostgreSQL refuses a row (its
// data, not the connection), the halves are written apart, down to the
// rows it refuses, so one bad row costs only itself; other failures drop
// the batch (counted), as the server cannot wait for the database.
func (l *PredictionLog) write(ctx context.Context, entries []LogEntry) {
	if err := l.ensureDays(ctx, entries); err != nil {
		l.dropped.Add(uint64(len(entries)))
		l.logger.Warn("serving: making the prediction log's day partitions", "entries", len(entries), "error", err)
		return
	}
	_, err := l.db.CopyFrom(ctx, pgx.Identifier{"sluice", "prediction_log"},
		[]string{"request_id", "model", "entity", "version", "variant", "score", "latency_us", "logged_at", "features"},
		pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
			e := entries[i]
			var entity any
			if e.Entity != "" {
				entity = e.Entity
			}
			var features any
			if e.Features != nil {
				features = e.Features
			}
			return []any{e.RequestID, e.Model, entity, int32(e.Version), e.Variant, e.Score, int32(e.Latency.Microseconds()), e.At, features}, nil
		}))
	if err == nil {
		l.written.Add(uint64(len(entries)))
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" && !l.remaking {
		// No partition for a day thought made (dropped by hand, say):
		// forget what was made, make the days again, and write again, once.
		clear(l.days)
		l.remaking = true
		l.write(ctx, entries)
		l.remaking = false
		return
	}
	if errors.As(err, &pgErr) && len(entries) > 1 {
		half := len(entries) / 2
		l.write(ctx, entries[:half])
		l.write(ctx, entries[half:])
		return
	}
	l.dropped.Add(uint64(len(entries)))
	l.logger.Warn("serving: writing the prediction log", "entries", len(entries), "error", err)
}

// ensureDays makes the log's partitions of the entries' days (UTC) that
// were not made yet, and of each next day, so midnight finds its
// partition made (making one locks the log; it waits at most 2 s for a
// reader, and a day not made is tried again with the next batch).
func (l *PredictionLog) ensureDays(ctx context.Context, entries []LogEntry) error {
	for _, e := range entries {
		today := e.At.UTC().Truncate(24 * time.Hour)
		for _, day := range []time.Time{today, today.Add(24 * time.Hour)} {
			if l.days[day] {
				continue
			}
			if _, err := l.db.Exec(ctx, `SELECT sluice.prediction_log_day($1)`, day); err != nil {
				if day.After(today) {
					continue // tomorrow's: the next batch tries again
				}
				return fmt.Errorf("the partition of %s: %w", day.Format(time.DateOnly), err)
			}
			l.days[day] = true
		}
	}
	return nil
}

// Run writes batches of up to 5,000 entries, at least every 200 ms, until
// ctx ends; then it writes what is queued.
func (l *PredictionLog) Run(ctx context.Context) {
	const most = 5000
	batch := make([]LogEntry, 0, most)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	flush := func(ctx context.Context) {
		if len(batch) > 0 {
			l.write(ctx, batch)
		}
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case e := <-l.queue:
					batch = append(batch, e)
					if len(batch) == most {
						flush(context.WithoutCancel(ctx))
					}
				default:
					flush(context.WithoutCancel(ctx))
					return
				}
			}
		case e := <-l.queue:
			batch = append(batch, e)
			if len(batch) == most {
				flush(ctx)
			}
		case <-tick.C:
			flush(ctx)
		}
	}
}
