package metastore

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listen calls f with the payload of every NOTIFY on channel until ctx
// ends. It returns once it is listening; done yields how it ended (nil
// when ctx ended). It holds one connection of the pool, which it closes
// rather than returns, since that connection was mid-wait.
func Listen(ctx context.Context, db *pgxpool.Pool, channel string, f func(payload string)) (done <-chan error, err error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", channel, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		conn.Release()
		return nil, fmt.Errorf("listening on %s: %w", channel, err)
	}
	ch := make(chan error, 1)
	go func() {
		defer conn.Release()
		for {
			n, err := conn.Conn().WaitForNotification(ctx)
			if err != nil {
				if ctx.Err() != nil {
					err = nil
				} else {
					err = fmt.Errorf("listening on %s: %w", channel, err)
				}
				conn.Hijack().Close(context.Background())
				ch <- err
				return
			}
			f(n.Payload)
		}
	}()
	return ch, nil
}

// KeepListening is Listen for as long as ctx lasts: when the connection
// drops (a restart, a failover, an idle timeout between), it listens again
// after a backoff of 1 s doubling to 30 s, and then calls resync, since
// whatever was notified meanwhile was missed. It returns the first Listen's
// error, and otherwise runs in the background.
func KeepListening(ctx context.Context, db *pgxpool.Pool, channel string, f func(payload string), resync func(), logger *slog.Logger) error {
	done, err := Listen(ctx, db, channel, f)
	if err != nil {
		return err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	go func() {
		up := time.Now()
		for backoff := time.Second; ; {
			err := <-done
			if ctx.Err() != nil {
				return
			}
			// A connection that keeps dying right after LISTEN (an idle
			// killer, a pooler) does not reset the backoff: only one that
			// stayed up a minute does.
			if time.Since(up) > time.Minute {
				backoff = time.Second
			}
			logger.Warn("metastore: a LISTEN connection dropped; listening again", "channel", channel, "error", err, "in", backoff)
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				if done, err = Listen(ctx, db, channel, f); err == nil {
					break
				}
				logger.Warn("metastore: listening again", "channel", channel, "error", err, "in", backoff)
			}
			resync()
			logger.Info("metastore: listening again", "channel", channel)
			up = time.Now()
		}
	}()
	return nil
}
