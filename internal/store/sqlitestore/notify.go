package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/maestro-sql/maestro/internal/store"
)

// NotifyThreadClaim records that a run's failure of a table is being told in a channel and
// returns the thread as it was; ErrConflict if that run's failure was claimed already.
func (s *Store) NotifyThreadClaim(ctx context.Context, p *store.NotifyThreadClaimParams) (*store.NotifyThread, error) {
	var prev *store.NotifyThread
	err := s.tx(ctx, func(t *tx) error {
		prev = &store.NotifyThread{Table: p.Table, Channel: p.Channel}
		var updated int64
		err := t.queryRow(`SELECT ts, run_id, updated_at FROM notify_threads WHERE tbl = ? AND channel = ?`, p.Table, p.Channel).
			Scan(&prev.TS, &prev.RunID, &updated)
		switch {
		case err == nil:
			prev.UpdatedAt = fromNanos(updated)
			if prev.RunID == p.RunID {
				return fmt.Errorf("%w: the failure of run %q was told already", store.ErrConflict, p.RunID)
			}
			_, err = t.exec(`UPDATE notify_threads SET run_id = ?, updated_at = ? WHERE tbl = ? AND channel = ?`,
				p.RunID, nanos(p.Now), p.Table, p.Channel)
			return err
		case errors.Is(err, sql.ErrNoRows):
			_, err = t.exec(`INSERT INTO notify_threads (tbl, channel, run_id, updated_at) VALUES (?, ?, ?, ?)`,
				p.Table, p.Channel, p.RunID, nanos(p.Now))
			return err
		default:
			return err
		}
	})
	if err != nil {
		return nil, wrap(ctx, err, "error claiming the notification of table %q in %q", p.Table, p.Channel)
	}
	return prev, nil
}

// NotifyThreadSetTS records a thread's first message if it has none; ErrNotFound without a thread.
func (s *Store) NotifyThreadSetTS(ctx context.Context, table, channel, ts string) error {
	err := s.tx(ctx, func(t *tx) error {
		var cur string
		if err := t.queryRow(`SELECT ts FROM notify_threads WHERE tbl = ? AND channel = ?`, table, channel).Scan(&cur); err != nil {
			return err
		}
		if cur != "" {
			return nil
		}
		_, err := t.exec(`UPDATE notify_threads SET ts = ? WHERE tbl = ? AND channel = ?`, ts, table, channel)
		return err
	})
	return wrap(ctx, err, "error recording the thread of table %q in %q", table, channel)
}

// NotifyThreadList returns every open thread, ordered by table then channel.
func (s *Store) NotifyThreadList(ctx context.Context) ([]*store.NotifyThread, error) {
	rows, err := s.query(ctx, `SELECT tbl, channel, ts, run_id, updated_at FROM notify_threads ORDER BY tbl, channel`)
	if err != nil {
		return nil, wrap(ctx, err, "error listing notification threads")
	}
	defer rows.Close()
	var out []*store.NotifyThread
	for rows.Next() {
		var (
			th      store.NotifyThread
			updated int64
		)
		if err := rows.Scan(&th.Table, &th.Channel, &th.TS, &th.RunID, &updated); err != nil {
			return nil, wrap(ctx, err, "error listing notification threads")
		}
		th.UpdatedAt = fromNanos(updated)
		out = append(out, &th)
	}
	return out, wrap(ctx, rows.Err(), "error listing notification threads")
}

// NotifyThreadDelete closes a thread; closing none is no error.
func (s *Store) NotifyThreadDelete(ctx context.Context, table, channel string) error {
	err := s.single(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM notify_threads WHERE tbl = ? AND channel = ?`, table, channel)
		return err
	})
	return wrap(ctx, err, "error closing the thread of table %q in %q", table, channel)
}
