package sqlitestore

import (
	"context"
	"errors"
	"time"

	"github.com/maestro-sql/maestro/internal/store"
)

// NonceClaim records key until expires unless an unexpired claim of it exists; ErrConflict then.
func (s *Store) NonceClaim(ctx context.Context, key string, now, expires time.Time) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`INSERT INTO nonces (key, expires_at) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ?`,
			key, nanos(expires), nanos(now))
		if err == nil && n == 0 {
			err = store.ErrConflict
		}
		return err
	})
	return wrap(ctx, err, "error claiming a request nonce")
}

// MutePut creates or replaces a table's mute.
func (s *Store) MutePut(ctx context.Context, m *store.Mute) error {
	err := s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO mutes (tbl, until, by_user, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (tbl) DO UPDATE SET until = excluded.until, by_user = excluded.by_user, created_at = excluded.created_at`,
			m.Table, nanos(m.Until), m.By, nanos(m.CreatedAt))
		return err
	})
	return wrap(ctx, err, "error muting table %q", m.Table)
}

func scanMute(row interface{ Scan(...any) error }) (*store.Mute, error) {
	var (
		m              store.Mute
		until, created int64
	)
	if err := row.Scan(&m.Table, &until, &m.By, &created); err != nil {
		return nil, err
	}
	m.Until, m.CreatedAt = fromNanos(until), fromNanos(created)
	return &m, nil
}

// MuteGet returns a table's mute or ErrNotFound.
func (s *Store) MuteGet(ctx context.Context, table string) (*store.Mute, error) {
	m, err := scanMute(s.queryRow(ctx, `SELECT tbl, until, by_user, created_at FROM mutes WHERE tbl = ?`, table))
	if err != nil {
		return nil, wrap(ctx, err, "error loading the mute of table %q", table)
	}
	return m, nil
}

// MuteList returns every mute, ordered by table.
func (s *Store) MuteList(ctx context.Context) ([]*store.Mute, error) {
	rows, err := s.query(ctx, `SELECT tbl, until, by_user, created_at FROM mutes ORDER BY tbl`)
	if err != nil {
		return nil, wrap(ctx, err, "error listing mutes")
	}
	defer rows.Close()
	var out []*store.Mute
	for rows.Next() {
		m, err := scanMute(rows)
		if err != nil {
			return nil, wrap(ctx, err, "error listing mutes")
		}
		out = append(out, m)
	}
	return out, wrap(ctx, rows.Err(), "error listing mutes")
}

// MuteDelete removes a table's mute; ErrNotFound if there is none.
func (s *Store) MuteDelete(ctx context.Context, table string) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`DELETE FROM mutes WHERE tbl = ?`, table)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	return wrap(ctx, err, "error unmuting table %q", table)
}

const triggerColumns = `id, tbl, downstream, schedule, grp, generation, created_by, created_at`

func scanTrigger(row interface{ Scan(...any) error }) (*store.Trigger, error) {
	var (
		tr         store.Trigger
		downstream int
		created    int64
	)
	if err := row.Scan(&tr.ID, &tr.Table, &downstream, &tr.Schedule, &tr.Group, &tr.Generation, &tr.CreatedBy, &created); err != nil {
		return nil, err
	}
	tr.Downstream, tr.CreatedAt = downstream != 0, fromNanos(created)
	return &tr, nil
}

// TriggerCreate stores a new trigger; ErrConflict if its ID exists.
func (s *Store) TriggerCreate(ctx context.Context, tr *store.Trigger) error {
	if tr.ID == "" {
		return errors.New("error creating a trigger: it needs an id")
	}
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`INSERT INTO triggers (`+triggerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			tr.ID, tr.Table, boolInt(tr.Downstream), tr.Schedule, tr.Group, tr.Generation, tr.CreatedBy, nanos(tr.CreatedAt))
		if err == nil && n == 0 {
			err = store.ErrConflict
		}
		return err
	})
	return wrap(ctx, err, "error creating trigger %q", tr.ID)
}

// TriggerGet returns a trigger or ErrNotFound.
func (s *Store) TriggerGet(ctx context.Context, id string) (*store.Trigger, error) {
	tr, err := scanTrigger(s.queryRow(ctx, `SELECT `+triggerColumns+` FROM triggers WHERE id = ?`, id))
	if err != nil {
		return nil, wrap(ctx, err, "error loading trigger %q", id)
	}
	return tr, nil
}

// TriggerList returns every trigger, ordered by ID.
func (s *Store) TriggerList(ctx context.Context) ([]*store.Trigger, error) {
	rows, err := s.query(ctx, `SELECT `+triggerColumns+` FROM triggers ORDER BY id`)
	if err != nil {
		return nil, wrap(ctx, err, "error listing triggers")
	}
	defer rows.Close()
	var out []*store.Trigger
	for rows.Next() {
		tr, err := scanTrigger(rows)
		if err != nil {
			return nil, wrap(ctx, err, "error listing triggers")
		}
		out = append(out, tr)
	}
	return out, wrap(ctx, rows.Err(), "error listing triggers")
}

// TriggerRotate moves a trigger to its next generation and returns it.
func (s *Store) TriggerRotate(ctx context.Context, id string) (*store.Trigger, error) {
	var tr *store.Trigger
	err := s.tx(ctx, func(t *tx) error {
		var err error
		tr, err = scanTrigger(t.queryRow(`UPDATE triggers SET generation = generation + 1 WHERE id = ? RETURNING `+triggerColumns, id))
		return err
	})
	if err != nil {
		return nil, wrap(ctx, err, "error rotating the secret of trigger %q", id)
	}
	return tr, nil
}

// TriggerDelete removes a trigger; ErrNotFound if there is none.
func (s *Store) TriggerDelete(ctx context.Context, id string) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`DELETE FROM triggers WHERE id = ?`, id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	return wrap(ctx, err, "error deleting trigger %q", id)
}

// TriggerDeliveryRecord keeps one delivery; recording it again changes nothing.
func (s *Store) TriggerDeliveryRecord(ctx context.Context, d *store.TriggerDelivery) error {
	err := s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO trigger_deliveries (trigger_id, id, at, idempotency_key, outcome, reason, run_id, remote)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trigger_id, id) DO NOTHING`,
			d.TriggerID, d.ID, nanos(d.At), d.IdempotencyKey, d.Outcome, d.Reason, d.RunID, d.Remote)
		return err
	})
	return wrap(ctx, err, "error recording a delivery of trigger %q", d.TriggerID)
}

// TriggerDeliveryList returns a trigger's deliveries, newest first.
func (s *Store) TriggerDeliveryList(ctx context.Context, triggerID string, limit int) ([]*store.TriggerDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, `SELECT trigger_id, id, at, idempotency_key, outcome, reason, run_id, remote
		FROM trigger_deliveries WHERE trigger_id = ? ORDER BY at DESC, id LIMIT ?`, triggerID, limit)
	if err != nil {
		return nil, wrap(ctx, err, "error listing the deliveries of trigger %q", triggerID)
	}
	defer rows.Close()
	var out []*store.TriggerDelivery
	for rows.Next() {
		var (
			d  store.TriggerDelivery
			at int64
		)
		if err := rows.Scan(&d.TriggerID, &d.ID, &at, &d.IdempotencyKey, &d.Outcome, &d.Reason, &d.RunID, &d.Remote); err != nil {
			return nil, wrap(ctx, err, "error listing the deliveries of trigger %q", triggerID)
		}
		d.At = fromNanos(at)
		out = append(out, &d)
	}
	return out, wrap(ctx, rows.Err(), "error listing the deliveries of trigger %q", triggerID)
}
