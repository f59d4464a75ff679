package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

const nodeColumns = `run_id, name, kind, state, attempt, max_attempts, upstream, downstream, pending_upstream,
	not_before, dispatched_at, lease, lease_expires_at, propagated, job_id, bytes_processed, bytes_billed,
	slot_ms, rows_count, cache_hit, duration_ms, error, started_at, finished_at`

const nodeTerminal = `('succeeded', 'failed', 'skipped', 'cancelled')`

func scanNode(sc scanner) (*run.Node, error) {
	var (
		n                                           run.Node
		up, down                                    string
		notBefore, dispatched, leaseExp, start, fin int64
		propagated, cacheHit                        int
	)
	if err := sc.Scan(&n.RunID, &n.Name, &n.Kind, &n.State, &n.Attempt, &n.MaxAttempts, &up, &down,
		&n.PendingUpstream, &notBefore, &dispatched, &n.Lease, &leaseExp, &propagated, &n.JobID,
		&n.Stats.BytesProcessed, &n.Stats.BytesBilled, &n.Stats.SlotMillis, &n.Stats.Rows, &cacheHit,
		&n.Stats.DurationMillis, &n.Error, &start, &fin); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(up), &n.Upstream); err != nil {
		return nil, fmt.Errorf("error decoding the upstream of node %q: %w", n.Name, err)
	}
	if err := json.Unmarshal([]byte(down), &n.Downstream); err != nil {
		return nil, fmt.Errorf("error decoding the downstream of node %q: %w", n.Name, err)
	}
	n.NotBefore = fromNanos(notBefore)
	n.DispatchedAt = fromNanos(dispatched)
	n.LeaseExpiresAt = fromNanos(leaseExp)
	n.StartedAt = fromNanos(start)
	n.FinishedAt = fromNanos(fin)
	n.Propagated = propagated != 0
	n.Stats.CacheHit = cacheHit != 0
	return &n, nil
}

func (t *tx) insertNode(runID string, n *run.Node) error {
	if n.Name == "" {
		return errors.New("the node has no name")
	}
	up, err := json.Marshal(n.Upstream)
	if err != nil {
		return err
	}
	down, err := json.Marshal(n.Downstream)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO nodes (`+nodeColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		runID, n.Name, n.Kind, string(n.State), n.Attempt, n.MaxAttempts, string(up), string(down),
		n.PendingUpstream, nanos(n.NotBefore), nanos(n.DispatchedAt), n.Lease, nanos(n.LeaseExpiresAt),
		boolInt(n.Propagated), n.JobID, n.Stats.BytesProcessed, n.Stats.BytesBilled, n.Stats.SlotMillis,
		n.Stats.Rows, boolInt(n.Stats.CacheHit), n.Stats.DurationMillis, n.Error, nanos(n.StartedAt),
		nanos(n.FinishedAt))
	return err
}

// NodeGet returns a node or ErrNotFound.
func (s *Store) NodeGet(ctx context.Context, runID, name string) (*run.Node, error) {
	n, err := scanNode(s.queryRow(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE run_id = ? AND name = ?`, runID, name))
	if err != nil {
		return nil, wrap(ctx, err, "error loading node %q of run %q", name, runID)
	}
	return n, nil
}

// NodeList returns a run's nodes ordered by name (none for an unknown run).
func (s *Store) NodeList(ctx context.Context, runID string) ([]*run.Node, error) {
	rows, err := s.query(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE run_id = ? ORDER BY name`, runID)
	if err != nil {
		return nil, wrap(ctx, err, "error listing the nodes of run %q", runID)
	}
	return collectNodes(ctx, rows, "error listing the nodes of run %q", runID)
}

func collectNodes(ctx context.Context, rows *sql.Rows, format string, args ...any) ([]*run.Node, error) {
	defer rows.Close()
	var out []*run.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, wrap(ctx, err, format, args...)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, err, format, args...)
	}
	return out, nil
}

// nodeMissingOrConflict tells why a conditional update of a node touched nothing.
func (t *tx) nodeMissingOrConflict(runID, name, why string) error {
	var one int
	if err := t.queryRow(`SELECT 1 FROM nodes WHERE run_id = ? AND name = ?`, runID, name).Scan(&one); err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", why, store.ErrConflict)
}

// NodeClaim moves a ready node of a running run to running under p.Lease.
func (s *Store) NodeClaim(ctx context.Context, p *store.NodeClaimParams) (*run.Node, error) {
	if p.Lease == "" {
		return nil, fmt.Errorf("error claiming node %q of run %q: the lease is empty", p.Name, p.RunID)
	}
	var n *run.Node
	err := s.tx(ctx, func(t *tx) error {
		var err error
		n, err = scanNode(t.queryRow(`UPDATE nodes SET state = 'running', lease = ?, lease_expires_at = ?,
			job_id = ?, started_at = ?
			WHERE run_id = ? AND name = ? AND state = 'ready' AND attempt = ?
			AND EXISTS (SELECT 1 FROM runs WHERE id = ? AND state = 'running')
			RETURNING `+nodeColumns, p.Lease, nanos(p.LeaseExpiresAt), p.JobID, nanos(p.Now),
			p.RunID, p.Name, p.Attempt, p.RunID))
		if errors.Is(err, sql.ErrNoRows) {
			return t.nodeMissingOrConflict(p.RunID, p.Name,
				fmt.Sprintf("it is not ready with attempt %d in a running run", p.Attempt))
		}
		return err
	})
	if err != nil {
		return nil, wrap(ctx, err, "error claiming node %q of run %q", p.Name, p.RunID)
	}
	return n, nil
}

// NodeHeartbeat extends the lease of a node still running under p.Lease and p.Attempt.
func (s *Store) NodeHeartbeat(ctx context.Context, p *store.NodeHeartbeatParams) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`UPDATE nodes SET lease_expires_at = ?
			WHERE run_id = ? AND name = ? AND state = 'running' AND attempt = ? AND lease = ?`,
			nanos(p.LeaseExpiresAt), p.RunID, p.Name, p.Attempt, p.Lease)
		if err != nil || n == 1 {
			return err
		}
		return t.nodeMissingOrConflict(p.RunID, p.Name, "it is no longer running under this lease")
	})
	return wrap(ctx, err, "error extending the lease of node %q of run %q", p.Name, p.RunID)
}

// NodeRecordOutcome ends a running attempt. p.Stats are added to the node's (a retried attempt
// costs too), except CacheHit, which is the last attempt's.
func (s *Store) NodeRecordOutcome(ctx context.Context, p *store.NodeRecordOutcomeParams) (*run.Node, error) {
	var query string
	var args []any
	stats := []any{p.Stats.BytesProcessed, p.Stats.BytesBilled, p.Stats.SlotMillis, p.Stats.Rows,
		boolInt(p.Stats.CacheHit), p.Stats.DurationMillis, p.Error}
	const setStats = `bytes_processed = bytes_processed + ?, bytes_billed = bytes_billed + ?,
		slot_ms = slot_ms + ?, rows_count = rows_count + ?, cache_hit = ?, duration_ms = duration_ms + ?, error = ?`
	const where = ` WHERE run_id = ? AND name = ? AND state = 'running' AND attempt = ? AND lease = ?
		RETURNING ` + nodeColumns
	switch p.State {
	case run.NodeSucceeded, run.NodeFailed:
		query = `UPDATE nodes SET state = ?, finished_at = ?, lease = '', lease_expires_at = 0, ` + setStats + where
		args = append([]any{string(p.State), nanos(p.Now)}, stats...)
	case run.NodeReady:
		query = `UPDATE nodes SET state = 'ready', attempt = attempt + 1, not_before = ?, dispatched_at = 0,
			lease = '', lease_expires_at = 0, ` + setStats + where
		args = append([]any{nanos(p.NotBefore)}, stats...)
	default:
		return nil, fmt.Errorf("error recording the outcome of node %q of run %q: %q is not an outcome",
			p.Name, p.RunID, p.State)
	}
	args = append(args, p.RunID, p.Name, p.Attempt, p.Lease)
	var n *run.Node
	err := s.tx(ctx, func(t *tx) error {
		var err error
		n, err = scanNode(t.queryRow(query, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return t.nodeMissingOrConflict(p.RunID, p.Name,
				fmt.Sprintf("it is no longer running attempt %d under this lease", p.Attempt))
		}
		return err
	})
	if err != nil {
		return nil, wrap(ctx, err, "error recording the outcome of node %q of run %q", p.Name, p.RunID)
	}
	return n, nil
}

// NodeReclaim returns a running node to ready with the same attempt, undispatched.
func (s *Store) NodeReclaim(ctx context.Context, p *store.NodeReclaimParams) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`UPDATE nodes SET state = 'ready', lease = '', lease_expires_at = 0, dispatched_at = 0
			WHERE run_id = ? AND name = ? AND state = 'running' AND attempt = ? AND lease = ?`,
			p.RunID, p.Name, p.Attempt, p.Lease)
		if err != nil || n == 1 {
			return err
		}
		return t.nodeMissingOrConflict(p.RunID, p.Name, "it is no longer running under this lease")
	})
	return wrap(ctx, err, "error reclaiming node %q of run %q", p.Name, p.RunID)
}

// NodePropagate applies a terminal node's outcome to its downstream nodes, once. Nodes it skips
// are marked propagated too (their own downstream is skipped in the same walk) and take the
// FinishedAt of the node that caused it.
func (s *Store) NodePropagate(ctx context.Context, runID, name string) (*store.PropagateResult, error) {
	res := &store.PropagateResult{}
	err := s.tx(ctx, func(t *tx) error {
		var (
			state      run.NodeState
			propagated int
			down       string
			finished   int64
		)
		if err := t.queryRow(`SELECT state, propagated, downstream, finished_at FROM nodes
			WHERE run_id = ? AND name = ?`, runID, name).Scan(&state, &propagated, &down, &finished); err != nil {
			return err
		}
		if !state.Terminal() || propagated != 0 {
			return nil
		}
		var downstream []string
		if err := json.Unmarshal([]byte(down), &downstream); err != nil {
			return fmt.Errorf("error decoding the downstream of node %q: %w", name, err)
		}
		if state == run.NodeSucceeded {
			for _, d := range downstream {
				var now run.NodeState
				err := t.queryRow(`UPDATE nodes SET pending_upstream = pending_upstream - 1,
					state = CASE WHEN pending_upstream = 1 THEN 'ready' ELSE state END,
					dispatched_at = CASE WHEN pending_upstream = 1 THEN 0 ELSE dispatched_at END
					WHERE run_id = ? AND name = ? AND state = 'pending' AND pending_upstream > 0
					RETURNING state`, runID, d).Scan(&now)
				if errors.Is(err, sql.ErrNoRows) {
					continue // not pending: skipped or cancelled meanwhile
				}
				if err != nil {
					return err
				}
				if now == run.NodeReady {
					res.Ready = append(res.Ready, d)
				}
			}
		} else {
			// Walk only through nodes this call skips: a node skipped earlier had its own
			// downstream skipped then.
			queue := downstream
			for len(queue) > 0 {
				d := queue[0]
				queue = queue[1:]
				var next string
				err := t.queryRow(`UPDATE nodes SET state = 'skipped', finished_at = ?, propagated = 1
					WHERE run_id = ? AND name = ? AND state = 'pending' RETURNING downstream`,
					finished, runID, d).Scan(&next)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				if err != nil {
					return err
				}
				res.Skipped = append(res.Skipped, d)
				var more []string
				if err := json.Unmarshal([]byte(next), &more); err != nil {
					return fmt.Errorf("error decoding the downstream of node %q: %w", d, err)
				}
				queue = append(queue, more...)
			}
		}
		if _, err := t.exec(`UPDATE nodes SET propagated = 1 WHERE run_id = ? AND name = ? AND propagated = 0`,
			runID, name); err != nil {
			return err
		}
		var unfinished int
		if err := t.queryRow(`SELECT EXISTS (SELECT 1 FROM nodes WHERE run_id = ? AND propagated = 0)`,
			runID).Scan(&unfinished); err != nil {
			return err
		}
		res.RunDone = unfinished == 0
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "error propagating node %q of run %q", name, runID)
	}
	return res, nil
}

// NodesDispatch marks ready, undispatched nodes dispatched within the parallelism bounds.
func (s *Store) NodesDispatch(ctx context.Context, p *store.NodesDispatchParams) ([]*run.Node, error) {
	if p.Now.IsZero() {
		return nil, errors.New("error dispatching nodes: Now is not set")
	}
	now := nanos(p.Now)
	var out []*run.Node
	err := s.tx(ctx, func(t *tx) error {
		out = nil
		// -1 is "no bound" throughout, which is also what SQLite's LIMIT makes of it.
		global := -1
		if p.GlobalLimit > 0 {
			var busy int
			if err := t.queryRow(`SELECT (SELECT COUNT(*) FROM nodes WHERE state = 'running')
				+ (SELECT COUNT(*) FROM nodes WHERE state = 'ready' AND dispatched_at <> 0)`).Scan(&busy); err != nil {
				return err
			}
			global = max(p.GlobalLimit-busy, 0)
		}
		remaining := -1
		if p.Max > 0 {
			remaining = p.Max
		}
		type runLimit struct {
			id          string
			maxParallel int
		}
		var runs []runLimit
		rows, err := t.query(`SELECT id, max_parallel FROM runs WHERE state = 'running' ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var r runLimit
			if err := rows.Scan(&r.id, &r.maxParallel); err != nil {
				rows.Close()
				return err
			}
			runs = append(runs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range runs {
			if global == 0 || remaining == 0 {
				break
			}
			limit := bound(global, remaining)
			if r.maxParallel > 0 {
				var busy int
				if err := t.queryRow(`SELECT (SELECT COUNT(*) FROM nodes WHERE run_id = ?1 AND state = 'running')
					+ (SELECT COUNT(*) FROM nodes WHERE run_id = ?1 AND state = 'ready' AND dispatched_at <> 0)`,
					r.id).Scan(&busy); err != nil {
					return err
				}
				if busy >= r.maxParallel {
					continue
				}
				limit = bound(limit, r.maxParallel-busy)
			}
			var names []string
			rows, err := t.query(`SELECT name FROM nodes WHERE run_id = ? AND state = 'ready' AND dispatched_at = 0
				AND not_before <= ? ORDER BY name LIMIT ?`, r.id, now, limit)
			if err != nil {
				return err
			}
			for rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					rows.Close()
					return err
				}
				names = append(names, name)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, name := range names {
				n, err := scanNode(t.queryRow(`UPDATE nodes SET dispatched_at = ?
					WHERE run_id = ? AND name = ? AND state = 'ready' AND dispatched_at = 0
					RETURNING `+nodeColumns, now, r.id, name))
				if err != nil {
					return err
				}
				out = append(out, n)
			}
			if global > 0 {
				global -= len(names)
			}
			if remaining > 0 {
				remaining -= len(names)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "error dispatching nodes")
	}
	return out, nil
}

// bound is the smaller of two limits where -1 means no limit.
func bound(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// NodesStale finds the nodes and runs of running runs that the sweeper must repair.
func (s *Store) NodesStale(ctx context.Context, p *store.NodesStaleParams) (*store.StaleNodes, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	const inRunningRun = ` AND EXISTS (SELECT 1 FROM runs r WHERE r.id = n.run_id AND r.state = 'running')`
	var out store.StaleNodes
	lists := []struct {
		dst   *[]*run.Node
		query string
		arg   int64
	}{
		{&out.ExpiredLeases, `SELECT ` + nodeColumns + ` FROM nodes n
			WHERE n.state = 'running' AND n.lease_expires_at < ?` + inRunningRun +
			` ORDER BY n.lease_expires_at LIMIT ?`, nanos(p.Now)},
		{&out.Undelivered, `SELECT ` + nodeColumns + ` FROM nodes n
			WHERE n.state = 'ready' AND n.dispatched_at <> 0 AND n.dispatched_at < ?` + inRunningRun +
			` ORDER BY n.dispatched_at LIMIT ?`, nanos(p.DispatchedBefore)},
		{&out.Unpropagated, `SELECT ` + nodeColumns + ` FROM nodes n
			WHERE n.propagated = 0 AND n.state IN ` + nodeTerminal + ` AND n.finished_at < ?` + inRunningRun +
			` ORDER BY n.finished_at LIMIT ?`, nanos(p.FinishedBefore)},
	}
	for _, l := range lists {
		rows, err := s.query(ctx, l.query, l.arg, limit)
		if err != nil {
			return nil, wrap(ctx, err, "error finding stale nodes")
		}
		if *l.dst, err = collectNodes(ctx, rows, "error finding stale nodes"); err != nil {
			return nil, err
		}
	}
	rows, err := s.query(ctx, `SELECT id FROM runs r WHERE r.state = 'running'
		AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.run_id = r.id AND n.propagated = 0)
		ORDER BY r.created_at, r.id LIMIT ?`, limit)
	if err != nil {
		return nil, wrap(ctx, err, "error finding finished runs")
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(ctx, err, "error finding finished runs")
		}
		out.Done = append(out.Done, id)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(ctx, err, "error finding finished runs")
	}
	return &out, nil
}
