package sqlitestore

import (
	"context"
	"errors"
	"time"

	"github.com/maestro-sql/maestro/internal/store"
)

// DeliveryRecord keeps one callback delivery attempt.
func (s *Store) DeliveryRecord(ctx context.Context, d *store.Delivery) error {
	if d.RunID == "" || d.DeliveryID == "" {
		return errors.New("error recording a delivery: it needs a run id and a delivery id")
	}
	err := s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`INSERT INTO deliveries (run_id, delivery_id, attempt, started_at, table_name, url, event,
			duration_ns, status_code, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, started_at, delivery_id, attempt) DO NOTHING`,
			d.RunID, d.DeliveryID, d.Attempt, nanos(d.Started), d.Table, d.URL, d.Event,
			int64(d.Duration), d.StatusCode, d.Error)
		return err
	})
	return wrap(ctx, err, "error recording attempt %d of delivery %q of run %q", d.Attempt, d.DeliveryID, d.RunID)
}

// DeliveryList returns a run's delivery attempts by start time, delivery id and attempt.
func (s *Store) DeliveryList(ctx context.Context, runID string) ([]*store.Delivery, error) {
	rows, err := s.query(ctx, `SELECT run_id, delivery_id, attempt, started_at, table_name, url, event,
		duration_ns, status_code, error FROM deliveries WHERE run_id = ?
		ORDER BY started_at, delivery_id, attempt`, runID)
	if err != nil {
		return nil, wrap(ctx, err, "error listing the deliveries of run %q", runID)
	}
	defer rows.Close()
	var out []*store.Delivery
	for rows.Next() {
		var (
			d                store.Delivery
			started, durNano int64
		)
		if err := rows.Scan(&d.RunID, &d.DeliveryID, &d.Attempt, &started, &d.Table, &d.URL, &d.Event,
			&durNano, &d.StatusCode, &d.Error); err != nil {
			return nil, wrap(ctx, err, "error listing the deliveries of run %q", runID)
		}
		d.Started, d.Duration = fromNanos(started), time.Duration(durNano)
		out = append(out, &d)
	}
	return out, wrap(ctx, rows.Err(), "error listing the deliveries of run %q", runID)
}
