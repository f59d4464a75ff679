package firestorestore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// Propagation changes the terminal node itself (it becomes propagated) and, on success, each
// pending downstream node (one more upstream counted, ready at zero), or, on failure, every
// pending node downstream, transitively (skipped). When that fits one commit it is one
// conditional commit (see Store.optimistically). When it does not (a fan-out of
// hundreds), it runs in steps that are each idempotent, and the node is marked propagated
// only by the last step, so a crash midway leaves it terminal and unpropagated: the sweeper
// finds it (StaleNodes.Unpropagated) and NodePropagate runs the steps again.
//
//   - Counting a success downstream records the upstream's name in the downstream node
//     (countedUpstream) in the same write that decrements PendingUpstream, so no node counts
//     one upstream twice, whichever call or step gets there.
//   - Skipping writes the skipped nodes sinks first (reverse topological order): when a node
//     is skipped, everything pending downstream of it is skipped already, so a walk that starts
//     again from the failed node and goes through pending nodes only still reaches every node
//     left to skip.

// readNodes reads the named nodes of a run; those that do not exist are left out.
func (s *Store) readNodes(ctx context.Context, runID string, names []string) (map[string]*nodeDoc, error) {
	out := make(map[string]*nodeDoc, len(names))
	for _, c := range chunks(len(names), maxWrites) {
		refs := make([]*firestore.DocumentRef, 0, c[1]-c[0])
		for _, name := range names[c[0]:c[1]] {
			refs = append(refs, s.nodeRef(runID, name))
		}
		snaps, err := s.client.GetAll(ctx, refs)
		if err != nil {
			return nil, err
		}
		for _, snap := range snaps {
			if !snap.Exists() {
				continue
			}
			d, err := decodeNode(snap)
			if err != nil {
				return nil, err
			}
			out[d.Name] = d
		}
	}
	return out, nil
}

// unique returns names without repeats, in their first order.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// countable reports whether d still waits for the success of upstream node up.
func countable(d *nodeDoc, up string) bool {
	return d.state() == run.NodePending && d.PendingUpstream > 0 && !d.counted(up)
}

// count counts the success of upstream node up in d and reports whether d became ready. It
// keeps the latest FinishedAt of the counted upstream nodes in the same write, so a handoff
// knows when the node's last upstream finished without reading them.
func count(d *nodeDoc, up *nodeDoc) bool {
	d.PendingUpstream--
	d.CountedUpstream = append(d.CountedUpstream, up.Name)
	if up.FinishedAt.After(d.UpstreamFinishedAt) {
		d.UpstreamFinishedAt = up.FinishedAt
	}
	if d.PendingUpstream == 0 {
		d.State, d.DispatchedAt = string(run.NodeReady), time.Time{}
		return true
	}
	return false
}

// handoff claims one node that a success made ready for the worker that finished its
// upstream node (store.Handoff): nil claims none.
type handoff struct {
	lease          string
	leaseExpiresAt time.Time
	now            time.Time
}

func handoffOf(p *store.NodeRecordOutcomeParams) *handoff {
	if p.Handoff == nil {
		return nil
	}
	return &handoff{lease: p.Handoff.Lease, leaseExpiresAt: p.Handoff.LeaseExpiresAt, now: p.Now}
}

// claim moves d, which the caller's count just made ready, to running under the handoff's lease,
// as NodesDispatch and NodeClaim together would; derive then clears todo and sets busy. No
// count is read: the finishing node stops being busy in the same commit.
//
// d is dispatched and started now, or when its last upstream node finished if that is later:
// two upstream nodes finishing together may commit in either order of their clocks (the one
// whose commit was retried commits last with the earlier reading), and a node must not start
// before an upstream node finished. count keeps that time in d, so it costs no read.
func (h *handoff) claim(runID string, d *nodeDoc) {
	start := h.now
	if d.UpstreamFinishedAt.After(start) {
		start = d.UpstreamFinishedAt
	}
	d.State, d.Lease, d.LeaseExpiresAt = string(run.NodeRunning), h.lease, h.leaseExpiresAt
	d.DispatchedAt, d.StartedAt, d.JobID = start, start, run.JobID(runID, d.Name, d.Attempt)
}

func skip(d *nodeDoc, at time.Time) {
	d.State, d.FinishedAt, d.Propagated = string(run.NodeSkipped), at, true
}

// planUnlock returns the downstream nodes of x that still wait for its success.
func (s *Store) planUnlock(ctx context.Context, runID string, x *nodeDoc, pre *prefetch) ([]*nodeDoc, error) {
	names := unique(x.Downstream)
	var docs map[string]*nodeDoc
	if pre != nil && slices.Equal(names, unique(pre.names)) {
		docs = pre.docs
	} else {
		var err error
		if docs, err = s.readNodes(ctx, runID, names); err != nil {
			return nil, err
		}
	}
	var out []*nodeDoc
	for _, name := range names {
		if d := docs[name]; d != nil && countable(d, x.Name) {
			out = append(out, d)
		}
	}
	return out, nil
}

// planSkip returns the pending nodes downstream of x, reached through pending nodes only, sinks
// first. A node that is skipped already is not walked through: its downstream was skipped
// before it (see above).
func (s *Store) planSkip(ctx context.Context, runID string, x *nodeDoc) ([]*nodeDoc, error) {
	seen := map[string]bool{x.Name: true}
	found := map[string]*nodeDoc{}
	var order []string
	var frontier []string
	for _, name := range x.Downstream {
		if !seen[name] {
			seen[name] = true
			frontier = append(frontier, name)
		}
	}
	for len(frontier) > 0 {
		docs, err := s.readNodes(ctx, runID, frontier)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, name := range frontier {
			d := docs[name]
			if d == nil || d.state() != run.NodePending {
				continue
			}
			found[name] = d
			order = append(order, name)
			for _, dn := range d.Downstream {
				if !seen[dn] {
					seen[dn] = true
					next = append(next, dn)
				}
			}
		}
		frontier = next
	}
	out := make([]*nodeDoc, 0, len(found))
	visited := make(map[string]bool, len(found))
	var visit func(name string)
	visit = func(name string) {
		if visited[name] {
			return
		}
		visited[name] = true
		d := found[name]
		for _, dn := range d.Downstream {
			if found[dn] != nil {
				visit(dn)
			}
		}
		out = append(out, d)
	}
	for _, name := range order {
		visit(name)
	}
	return out, nil
}

// runDone reports whether every node of the run is propagated, by looking for one that is not
// (reading its name only). It runs after the propagation committed, not inside its transaction:
// inside, it would lock the first unfinished nodes of the run against every other node's
// finish, and make all the finishes of a run contend. Outside, of several last nodes finishing
// together the one that commits last always sees the run done; others may see it too, which
// RunFinish's compare-and-set makes harmless, and the sweeper's Done list catches a lost one.
func (s *Store) runDone(ctx context.Context, runID string) (bool, error) {
	q := qRunNodesUnfinished.on(s.nodesOf(runID).Query, false).Select().Limit(1)
	refs, err := docRefs(q.Documents(ctx))
	if err != nil {
		return false, err
	}
	return len(refs) == 0, nil
}

// propagateWrites works out, from plain reads, the writes that apply the outcome of terminal
// node x (read already) and mark it propagated, and fills res but for RunDone (see runDone).
// With h, the first node by name that the success made ready is claimed in the same writes: it
// was read and is written by the propagation already, so the handoff costs no round trip and
// no write. It returns errTooBig if the writes would not fit one transaction.
// prefetch is downstream nodes read together with the node that finished, by the names its
// downstream list had when this process claimed it.
type prefetch struct {
	names []string
	docs  map[string]*nodeDoc
}

func (s *Store) propagateWrites(ctx context.Context, runID string, x *nodeDoc, h *handoff, res *store.PropagateResult, pre *prefetch) ([]casWrite, error) {
	var (
		changed []*nodeDoc
		claimed *nodeDoc
	)
	if x.state() == run.NodeSucceeded {
		down, err := s.planUnlock(ctx, runID, x, pre)
		if err != nil {
			return nil, err
		}
		if len(down)+1 > maxWrites {
			return nil, errTooBig
		}
		for _, d := range down {
			if !count(d, x) {
				continue
			}
			if h != nil && (claimed == nil || d.Name < claimed.Name) {
				claimed = d
			}
			res.Ready = append(res.Ready, d.Name)
		}
		if claimed != nil {
			h.claim(runID, claimed)
			res.Ready = slices.DeleteFunc(res.Ready, func(name string) bool { return name == claimed.Name })
		}
		changed = down
	} else {
		skipped, err := s.planSkip(ctx, runID, x)
		if err != nil {
			return nil, err
		}
		if len(skipped)+1 > maxWrites {
			return nil, errTooBig
		}
		for _, d := range skipped {
			skip(d, x.FinishedAt)
			res.Skipped = append(res.Skipped, d.Name)
		}
		changed = skipped
	}
	x.Propagated = true
	writes := make([]casWrite, 0, len(changed)+1)
	writes = append(writes, s.casNode(runID, x))
	for _, d := range changed {
		writes = append(writes, s.casNode(runID, d))
	}
	if claimed != nil {
		res.Claimed = claimed.node() // after casNode, which cut its times as stored
	}
	sort.Strings(res.Ready)
	sort.Strings(res.Skipped)
	return writes, nil
}

// NodePropagate applies a terminal, unpropagated node's outcome downstream, once: one
// optimistic commit of the node and its changed downstream nodes, or propagateInSteps when
// they do not fit one.
func (s *Store) NodePropagate(ctx context.Context, runID, name string) (*store.PropagateResult, error) {
	ref := s.nodeRef(runID, name)
	var (
		res        *store.PropagateResult
		propagated bool
	)
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		res, propagated = &store.PropagateResult{}, false
		snap, err := ref.Get(ctx)
		if err != nil {
			return nil, err
		}
		x, err := decodeNode(snap)
		if err != nil {
			return nil, err
		}
		if !x.state().Terminal() || x.Propagated {
			return nil, nil
		}
		propagated = true
		return s.propagateWrites(ctx, runID, x, nil, res, nil)
	})
	if errors.Is(err, errTooBig) {
		res, err = s.propagateInSteps(ctx, runID, name, nil)
	} else if err == nil && propagated && len(res.Ready) == 0 {
		res.RunDone, err = s.runDone(ctx, runID)
	}
	if err != nil {
		return nil, wrap(ctx, err, "error propagating node %q of run %q", name, runID)
	}
	return res, nil
}

// NodeFinish records an outcome and, when it is terminal, propagates it: in one optimistic
// commit when the propagation fits one, else the outcome first and then the steps of
// propagateInSteps. A handoff (p.Handoff) is claimed in the commit that makes its node ready:
// the single commit, or the step of propagateInSteps that counts the node.
func (s *Store) NodeFinish(ctx context.Context, p *store.NodeRecordOutcomeParams) (*run.Node, *store.PropagateResult, error) {
	if err := checkOutcome(p); err != nil {
		return nil, nil, err
	}
	if p.Handoff != nil && p.Handoff.Lease == "" {
		return nil, nil, fmt.Errorf("error finishing node %q of run %q: the handoff's lease is empty", p.Name, p.RunID)
	}
	h := handoffOf(p)
	ref := s.nodeRef(p.RunID, p.Name)
	var (
		out     *nodeDoc
		res     *store.PropagateResult
		inSteps bool
	)
	down, known := s.downstream.take(p.RunID, p.Name)
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		out, res, inSteps = nil, &store.PropagateResult{}, false
		var (
			n   *nodeDoc
			pre *prefetch
		)
		if known && p.State == run.NodeSucceeded && len(down)+1 < maxWrites {
			// The node and the nodes it may unlock, in one round trip.
			docs, err := s.readNodes(ctx, p.RunID, append([]string{p.Name}, down...))
			if err != nil {
				return nil, err
			}
			if n = docs[p.Name]; n == nil {
				return nil, notFound("the node")
			}
			pre = &prefetch{names: down, docs: docs}
		} else {
			snap, err := ref.Get(ctx)
			if err != nil {
				return nil, err
			}
			if n, err = decodeNode(snap); err != nil {
				return nil, err
			}
		}
		if err := recordOutcome(n, p); err != nil {
			return nil, err
		}
		out = n
		if n.state().Terminal() {
			writes, err := s.propagateWrites(ctx, p.RunID, n, h, res, pre)
			if !errors.Is(err, errTooBig) {
				return writes, err
			}
			inSteps, res = true, &store.PropagateResult{}
		}
		return []casWrite{s.casNode(p.RunID, n)}, nil
	})
	if err != nil {
		return nil, nil, wrap(ctx, err, "error finishing node %q of run %q", p.Name, p.RunID)
	}
	switch {
	case inSteps:
		if res, err = s.propagateInSteps(ctx, p.RunID, p.Name, h); err != nil {
			return nil, nil, wrap(ctx, err,
				"error finishing node %q of run %q: its outcome is recorded, propagating it failed (the sweeper will)",
				p.Name, p.RunID)
		}
		out.Propagated = true
	case out.Propagated && len(res.Ready) == 0 && res.Claimed == nil:
		if res.RunDone, err = s.runDone(ctx, p.RunID); err != nil {
			return nil, nil, wrap(ctx, err,
				"error finishing node %q of run %q: its outcome is propagated, checking whether the run is done failed",
				p.Name, p.RunID)
		}
	}
	if res.Claimed != nil {
		s.downstream.put(p.RunID, res.Claimed.Name, res.Claimed.Downstream)
	}
	return out.node(), res, nil
}

// propagateInSteps propagates a terminal node whose propagation does not fit one commit: the
// downstream changes in conditional commits of at most maxWrites nodes each, then the node
// itself is marked propagated, and RunDone is checked after that last commit.
//
// With h, the first node by name that this call makes ready is claimed in the step that makes
// it ready: the downstream nodes are counted in name order, so no later step can make an
// earlier name ready. The node goes from pending to running in one commit, never seen by a
// dispatcher in between, at no extra round trip. If a later step fails, NodeFinish returns the
// error and the caller never learns of the claim: the node stays running until its lease
// expires and the sweeper reclaims it, as after a worker's crash.
func (s *Store) propagateInSteps(ctx context.Context, runID, name string, h *handoff) (*store.PropagateResult, error) {
	ref := s.nodeRef(runID, name)
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, err
	}
	x, err := decodeNode(snap)
	if err != nil {
		return nil, err
	}
	res := &store.PropagateResult{}
	if !x.state().Terminal() || x.Propagated {
		return res, nil
	}
	if x.state() == run.NodeSucceeded {
		names := unique(x.Downstream)
		slices.Sort(names)
		for _, c := range chunks(len(names), maxWrites) {
			ready, claimed, err := s.countStep(ctx, runID, x, names[c[0]:c[1]], h)
			if err != nil {
				return nil, err
			}
			res.Ready = append(res.Ready, ready...)
			if claimed != nil {
				res.Claimed, h = claimed, nil
			}
		}
	} else {
		plan, err := s.planSkip(ctx, runID, x)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(plan))
		for _, d := range plan {
			names = append(names, d.Name)
		}
		for _, c := range chunks(len(names), maxWrites) {
			skipped, err := s.skipStep(ctx, runID, names[c[0]:c[1]], x.FinishedAt)
			if err != nil {
				return nil, err
			}
			res.Skipped = append(res.Skipped, skipped...)
		}
	}
	// The last step: the node itself. Another call may have finished the steps first; then it
	// is the one that says whether the run is done.
	var marked bool
	err = s.optimistically(ctx, func() ([]casWrite, error) {
		marked = false
		snap, err := ref.Get(ctx)
		if err != nil {
			return nil, err
		}
		x, err := decodeNode(snap)
		if err != nil {
			return nil, err
		}
		if x.Propagated {
			return nil, nil
		}
		marked, x.Propagated = true, true
		return []casWrite{s.casNode(runID, x)}, nil
	})
	if err == nil && marked && len(res.Ready) == 0 && res.Claimed == nil {
		res.RunDone, err = s.runDone(ctx, runID)
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(res.Ready)
	sort.Strings(res.Skipped)
	return res, nil
}

// countStep counts the success of upstream node up (read already) in the named nodes (sorted)
// that still wait for it, in one commit, and returns those that became ready. With h, the first
// of them is claimed in that commit and returned as claimed instead.
func (s *Store) countStep(ctx context.Context, runID string, up *nodeDoc, names []string, h *handoff) ([]string, *run.Node, error) {
	var (
		ready   []string
		claimed *run.Node
	)
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		ready, claimed = nil, nil
		docs, err := s.readNodes(ctx, runID, names)
		if err != nil {
			return nil, err
		}
		var writes []casWrite
		for _, name := range names {
			d := docs[name]
			if d == nil || !countable(d, up.Name) {
				continue
			}
			became := count(d, up)
			if became && h != nil && claimed == nil {
				h.claim(runID, d)
			}
			writes = append(writes, s.casNode(runID, d))
			switch {
			case !became:
			case d.state() == run.NodeRunning:
				claimed = d.node()
			default:
				ready = append(ready, d.Name)
			}
		}
		return writes, nil
	})
	return ready, claimed, err
}

// skipStep skips those of the named nodes that are still pending, in one commit, and returns
// them.
func (s *Store) skipStep(ctx context.Context, runID string, names []string, at time.Time) ([]string, error) {
	var skipped []string
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		skipped = nil
		docs, err := s.readNodes(ctx, runID, names)
		if err != nil {
			return nil, err
		}
		var writes []casWrite
		for _, name := range names {
			d := docs[name]
			if d == nil || d.state() != run.NodePending {
				continue // skipped or cancelled meanwhile
			}
			skip(d, at)
			skipped = append(skipped, d.Name)
			writes = append(writes, s.casNode(runID, d))
		}
		return writes, nil
	})
	return skipped, err
}
