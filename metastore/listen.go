package metastore

import (
	"context"
	"fmt"

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
