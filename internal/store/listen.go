package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Listen delivers PostgreSQL notifications on channel (NOTIFY, sent by
// another replica's committed transaction) to wake, on a connection of its
// own, until ctx ends. After a lost connection it reconnects every few
// seconds and calls wake with "" (notifications may have been missed), so
// a listener also polls. On SQLite it returns nil at once: one process,
// nobody to hear from.
func (s *Store) Listen(ctx context.Context, channel string, wake func(payload string)) error {
	return s.listen(ctx, channel, listener{up: func() { wake("") }, notify: wake, down: func() { wake("") }})
}

// listener is what listen calls: up once LISTEN has taken effect (what
// committed before it was not heard), notify for each notification, down
// when the connection is lost (until up again, nothing is heard).
type listener struct {
	up     func()
	notify func(payload string)
	down   func()
}

func (s *Store) listen(ctx context.Context, channel string, l listener) error {
	if s.dialect != Postgres {
		return nil
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channel, l)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("database notifications lost; reconnecting", "channel", channel, "database", s.where, "err", err)
		l.down()
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return nil
}

func (s *Store) listenOnce(ctx context.Context, channel string, l listener) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return fmt.Errorf("listen %s: connect: %w", channel, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen %s: %w", channel, err)
	}
	l.up()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("listen %s: %w", channel, err)
		}
		l.notify(n.Payload)
	}
}
