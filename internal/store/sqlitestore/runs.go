package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

const runColumns = `id, schedule, trigger, resumed_from, state, max_parallel, created_by, created_at,
	finished_at, stats, counts`

func scanRun(sc scanner) (*run.Run, error) {
	var (
		r                     run.Run
		createdAt, finishedAt int64
		stats, counts         string
	)
	if err := sc.Scan(&r.ID, &r.Schedule, &r.Trigger, &r.ResumedFrom, &r.State, &r.MaxParallel, &r.CreatedBy,
		&createdAt, &finishedAt, &stats, &counts); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(stats), &r.Stats); err != nil {
		return nil, fmt.Errorf("error decoding the stats of run %q: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return nil, fmt.Errorf("error decoding the counts of run %q: %w", r.ID, err)
	}
	r.CreatedAt = fromNanos(createdAt)
	r.FinishedAt = fromNanos(finishedAt)
	return &r, nil
}

// RunCreate stores a run and all of its nodes in one transaction; ErrConflict if the id exists.
// A node with an empty RunID takes the run's.
func (s *Store) RunCreate(ctx context.Context, r *run.Run, nodes []*run.Node) error {
	if r.ID == "" {
		return errors.New("error creating run: the run has no id")
	}
	for _, n := range nodes {
		if n.RunID != "" && n.RunID != r.ID {
			return fmt.Errorf("error creating run %q: node %q belongs to run %q", r.ID, n.Name, n.RunID)
		}
	}
	stats, err := json.Marshal(r.Stats)
	if err != nil {
		return fmt.Errorf("error encoding run %q: %w", r.ID, err)
	}
	counts, err := json.Marshal(r.Counts)
	if err != nil {
		return fmt.Errorf("error encoding run %q: %w", r.ID, err)
	}
	if _, live := s.live.getRun(r.ID); live {
		return fmt.Errorf("error creating run %q: the run exists already: %w", r.ID, store.ErrConflict)
	}
	err = s.tx(ctx, func(t *tx) error {
		var one int
		err := t.queryRow(`SELECT 1 FROM runs WHERE id = ?`, r.ID).Scan(&one)
		if err == nil {
			return fmt.Errorf("the run exists already: %w", store.ErrConflict)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := t.exec(`INSERT INTO runs (`+runColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Schedule, string(r.Trigger), r.ResumedFrom, string(r.State), r.MaxParallel, r.CreatedBy,
			nanos(r.CreatedAt), nanos(r.FinishedAt), string(stats), string(counts)); err != nil {
			return err
		}
		if r.State == run.RunRunning {
			return t.createJournalled(r, nodes)
		}
		for _, n := range nodes {
			if err := t.insertNode(r.ID, n); err != nil {
				return fmt.Errorf("error storing node %q: %w", n.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(ctx, err, "error creating run %q", r.ID)
	}
	if r.State == run.RunRunning {
		s.live.mu.Lock()
		s.live.add(r, nodes, 1, len(nodes))
		s.live.mu.Unlock()
	}
	return nil
}

// RunGet returns a run or ErrNotFound.
func (s *Store) RunGet(ctx context.Context, id string) (*run.Run, error) {
	if r, ok := s.live.getRun(id); ok {
		return r, nil
	}
	r, err := scanRun(s.queryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if err != nil {
		return nil, wrap(ctx, err, "error loading run %q", id)
	}
	return r, nil
}

// RunList returns runs, newest first (by CreatedAt, then id).
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*run.Run, error) {
	limit, state := 100, ""
	if p != nil {
		state = string(p.State)
		if p.Limit > 0 {
			limit = p.Limit
		}
	}
	var (
		rows *sql.Rows
		err  error
	)
	if state == "" {
		rows, err = s.query(ctx, `SELECT `+runColumns+` FROM runs ORDER BY created_at DESC, id DESC LIMIT ?`, limit)
	} else {
		rows, err = s.query(ctx, `SELECT `+runColumns+` FROM runs WHERE state = ?
			ORDER BY created_at DESC, id DESC LIMIT ?`, state, limit)
	}
	if err != nil {
		return nil, wrap(ctx, err, "error listing runs")
	}
	runs, err := collect(ctx, rows, scanRun, "error listing runs")
	if err != nil {
		return nil, err
	}
	// A run finishing right now is finished in memory before it is in the file.
	return s.live.overlay(runs, run.RunState(state)), nil
}

// runMissingOrConflict tells why a conditional update of a run touched nothing.
func (t *tx) runMissingOrConflict(id string) error {
	var one int
	if err := t.queryRow(`SELECT 1 FROM runs WHERE id = ?`, id).Scan(&one); err != nil {
		return err
	}
	return fmt.Errorf("the run is not running: %w", store.ErrConflict)
}

// RunFinish moves a running run to a terminal state; ErrConflict if it is not running.
func (s *Store) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	if !p.State.Terminal() || p.State == "" {
		return fmt.Errorf("error finishing run %q: %q is not a terminal state", p.ID, p.State)
	}
	stats, err := json.Marshal(p.Stats)
	if err != nil {
		return fmt.Errorf("error encoding run %q: %w", p.ID, err)
	}
	counts, err := json.Marshal(p.Counts)
	if err != nil {
		return fmt.Errorf("error encoding run %q: %w", p.ID, err)
	}
	if ok, err := s.live.finish(p); ok {
		if err == nil {
			// The caller tells the world next: the finish must be in the file first.
			err = s.Sync(context.WithoutCancel(ctx))
		}
		return wrap(ctx, err, "error finishing run %q", p.ID)
	}
	err = s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`UPDATE runs SET state = ?, finished_at = ?, stats = ?, counts = ?
			WHERE id = ? AND state = 'running'`, string(p.State), nanos(p.FinishedAt), string(stats), string(counts), p.ID)
		if err != nil || n == 1 {
			return err
		}
		return t.runMissingOrConflict(p.ID)
	})
	return wrap(ctx, err, "error finishing run %q", p.ID)
}

// RunCancel moves a running run and its non-terminal nodes to cancelled in one transaction.
// The cancelled nodes count as propagated: the cancel has already reached all of them.
func (s *Store) RunCancel(ctx context.Context, id string, at time.Time) error {
	if ok, err := s.live.cancel(id, at); ok {
		if err == nil {
			err = s.Sync(context.WithoutCancel(ctx))
		}
		return wrap(ctx, err, "error cancelling run %q", id)
	}
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`UPDATE runs SET state = 'cancelled', finished_at = ? WHERE id = ? AND state = 'running'`,
			nanos(at), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return t.runMissingOrConflict(id)
		}
		_, err = t.exec(`UPDATE nodes SET state = 'cancelled', finished_at = ?, lease = '', lease_expires_at = 0,
			propagated = 1 WHERE run_id = ? AND state IN ('pending', 'ready', 'running')`, nanos(at), id)
		return err
	})
	return wrap(ctx, err, "error cancelling run %q", id)
}
