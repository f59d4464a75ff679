package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

const nodeColumns = `run_id, name, kind, state, attempt, max_attempts, upstream, downstream, pending_upstream,
	not_before, dispatched_at, lease, lease_expires_at, propagated, job_id, bytes_processed, bytes_billed,
	slot_ms, rows_count, cache_hit, duration_ms, error, started_at, finished_at, depth`

const nodeTerminal = `('succeeded', 'failed', 'skipped', 'cancelled')`

func scanNode(sc scanner) (*run.Node, error) {
	var r rawNode
	if err := r.scan(sc); err != nil {
		return nil, err
	}
	return r.node()
}

// rawNode is a scanned node row whose JSON lists are not decoded yet, so that a write can scan
// while it holds the write connection and decode after releasing it.
type rawNode struct {
	n                                           run.Node
	up, down                                    string
	notBefore, dispatched, leaseExp, start, fin int64
	propagated, cacheHit                        int
}

func (r *rawNode) scan(sc scanner) error {
	n := &r.n
	return sc.Scan(&n.RunID, &n.Name, &n.Kind, &n.State, &n.Attempt, &n.MaxAttempts, &r.up, &r.down,
		&n.PendingUpstream, &r.notBefore, &r.dispatched, &n.Lease, &r.leaseExp, &r.propagated, &n.JobID,
		&n.Stats.BytesProcessed, &n.Stats.BytesBilled, &n.Stats.SlotMillis, &n.Stats.Rows, &r.cacheHit,
		&n.Stats.DurationMillis, &n.Error, &r.start, &r.fin, &n.Depth)
}

func (r *rawNode) node() (*run.Node, error) {
	n := r.n
	if err := json.Unmarshal([]byte(r.up), &n.Upstream); err != nil {
		return nil, fmt.Errorf("error decoding the upstream of node %q: %w", n.Name, err)
	}
	if err := json.Unmarshal([]byte(r.down), &n.Downstream); err != nil {
		return nil, fmt.Errorf("error decoding the downstream of node %q: %w", n.Name, err)
	}
	n.NotBefore = fromNanos(r.notBefore)
	n.DispatchedAt = fromNanos(r.dispatched)
	n.LeaseExpiresAt = fromNanos(r.leaseExp)
	n.StartedAt = fromNanos(r.start)
	n.FinishedAt = fromNanos(r.fin)
	n.Propagated = r.propagated != 0
	n.Stats.CacheHit = r.cacheHit != 0
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
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		runID, n.Name, n.Kind, string(n.State), n.Attempt, n.MaxAttempts, string(up), string(down),
		n.PendingUpstream, nanos(n.NotBefore), nanos(n.DispatchedAt), n.Lease, nanos(n.LeaseExpiresAt),
		boolInt(n.Propagated), n.JobID, n.Stats.BytesProcessed, n.Stats.BytesBilled, n.Stats.SlotMillis,
		n.Stats.Rows, boolInt(n.Stats.CacheHit), n.Stats.DurationMillis, n.Error, nanos(n.StartedAt),
		nanos(n.FinishedAt), n.Depth)
	return err
}

// NodeGet returns a node or ErrNotFound.
func (s *Store) NodeGet(ctx context.Context, runID, name string) (*run.Node, error) {
	if n, ok, err := s.live.getNode(runID, name); ok {
		return n, wrap(ctx, err, "error loading node %q of run %q", name, runID)
	}
	n, err := scanNode(s.queryRow(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE run_id = ? AND name = ?`, runID, name))
	if err != nil {
		return nil, wrap(ctx, err, "error loading node %q of run %q", name, runID)
	}
	return n, nil
}

// NodeList returns a run's nodes ordered by name (none for an unknown run).
func (s *Store) NodeList(ctx context.Context, runID string) ([]*run.Node, error) {
	if nodes, ok := s.live.listNodes(runID); ok {
		return nodes, nil
	}
	return s.nodeListSQL(ctx, runID)
}

func (s *Store) nodeListSQL(ctx context.Context, runID string) ([]*run.Node, error) {
	rows, err := s.query(ctx, `SELECT `+nodeColumns+` FROM nodes WHERE run_id = ? ORDER BY name`, runID)
	if err != nil {
		return nil, wrap(ctx, err, "error listing the nodes of run %q", runID)
	}
	return collectNodes(ctx, rows, "error listing the nodes of run %q", runID)
}

func collectNodes(ctx context.Context, rows *sql.Rows, format string, args ...any) ([]*run.Node, error) {
	return collect(ctx, rows, scanNode, format, args...)
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
	if n, ok, err := s.live.claim(p); ok {
		if err != nil {
			return nil, wrap(ctx, err, "error claiming node %q of run %q", p.Name, p.RunID)
		}
		return n, nil
	}
	var raw rawNode
	err := s.single(ctx, func(t *tx) error {
		err := raw.scan(t.queryRow(`UPDATE nodes SET state = 'running', lease = ?, lease_expires_at = ?,
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
	return raw.node()
}

// NodeHeartbeat extends the lease of a node still running under p.Lease and p.Attempt.
func (s *Store) NodeHeartbeat(ctx context.Context, p *store.NodeHeartbeatParams) error {
	if ok, err := s.live.heartbeat(p); ok {
		return wrap(ctx, err, "error extending the lease of node %q of run %q", p.Name, p.RunID)
	}
	err := s.single(ctx, func(t *tx) error {
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
	if err := checkOutcome(p); err != nil {
		return nil, err
	}
	if n, _, ok, err := s.live.outcome(p, false); ok {
		if err != nil {
			return nil, wrap(ctx, err, "error recording the outcome of node %q of run %q", p.Name, p.RunID)
		}
		return n, nil
	}
	query, args, err := outcomeQuery(p)
	if err != nil {
		return nil, err
	}
	var raw rawNode
	err = s.single(ctx, func(t *tx) error {
		err := raw.scan(t.queryRow(query, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return t.nodeMissingOrConflict(p.RunID, p.Name,
				fmt.Sprintf("it is no longer running attempt %d under this lease", p.Attempt))
		}
		return err
	})
	if err != nil {
		return nil, wrap(ctx, err, "error recording the outcome of node %q of run %q", p.Name, p.RunID)
	}
	return raw.node()
}

// checkOutcome refuses a state that is not an outcome.
func checkOutcome(p *store.NodeRecordOutcomeParams) error {
	switch p.State {
	case run.NodeSucceeded, run.NodeFailed, run.NodeReady:
		return nil
	}
	return fmt.Errorf("error recording the outcome of node %q of run %q: %q is not an outcome", p.Name, p.RunID, p.State)
}

// outcomeQuery is the compare-and-set that records how a running attempt ended.
func outcomeQuery(p *store.NodeRecordOutcomeParams) (string, []any, error) {
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
		return "", nil, fmt.Errorf("error recording the outcome of node %q of run %q: %q is not an outcome",
			p.Name, p.RunID, p.State)
	}
	return query, append(args, p.RunID, p.Name, p.Attempt, p.Lease), nil
}

// NodeRedispatch stamps a ready, dispatched node with a new dispatch time.
func (s *Store) NodeRedispatch(ctx context.Context, p *store.NodeRedispatchParams) error {
	if ok, err := s.live.redispatch(p); ok {
		return wrap(ctx, err, "error redispatching node %q of run %q", p.Name, p.RunID)
	}
	err := s.single(ctx, func(t *tx) error {
		n, err := t.exec(`UPDATE nodes SET dispatched_at = ?
			WHERE run_id = ? AND name = ? AND state = 'ready' AND attempt = ? AND dispatched_at = ?`,
			nanos(p.Now), p.RunID, p.Name, p.Attempt, nanos(p.DispatchedAt))
		if err != nil || n == 1 {
			return err
		}
		return t.nodeMissingOrConflict(p.RunID, p.Name, "it is no longer ready with this attempt and dispatch time")
	})
	return wrap(ctx, err, "error redispatching node %q of run %q", p.Name, p.RunID)
}

// NodeReclaim returns a running node to ready with the same attempt, undispatched.
func (s *Store) NodeReclaim(ctx context.Context, p *store.NodeReclaimParams) error {
	if ok, err := s.live.reclaim(p); ok {
		return wrap(ctx, err, "error reclaiming node %q of run %q", p.Name, p.RunID)
	}
	err := s.single(ctx, func(t *tx) error {
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

// The downstream of a node is a JSON list; json_each turns it into primary-key lookups.
const (
	// propagateUnlock counts one more succeeded upstream for one pending downstream node.
	propagateUnlock = `UPDATE nodes SET pending_upstream = pending_upstream - 1,
		state = CASE WHEN pending_upstream = 1 THEN 'ready' ELSE state END,
		dispatched_at = CASE WHEN pending_upstream = 1 THEN 0 ELSE dispatched_at END
		WHERE run_id = ? AND name = ? AND state = 'pending' AND pending_upstream > 0
		RETURNING state = 'ready'`
	// propagateSkip skips the pending nodes of one level of the walk downstream.
	propagateSkip = `UPDATE nodes SET state = 'skipped', finished_at = ?, propagated = 1
		WHERE run_id = ? AND name IN (SELECT value FROM json_each(?)) AND state = 'pending'
		RETURNING name, downstream`
)

// NodePropagate applies a terminal node's outcome to its downstream nodes, once. Nodes it skips
// are marked propagated too (their own downstream is skipped in the same walk) and take the
// FinishedAt of the node that caused it.
func (s *Store) NodePropagate(ctx context.Context, runID, name string) (*store.PropagateResult, error) {
	if res, ok, err := s.live.propagate(runID, name); ok {
		if err != nil {
			return nil, wrap(ctx, err, "error propagating node %q of run %q", name, runID)
		}
		return res, nil
	}
	res := &store.PropagateResult{}
	err := s.txRerun(ctx, func(t *tx) error {
		res = &store.PropagateResult{}
		return t.propagate(runID, name, res)
	})
	if err != nil {
		return nil, wrap(ctx, err, "error propagating node %q of run %q", name, runID)
	}
	return res, nil
}

// NodeFinish records an outcome and, when it is terminal, propagates it, in one transaction.
func (s *Store) NodeFinish(ctx context.Context, p *store.NodeRecordOutcomeParams) (*run.Node, *store.PropagateResult, error) {
	if err := checkOutcome(p); err != nil {
		return nil, nil, err
	}
	if n, res, ok, err := s.live.outcome(p, true); ok {
		if err != nil {
			return nil, nil, wrap(ctx, err, "error finishing node %q of run %q", p.Name, p.RunID)
		}
		return n, res, nil
	}
	query, args, err := outcomeQuery(p)
	if err != nil {
		return nil, nil, err
	}
	if p.State.Terminal() {
		// Mark it propagated in the same statement: this transaction propagates it.
		query = strings.Replace(query, "UPDATE nodes SET ", "UPDATE nodes SET propagated = 1, ", 1)
	}
	var (
		raw rawNode
		res *store.PropagateResult
	)
	err = s.txRerun(ctx, func(t *tx) error {
		res = &store.PropagateResult{}
		err := raw.scan(t.queryRow(query, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return t.nodeMissingOrConflict(p.RunID, p.Name,
				fmt.Sprintf("it is no longer running attempt %d under this lease", p.Attempt))
		}
		if err != nil || !raw.n.State.Terminal() {
			return err
		}
		// The outcome statement marked the node propagated already (finishQuery).
		if err := t.propagateFrom(p.RunID, raw.n.State, raw.down, raw.fin, res); err != nil {
			return err
		}
		if p.Handoff == nil || len(res.Ready) == 0 {
			return nil
		}
		claimed, err := t.handoff(p.RunID, res.Ready[0], p.Handoff, nanos(p.Now))
		if err != nil {
			return err
		}
		res.Claimed, res.Ready = claimed, res.Ready[1:]
		return nil
	})
	if err != nil {
		return nil, nil, wrap(ctx, err, "error finishing node %q of run %q", p.Name, p.RunID)
	}
	n, err := raw.node()
	if err != nil {
		return nil, nil, err
	}
	n.Propagated = n.State.Terminal() // the same transaction propagated it
	return n, res, nil
}

// handoff claims a node that just became ready for the finishing node's worker (see
// store.Handoff). It starts when the finish says, or when its last upstream node finished if
// that is later: the finishes of its upstream nodes queue for the writer in any order of their
// clocks.
func (t *tx) handoff(runID, name string, h *store.Handoff, now int64) (*run.Node, error) {
	var (
		attempt      int
		lastUpstream sql.NullInt64
	)
	err := t.queryRow(`SELECT n.attempt, (SELECT MAX(u.finished_at) FROM nodes u
			WHERE u.run_id = n.run_id AND u.name IN (SELECT value FROM json_each(n.upstream)))
		FROM nodes n WHERE n.run_id = ? AND n.name = ?`, runID, name).Scan(&attempt, &lastUpstream)
	if err != nil {
		return nil, err
	}
	if lastUpstream.Valid && lastUpstream.Int64 > now {
		now = lastUpstream.Int64
	}
	var raw rawNode
	err = raw.scan(t.queryRow(`UPDATE nodes SET state = 'running', lease = ?, lease_expires_at = ?,
		job_id = ?, started_at = ?, dispatched_at = ?
		WHERE run_id = ? AND name = ? AND state = 'ready'
		RETURNING `+nodeColumns, h.Lease, nanos(h.LeaseExpiresAt), run.JobID(runID, name, attempt), now, now,
		runID, name))
	if err != nil {
		return nil, err
	}
	return raw.node()
}

// propagate applies a terminal node's outcome downstream (see store.Store.NodePropagate).
func (t *tx) propagate(runID, name string, res *store.PropagateResult) error {
	var (
		state    run.NodeState
		down     string
		finished int64
	)
	// Marking the node propagated first is also the check that it was terminal and not
	// propagated yet.
	err := t.queryRow(`UPDATE nodes SET propagated = 1
			WHERE run_id = ? AND name = ? AND propagated = 0 AND state IN `+nodeTerminal+`
			RETURNING state, downstream, finished_at`, runID, name).Scan(&state, &down, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		return t.queryRow(`SELECT 1 FROM nodes WHERE run_id = ? AND name = ?`, runID, name).Scan(&one)
	}
	if err != nil {
		return err
	}
	return t.propagateFrom(runID, state, down, finished, res)
}

// propagateFrom applies the outcome of a node already marked propagated, given its state,
// downstream list (JSON) and finish time.
func (t *tx) propagateFrom(runID string, state run.NodeState, down string, finished int64, res *store.PropagateResult) error {
	var err error
	if state == run.NodeSucceeded {
		res.Ready, err = t.unlock(runID, down)
		if err != nil {
			return err
		}
	} else {
		// Skip level by level. Only nodes this call skips lead further: a node skipped
		// earlier had its own downstream skipped then.
		for frontier := down; frontier != "null" && frontier != "[]"; {
			rows, err := t.query(propagateSkip, finished, runID, frontier)
			if err != nil {
				return err
			}
			var next []string
			for rows.Next() {
				var skipped, more string
				if err := rows.Scan(&skipped, &more); err != nil {
					rows.Close()
					return err
				}
				res.Skipped = append(res.Skipped, skipped)
				var ds []string
				if err := json.Unmarshal([]byte(more), &ds); err != nil {
					rows.Close()
					return fmt.Errorf("error decoding the downstream of node %q: %w", skipped, err)
				}
				next = append(next, ds...)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			b, err := json.Marshal(next)
			if err != nil {
				return err
			}
			frontier = string(b)
		}
		sort.Strings(res.Skipped)
	}
	if len(res.Ready) > 0 {
		// A node just became ready: the run is not done.
		return nil
	}
	var unfinished int
	if err := t.queryRow(runUnfinished, runID).Scan(&unfinished); err != nil {
		return err
	}
	res.RunDone = unfinished == 0
	return nil
}

// unlock counts one more succeeded upstream for each pending node of down (a JSON list) and
// returns those that became ready, sorted. One primary-key UPDATE per downstream node costs
// less than one UPDATE over json_each: that form makes SQLite parse the list, build a temporary
// table for the IN list and another for RETURNING, and update in two passes.
func (t *tx) unlock(runID, down string) ([]string, error) {
	if down == "null" || down == "[]" {
		return nil, nil
	}
	var names []string
	if err := json.Unmarshal([]byte(down), &names); err != nil {
		return nil, fmt.Errorf("error decoding a downstream list: %w", err)
	}
	var ready []string
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if seen[name] {
			continue // json_each under IN counted a repeated name once; so does this
		}
		seen[name] = true
		var became bool
		err := t.queryRow(propagateUnlock, runID, name).Scan(&became)
		if errors.Is(err, sql.ErrNoRows) {
			continue // not pending any more (skipped, cancelled), or unlocked by a duplicate
		}
		if err != nil {
			return nil, err
		}
		if became {
			ready = append(ready, name)
		}
	}
	sort.Strings(ready)
	return ready, nil
}

// runUnfinished says whether a run has a node not yet propagated. Only runs that are over, read
// from the file, are asked: a live run counts its own.
const runUnfinished = `SELECT EXISTS (SELECT 1 FROM nodes WHERE run_id = ? AND propagated = 0)`

// NodesDispatch marks ready, undispatched nodes dispatched within the parallelism bounds. Every
// running run is live (live.go), so the answer comes from memory.
func (s *Store) NodesDispatch(ctx context.Context, p *store.NodesDispatchParams) ([]*run.Node, error) {
	if p.Now.IsZero() {
		return nil, errors.New("error dispatching nodes: Now is not set")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nodes, err := s.live.dispatch(p)
	if err != nil {
		return nil, fmt.Errorf("error dispatching nodes: %w", err)
	}
	return nodes, nil
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

// NodesStale finds the nodes and runs of running runs that the sweeper must repair, in memory:
// every running run is live.
func (s *Store) NodesStale(ctx context.Context, p *store.NodesStaleParams) (*store.StaleNodes, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.live.stale(p), nil
}
