package sqlitestore

import (
	"container/heap"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// Runs that are running live in memory.
//
// Every move of a running run's nodes — claim, heartbeat, outcome, propagation, dispatch —
// happens in memory, as a compare-and-set under one mutex, and is written to SQLite behind the
// move (see flush.go): the writer commits whatever changed since its last commit in one
// transaction, each changed node once, however many moves it went through meanwhile. Through
// SQLite a node cost about six statements of the one writer, about 200 µs, which bounded a
// whole process to a few thousand nodes a second; in memory a move costs microseconds.
//
// What a crash can lose is the last moves not yet written, never a consistent state: the
// changes are committed in the order they were made, so the file always holds a state the
// store really was in. A move lost that way is redone after the restart, and job ids, derived
// from run, node and attempt, make that safe: a node that had succeeded attaches to the job it
// ran. Who must not act before a move is durable — the worker before it reports an outcome,
// RunFinish before its caller tells anyone — waits for it with Sync.
//
// A run stays live from RunCreate (or from Open, for a run the file says is running) until it
// is over, its last changes are written, and none of its nodes is busy; it is then read from
// SQLite like any finished run. Its moves have the same semantics in memory and in SQL (the
// conformance suite runs through both), so when a run leaves memory changes nothing for a
// caller. Only one process may hold the file (see lockFile): a second would not see the first
// one's memory.

// liveNode is a node of a live run: its current state and the bookkeeping around it.
type liveNode struct {
	run.Node
	r *liveRun
	// up and down are the nodes named by Upstream and Downstream, in the same order (nil for
	// a name the run does not have), so that a move follows pointers instead of names.
	up, down []*liveNode
	// inTodo: the node is in r.todo (it may have stopped being a candidate since: entries are
	// dropped when popped).
	inTodo bool
	// dirty: changed since the writer last took it.
	dirty bool
	// readySeq orders candidates equally deep: the change count when the node last became one.
	readySeq uint64
}

// liveRun is a run that is running, or finished and not yet written.
type liveRun struct {
	run.Run
	nodes map[string]*liveNode
	// byName lists the nodes sorted by name.
	byName []*liveNode
	// todo holds the dispatch candidates (ready, undispatched), in dispatch order.
	todo todoHeap
	// busy counts nodes running or dispatched-ready; unpropagated those not yet propagated.
	busy         int
	unpropagated int
	// dirtyNodes counts nodes of this run waiting for the writer; dirty is the run row's flag.
	dirtyNodes int
	dirty      bool
	// seq is the sequence number of the run's next journal entry; journalled counts the node
	// records its journal holds, to know when a checkpoint pays (see take).
	seq        int64
	journalled int
	// scratch holds the copies of changed nodes the live writer takes (see take); taking
	// marks the run while it does.
	scratch []run.Node
	taking  bool
}

// live holds the live runs and what of them waits to be written.
type live struct {
	mu   sync.Mutex
	runs map[string]*liveRun
	// order lists the live runs oldest first (CreatedAt, then id), the order of dispatch.
	order []*liveRun
	// busy counts the busy nodes of every live run (the global limit's count).
	busy int

	// Changes waiting for the writer.
	dirtyNodes []*liveNode
	dirtyRuns  []*liveRun
	// changes counts the changes made so far, written how many of them are in the file. A
	// change is counted when it is made, and the writer takes changes in that order.
	changes, written uint64
	// writeErr is the last write's error, until a write succeeds.
	writeErr error
	// wrote is closed, and replaced, whenever written moves or a write fails.
	wrote chan struct{}
	// wake tells the writer that something changed.
	wake chan struct{}
	// closed: the store is closing; moves are refused, so that the last write holds them all.
	closed bool
}

func newLive() *live {
	return &live{runs: map[string]*liveRun{}, wrote: make(chan struct{}), wake: make(chan struct{}, 1)}
}

// busyNode: the node counts against parallelism (running, or published and not yet claimed).
func busyNode(n *run.Node) bool {
	return n.State == run.NodeRunning || (n.State == run.NodeReady && !n.DispatchedAt.IsZero())
}

// candidate: the node waits to be dispatched.
func candidate(n *run.Node) bool { return n.State == run.NodeReady && n.DispatchedAt.IsZero() }

func delta(before, after bool) int {
	switch {
	case before == after:
		return 0
	case after:
		return 1
	}
	return -1
}

// edit changes a node and keeps the counts, the candidates and the dirty list right. Callers
// hold l.mu.
func (l *live) edit(ln *liveNode, change func(n *run.Node)) {
	wasBusy, wasUnpropagated := busyNode(&ln.Node), !ln.Propagated
	change(&ln.Node)
	d := delta(wasBusy, busyNode(&ln.Node))
	ln.r.busy += d
	l.busy += d
	ln.r.unpropagated += delta(wasUnpropagated, !ln.Propagated)
	if !ln.inTodo && candidate(&ln.Node) {
		ln.inTodo = true
		ln.readySeq = l.changes
		heap.Push(&ln.r.todo, ln)
	}
	if !ln.dirty {
		ln.dirty = true
		ln.r.dirtyNodes++
		l.dirtyNodes = append(l.dirtyNodes, ln)
	}
	l.changes++
}

// editRun changes a run's row. Callers hold l.mu.
func (l *live) editRun(lr *liveRun, change func(r *run.Run)) {
	change(&lr.Run)
	if !lr.dirty {
		lr.dirty = true
		l.dirtyRuns = append(l.dirtyRuns, lr)
	}
	l.changes++
}

// kick tells the writer there is something to write.
func (l *live) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// norm is what a time becomes once stored: UTC, nanoseconds, no monotonic reading; the zero
// time stays zero. Live runs keep times that way so that a node reads the same before and
// after it is written.
func norm(t time.Time) time.Time { return fromNanos(nanos(t)) }

func normNode(n *run.Node) {
	n.NotBefore, n.DispatchedAt, n.LeaseExpiresAt = norm(n.NotBefore), norm(n.DispatchedAt), norm(n.LeaseExpiresAt)
	n.StartedAt, n.FinishedAt = norm(n.StartedAt), norm(n.FinishedAt)
}

// copyNode returns a copy of a node for a caller. Its Upstream and Downstream lists are the
// live node's, which never change after the run is created (nobody writes into them; they are
// capped, so an append copies): copying them on every move cost more than the move.
func copyNode(ln *liveNode) *run.Node {
	n := ln.Node
	n.Upstream, n.Downstream = capped(n.Upstream), capped(n.Downstream)
	return &n
}

func capped(s []string) []string {
	if s == nil {
		return nil
	}
	return s[:len(s):len(s)]
}

func copyRun(lr *liveRun) *run.Run {
	r := lr.Run
	r.Counts = maps.Clone(r.Counts)
	return &r
}

// add makes a run live, with its nodes as created or replayed, and the sequence number of its
// next journal entry. Callers hold l.mu.
func (l *live) add(r *run.Run, nodes []*run.Node, seq int64, journalled int) {
	lr := &liveRun{Run: *r, nodes: make(map[string]*liveNode, len(nodes)), seq: seq, journalled: journalled}
	lr.Counts = maps.Clone(r.Counts)
	lr.CreatedAt, lr.FinishedAt = norm(lr.CreatedAt), norm(lr.FinishedAt)
	for _, n := range nodes {
		ln := &liveNode{Node: *n, r: lr}
		ln.RunID = r.ID
		ln.Upstream, ln.Downstream = slices.Clone(n.Upstream), slices.Clone(n.Downstream)
		normNode(&ln.Node)
		lr.nodes[n.Name] = ln
		lr.byName = append(lr.byName, ln)
		if busyNode(&ln.Node) {
			lr.busy++
		}
		if !ln.Propagated {
			lr.unpropagated++
		}
		if candidate(&ln.Node) {
			ln.inTodo = true
			lr.todo = append(lr.todo, ln)
		}
	}
	sort.Slice(lr.byName, func(i, j int) bool { return lr.byName[i].Name < lr.byName[j].Name })
	for _, ln := range lr.byName {
		ln.up, ln.down = lr.resolve(ln.Upstream), lr.resolve(ln.Downstream)
	}
	heap.Init(&lr.todo)
	l.busy += lr.busy
	l.runs[r.ID] = lr
	i := sort.Search(len(l.order), func(i int) bool { return runsBefore(lr, l.order[i]) })
	l.order = slices.Insert(l.order, i, lr)
}

// values copies the run's nodes, by name. Callers hold l.mu.
func (lr *liveRun) values() []run.Node {
	out := make([]run.Node, len(lr.byName))
	for i, ln := range lr.byName {
		out[i] = ln.Node
	}
	return out
}

// resolve returns the nodes of lr that names name, nil for those it lacks.
func (lr *liveRun) resolve(names []string) []*liveNode {
	out := make([]*liveNode, len(names))
	for i, name := range names {
		out[i] = lr.nodes[name]
	}
	return out
}

func runsBefore(a, b *liveRun) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// compactable lists the runs that are over, written, hold no busy node and are not being
// compacted: their nodes can go to the nodes table and the runs leave memory (see compact).
// Callers hold l.mu.
func (l *live) compactable() []*liveRun {
	var out []*liveRun
	for _, lr := range l.order {
		if lr.State != run.RunRunning && !lr.dirty && lr.dirtyNodes == 0 && lr.busy == 0 {
			out = append(out, lr)
		}
	}
	return out
}

// evict drops a compacted run, unless it changed since its nodes were copied (it is then
// journalled again, and compacted again later). Callers hold l.mu.
func (l *live) evict(lr *liveRun) {
	if lr.dirty || lr.dirtyNodes > 0 || lr.busy > 0 {
		return
	}
	delete(l.runs, lr.ID)
	l.order = slices.DeleteFunc(l.order, func(o *liveRun) bool { return o == lr })
}

// node finds a node of a live run. ok is false when the run is not live; ln is nil when the run
// is live but has no such node.
func (l *live) node(runID, name string) (lr *liveRun, ln *liveNode, ok bool) {
	lr, ok = l.runs[runID]
	if !ok {
		return nil, nil, false
	}
	return lr, lr.nodes[name], true
}

// conflict is the error of a compare-and-set that lost, worded as the SQL path words it.
func conflict(why string) error { return fmt.Errorf("%s: %w", why, store.ErrConflict) }

// todoHeap orders dispatch candidates deepest first (as store.DispatchesBefore), and among
// equally deep ones the one that became ready last first, then by name: a run carries on
// with the lineage that just moved, as deepest-first means it to, and in the scheduler benchmark
// this cuts the hop p99 by about a fifth against taking them by name. Nodes that were ready
// together (a run's first nodes) still go by name.
type todoHeap []*liveNode

func (h todoHeap) Len() int { return len(h) }
func (h todoHeap) Less(i, j int) bool {
	if h[i].Depth != h[j].Depth {
		return h[i].Depth > h[j].Depth
	}
	if h[i].readySeq != h[j].readySeq {
		return h[i].readySeq > h[j].readySeq
	}
	return h[i].Name < h[j].Name
}
func (h todoHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *todoHeap) Push(x any)   { *h = append(*h, x.(*liveNode)) }
func (h *todoHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return n
}

// pick takes up to limit (-1: any number) of a run's candidates whose NotBefore has passed, in
// dispatch order. Callers hold l.mu and mark them dispatched.
func (lr *liveRun) pick(now time.Time, limit int) []*liveNode {
	var out, later []*liveNode
	for lr.todo.Len() > 0 && (limit < 0 || len(out) < limit) {
		ln := heap.Pop(&lr.todo).(*liveNode)
		ln.inTodo = false
		if !candidate(&ln.Node) {
			continue // it moved on since it was pushed
		}
		if ln.NotBefore.After(now) {
			later = append(later, ln)
			continue
		}
		out = append(out, ln)
	}
	for _, ln := range later {
		ln.inTodo = true
		heap.Push(&lr.todo, ln)
	}
	return out
}

// The moves. Each returns ok false when the run is not live (the caller goes to SQL), and
// otherwise its result with an error worded as the SQL path's (not yet wrapped).

func (l *live) claim(p *store.NodeClaimParams) (n *run.Node, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, true, errClosed
	}
	lr, ln, ok := l.node(p.RunID, p.Name)
	switch {
	case !ok:
		return nil, false, nil
	case ln == nil:
		return nil, true, store.ErrNotFound
	case ln.State != run.NodeReady || ln.Attempt != p.Attempt || lr.State != run.RunRunning:
		return nil, true, conflict(fmt.Sprintf("it is not ready with attempt %d in a running run", p.Attempt))
	}
	l.edit(ln, func(n *run.Node) {
		n.State, n.Lease, n.LeaseExpiresAt = run.NodeRunning, p.Lease, norm(p.LeaseExpiresAt)
		n.JobID, n.StartedAt = p.JobID, norm(p.Now)
	})
	l.kick()
	return copyNode(ln), true, nil
}

// leaseHolder finds a node running attempt under lease.
func (l *live) leaseHolder(runID, name string, attempt int, lease, why string) (*liveNode, bool, error) {
	_, ln, ok := l.node(runID, name)
	switch {
	case !ok:
		return nil, false, nil
	case ln == nil:
		return nil, true, store.ErrNotFound
	case ln.State != run.NodeRunning || ln.Attempt != attempt || ln.Lease != lease:
		return nil, true, conflict(why)
	}
	return ln, true, nil
}

// moveHeld applies change to a node running attempt under lease (a heartbeat, a reclaim).
func (l *live) moveHeld(runID, name string, attempt int, lease string, change func(n *run.Node)) (ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true, errClosed
	}
	ln, ok, err := l.leaseHolder(runID, name, attempt, lease, "it is no longer running under this lease")
	if ln == nil {
		return ok, err
	}
	l.edit(ln, change)
	l.kick()
	return true, nil
}

func (l *live) heartbeat(p *store.NodeHeartbeatParams) (ok bool, err error) {
	return l.moveHeld(p.RunID, p.Name, p.Attempt, p.Lease, func(n *run.Node) { n.LeaseExpiresAt = norm(p.LeaseExpiresAt) })
}

func (l *live) reclaim(p *store.NodeReclaimParams) (ok bool, err error) {
	return l.moveHeld(p.RunID, p.Name, p.Attempt, p.Lease, func(n *run.Node) {
		n.State, n.Lease, n.LeaseExpiresAt, n.DispatchedAt = run.NodeReady, "", time.Time{}, time.Time{}
	})
}

func (l *live) redispatch(p *store.NodeRedispatchParams) (ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true, errClosed
	}
	_, ln, ok := l.node(p.RunID, p.Name)
	switch {
	case !ok:
		return false, nil
	case ln == nil:
		return true, store.ErrNotFound
	case ln.State != run.NodeReady || ln.Attempt != p.Attempt || nanos(ln.DispatchedAt) != nanos(p.DispatchedAt):
		return true, conflict("it is no longer ready with this attempt and dispatch time")
	}
	l.edit(ln, func(n *run.Node) { n.DispatchedAt = norm(p.Now) })
	l.kick()
	return true, nil
}

// outcome records how a running attempt ended (see outcomeQuery); with propagate and a
// terminal outcome it also applies it downstream, and with p.Handoff claims a node it unlocked.
func (l *live) outcome(p *store.NodeRecordOutcomeParams, propagate bool) (n *run.Node, res *store.PropagateResult, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, nil, true, errClosed
	}
	ln, ok, err := l.leaseHolder(p.RunID, p.Name, p.Attempt, p.Lease,
		fmt.Sprintf("it is no longer running attempt %d under this lease", p.Attempt))
	if ln == nil {
		return nil, nil, ok, err
	}
	now := norm(p.Now)
	l.edit(ln, func(n *run.Node) {
		n.Stats.BytesProcessed += p.Stats.BytesProcessed
		n.Stats.BytesBilled += p.Stats.BytesBilled
		n.Stats.SlotMillis += p.Stats.SlotMillis
		n.Stats.Rows += p.Stats.Rows
		n.Stats.CacheHit = p.Stats.CacheHit
		n.Stats.DurationMillis += p.Stats.DurationMillis
		n.Error, n.Lease, n.LeaseExpiresAt = p.Error, "", time.Time{}
		if p.State == run.NodeReady {
			n.State, n.Attempt, n.NotBefore, n.DispatchedAt = run.NodeReady, n.Attempt+1, norm(p.NotBefore), time.Time{}
			return
		}
		n.State, n.FinishedAt = p.State, now
		if propagate {
			n.Propagated = true
		}
	})
	res = &store.PropagateResult{}
	if propagate && ln.State.Terminal() {
		l.propagateFrom(ln, res)
		if p.Handoff != nil && len(res.Ready) > 0 {
			res.Claimed = l.handoff(ln.r.nodes[res.Ready[0]], p.Handoff, now)
			res.Ready = res.Ready[1:]
		}
	}
	l.kick()
	return copyNode(ln), res, true, nil
}

// handoff claims a node that just became ready for the finishing node's worker (see
// store.Handoff): it starts at now, or when its last upstream node finished if that is later.
func (l *live) handoff(ln *liveNode, h *store.Handoff, now time.Time) *run.Node {
	start := now
	for _, un := range ln.up {
		if un != nil && un.FinishedAt.After(start) {
			start = un.FinishedAt
		}
	}
	l.edit(ln, func(n *run.Node) {
		n.State, n.Lease, n.LeaseExpiresAt = run.NodeRunning, h.Lease, norm(h.LeaseExpiresAt)
		n.JobID, n.StartedAt, n.DispatchedAt = run.JobID(n.RunID, n.Name, n.Attempt), start, start
	})
	return copyNode(ln)
}

func (l *live) propagate(runID, name string) (res *store.PropagateResult, ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, true, errClosed
	}
	_, ln, ok := l.node(runID, name)
	switch {
	case !ok:
		return nil, false, nil
	case ln == nil:
		return nil, true, store.ErrNotFound
	}
	res = &store.PropagateResult{}
	if ln.Propagated || !ln.State.Terminal() {
		return res, true, nil
	}
	l.edit(ln, func(n *run.Node) { n.Propagated = true })
	l.propagateFrom(ln, res)
	l.kick()
	return res, true, nil
}

// propagateFrom applies the outcome of a terminal node already marked propagated (see
// store.Store.NodePropagate). Callers hold l.mu.
func (l *live) propagateFrom(from *liveNode, res *store.PropagateResult) {
	if from.State == run.NodeSucceeded {
		for i, d := range from.down {
			if d == nil || d.State != run.NodePending || d.PendingUpstream <= 0 || slices.Contains(from.down[:i], d) {
				continue
			}
			l.edit(d, func(n *run.Node) {
				n.PendingUpstream--
				if n.PendingUpstream == 0 {
					n.State, n.DispatchedAt = run.NodeReady, time.Time{}
				}
			})
			if d.State == run.NodeReady {
				res.Ready = append(res.Ready, d.Name)
			}
		}
		sort.Strings(res.Ready)
	} else {
		// Only nodes this call skips lead further: a node skipped earlier had its own
		// downstream skipped then.
		for frontier := from.down; len(frontier) > 0; {
			var next []*liveNode
			for _, d := range frontier {
				if d == nil || d.State != run.NodePending {
					continue
				}
				l.edit(d, func(n *run.Node) { n.State, n.FinishedAt, n.Propagated = run.NodeSkipped, from.FinishedAt, true })
				res.Skipped = append(res.Skipped, d.Name)
				next = append(next, d.down...)
			}
			frontier = next
		}
		sort.Strings(res.Skipped)
	}
	res.RunDone = len(res.Ready) == 0 && from.r.unpropagated == 0
}

// dispatch is NodesDispatch over the live runs, which are all the running ones.
func (l *live) dispatch(p *store.NodesDispatchParams) ([]*run.Node, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errClosed
	}
	now := norm(p.Now)
	global, remaining := -1, -1
	if p.GlobalLimit > 0 {
		global = max(p.GlobalLimit-l.busy, 0)
	}
	if p.Max > 0 {
		remaining = p.Max
	}
	var out []*run.Node
	for _, lr := range l.order {
		if global == 0 || remaining == 0 {
			break
		}
		if lr.State != run.RunRunning {
			continue
		}
		limit := bound(global, remaining)
		if lr.MaxParallel > 0 {
			if lr.busy >= lr.MaxParallel {
				continue
			}
			limit = bound(limit, lr.MaxParallel-lr.busy)
		}
		picked := lr.pick(now, limit)
		for _, ln := range picked {
			l.edit(ln, func(n *run.Node) { n.DispatchedAt = now })
			out = append(out, copyNode(ln))
		}
		if global > 0 {
			global -= len(picked)
		}
		if remaining > 0 {
			remaining -= len(picked)
		}
	}
	if len(out) > 0 {
		l.kick()
	}
	return out, nil
}

// stale is NodesStale over the live runs.
func (l *live) stale(p *store.NodesStaleParams) *store.StaleNodes {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out store.StaleNodes
	type found struct {
		at time.Time
		n  *liveNode
	}
	var expired, undelivered, unpropagated []found
	for _, lr := range l.order {
		if lr.State != run.RunRunning {
			continue
		}
		if lr.unpropagated == 0 {
			out.Done = append(out.Done, lr.ID)
		}
		if lr.busy == 0 && lr.unpropagated == 0 {
			continue
		}
		for _, ln := range lr.byName {
			switch {
			case ln.State == run.NodeRunning && ln.LeaseExpiresAt.Before(p.Now):
				expired = append(expired, found{ln.LeaseExpiresAt, ln})
			case ln.State == run.NodeReady && !ln.DispatchedAt.IsZero() && ln.DispatchedAt.Before(p.DispatchedBefore):
				undelivered = append(undelivered, found{ln.DispatchedAt, ln})
			case ln.State.Terminal() && !ln.Propagated && ln.FinishedAt.Before(p.FinishedBefore):
				unpropagated = append(unpropagated, found{ln.FinishedAt, ln})
			}
		}
	}
	take := func(fs []found) []*run.Node {
		sort.Slice(fs, func(i, j int) bool {
			a, b := fs[i], fs[j]
			if !a.at.Equal(b.at) {
				return a.at.Before(b.at)
			}
			if a.n.RunID != b.n.RunID {
				return a.n.RunID < b.n.RunID
			}
			return a.n.Name < b.n.Name
		})
		var nodes []*run.Node
		for _, f := range fs[:min(len(fs), limit)] {
			nodes = append(nodes, copyNode(f.n))
		}
		return nodes
	}
	out.ExpiredLeases, out.Undelivered, out.Unpropagated = take(expired), take(undelivered), take(unpropagated)
	out.Done = out.Done[:min(len(out.Done), limit)]
	return &out
}

func (l *live) getRun(id string) (*run.Run, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lr, ok := l.runs[id]
	if !ok {
		return nil, false
	}
	return copyRun(lr), true
}

func (l *live) getNode(runID, name string) (*run.Node, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ln, ok := l.node(runID, name)
	switch {
	case !ok:
		return nil, false, nil
	case ln == nil:
		return nil, true, store.ErrNotFound
	}
	return copyNode(ln), true, nil
}

func (l *live) listNodes(runID string) ([]*run.Node, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lr, ok := l.runs[runID]
	if !ok {
		return nil, false
	}
	// One allocation for the copies: a 10,000-node run is read while the lock holds every move.
	copies := lr.values()
	out := make([]*run.Node, len(copies))
	for i := range copies {
		copies[i].Upstream, copies[i].Downstream = capped(copies[i].Upstream), capped(copies[i].Downstream)
		out[i] = &copies[i]
	}
	return out, true
}

// finish moves a live running run to its final state (see store.Store.RunFinish).
func (l *live) finish(p *store.RunFinishParams) (ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true, errClosed
	}
	lr, ok := l.runs[p.ID]
	if !ok {
		return false, nil
	}
	if lr.State != run.RunRunning {
		return true, conflict("the run is not running")
	}
	l.editRun(lr, func(r *run.Run) {
		r.State, r.FinishedAt, r.Stats, r.Counts = p.State, norm(p.FinishedAt), p.Stats, maps.Clone(p.Counts)
		// What the SQL path stores is what it reads back: JSON drops nothing else.
	})
	l.kick()
	return true, nil
}

// cancel cancels a live running run and its unfinished nodes (see store.Store.RunCancel).
func (l *live) cancel(id string, at time.Time) (ok bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return true, errClosed
	}
	lr, ok := l.runs[id]
	if !ok {
		return false, nil
	}
	if lr.State != run.RunRunning {
		return true, conflict("the run is not running")
	}
	at = norm(at)
	l.editRun(lr, func(r *run.Run) { r.State, r.FinishedAt = run.RunCancelled, at })
	for _, ln := range lr.byName {
		switch ln.State {
		case run.NodePending, run.NodeReady, run.NodeRunning:
			l.edit(ln, func(n *run.Node) {
				n.State, n.FinishedAt, n.Lease, n.LeaseExpiresAt, n.Propagated = run.NodeCancelled, at, "", time.Time{}, true
			})
		}
	}
	l.kick()
	return true, nil
}

// overlay replaces the runs of a listing that are live with their live state, and drops those
// that no longer match state (empty: any).
func (l *live) overlay(runs []*run.Run, state run.RunState) []*run.Run {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := runs[:0]
	for _, r := range runs {
		if lr, ok := l.runs[r.ID]; ok {
			r = copyRun(lr)
		}
		if state == "" || r.State == state {
			out = append(out, r)
		}
	}
	return out
}
