// Package scheduler turns due schedules and user requests into runs, consumes completion events
// to unlock downstream nodes, finishes runs, and sweeps up after lost messages and dead workers.
//
// It owns the desired state of runs: which nodes exist, which are ready, when a run is over.
// Workers own the actual state of one attempt (claim, outcome). Every handler re-reads the store
// and moves state by compare-and-set, so duplicated, late and reordered messages change nothing.
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/schedule"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// Graph is the dependency graph of the stored tables, keyed by table name ("dataset.table").
type Graph interface {
	// Upstream returns the tables a table waits for.
	Upstream(name string) []string
	// Downstream returns the tables that wait for a table.
	Downstream(name string) []string
}

// GraphFunc builds the current graph from the stored definitions.
type GraphFunc func(ctx context.Context, tables []spec.Table) (Graph, error)

// Notifier hears about finished runs and failed nodes. Slack and webhooks implement it later;
// until then the log does.
type Notifier interface {
	RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node)
}

// StartNotifier is a Notifier that is also told when a run starts (a schedule's, a manual one, or
// a resume), after it is saved.
type StartNotifier interface {
	RunStarted(ctx context.Context, r *run.Run)
}

// FailureNotifier is a Notifier that is also told about each failed node as soon as its
// completion arrives, rather than when its run finishes. The same failure may be told more than
// once (completions are at least once, and RunFinished lists it again): implementations dedupe.
type FailureNotifier interface {
	NodeFailed(ctx context.Context, r *run.Run, n *run.Node)
}

// Config configures a Scheduler.
type Config struct {
	// GlobalLimit bounds nodes running (or dispatched) at once across all runs. 0: no bound.
	GlobalLimit int
	// DefaultRetries applies to tables that set none. Defaults to 0.
	DefaultRetries int
	// UndeliveredAfter: a dispatched node not claimed within this is published again. Defaults to 30s.
	UndeliveredAfter time.Duration
	// UnpropagatedAfter: a finished node not propagated within this lost its completion message.
	// Defaults to 10s.
	UnpropagatedAfter time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Scheduler is the scheduler. It holds no run state of its own; any number may run at once.
type Scheduler struct {
	store  store.Store
	tasks  queue.Topic
	graph  GraphFunc
	notify Notifier
	log    *zap.Logger
	cfg    Config
	// kick asks the dispatch loop for a pass; many completions coalesce into one pass.
	kick chan struct{}
}

// New returns a Scheduler publishing tasks to tasks.
func New(st store.Store, tasks queue.Topic, graph GraphFunc, notify Notifier, log *zap.Logger, cfg Config) *Scheduler {
	if cfg.UndeliveredAfter == 0 {
		cfg.UndeliveredAfter = 30 * time.Second
	}
	if cfg.UnpropagatedAfter == 0 {
		cfg.UnpropagatedAfter = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{store: st, tasks: tasks, graph: graph, notify: notify, log: log, cfg: cfg, kick: make(chan struct{}, 1)}
}

// ErrNothingToRun means a run request selected no table.
var ErrNothingToRun = errors.New("nothing to run")

// StartParams says what a run contains. Exactly one of Schedule or Tables is set.
type StartParams struct {
	// Schedule runs every table of the schedule whose conditions allow At.
	Schedule string
	// Tables runs these tables, and with WithDownstream everything downstream of them.
	Tables         []string
	WithDownstream bool
	// At is the schedule's fire time (conditions are checked against it in the schedule's zone).
	At      time.Time
	Trigger run.Trigger
	User    string
	// ID, when set, is the run's id instead of a fresh one. A caller that derives it from a
	// request's idempotency key gets one run however often the request is retried: the store
	// creates a run id once (ErrConflict after).
	ID string
}

// Start assembles a run from the current graph, stores it with all its nodes, and dispatches
// the nodes that wait for nothing.
func (s *Scheduler) Start(ctx context.Context, p StartParams) (*run.Run, error) {
	records, err := s.store.TableList(ctx)
	if err != nil {
		return nil, fmt.Errorf("error listing tables: %w", err)
	}
	tables := make([]spec.Table, 0, len(records))
	byName := make(map[string]spec.Table, len(records))
	for _, rec := range records {
		tables = append(tables, rec.Table)
		byName[rec.Table.Name] = rec.Table
	}
	g, err := s.graph(ctx, tables)
	if err != nil {
		return nil, fmt.Errorf("error building the graph: %w", err)
	}

	selected := map[string]bool{}
	maxParallel := 0
	switch {
	case p.Schedule != "":
		sched, err := s.schedule(ctx, p.Schedule)
		if err != nil {
			return nil, err
		}
		maxParallel = sched.MaxParallel
		at := p.At
		if at.IsZero() {
			at = s.cfg.Now()
		}
		in, err := schedule.TablesFor(tables, schedule.Fire{Schedule: sched, At: at})
		if err != nil {
			return nil, fmt.Errorf("error selecting the tables of schedule %q: %w", sched.Name, err)
		}
		for _, t := range in {
			selected[t.Name] = true
		}
	default:
		for _, name := range p.Tables {
			if _, ok := byName[name]; !ok {
				return nil, fmt.Errorf("error starting a run: %w: table %q", store.ErrNotFound, name)
			}
			selected[name] = true
		}
		if p.WithDownstream {
			frontier := slices.Clone(p.Tables)
			for len(frontier) > 0 {
				n := frontier[0]
				frontier = frontier[1:]
				for _, d := range g.Downstream(n) {
					if _, known := byName[d]; known && !selected[d] {
						selected[d] = true
						frontier = append(frontier, d)
					}
				}
			}
		}
	}
	if len(selected) == 0 {
		return nil, ErrNothingToRun
	}

	now := s.cfg.Now()
	id := p.ID
	if id == "" {
		id = NewRunID(now)
	}
	r := &run.Run{
		ID:          id,
		Schedule:    p.Schedule,
		Trigger:     p.Trigger,
		State:       run.RunRunning,
		MaxParallel: maxParallel,
		CreatedBy:   p.User,
		CreatedAt:   now,
	}
	nodes := make([]*run.Node, 0, len(selected))
	downstream := map[string][]string{}
	for name := range selected {
		for _, u := range g.Upstream(name) {
			if selected[u] && u != name {
				downstream[u] = append(downstream[u], name)
			}
		}
	}
	for name := range selected {
		var up []string
		for _, u := range g.Upstream(name) {
			if selected[u] && u != name {
				up = append(up, u)
			}
		}
		sort.Strings(up)
		down := downstream[name]
		sort.Strings(down)
		nodes = append(nodes, s.newNode(r.ID, byName[name], up, down))
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	setDepths(nodes)
	if err := s.store.RunCreate(ctx, r, nodes); err != nil {
		return nil, fmt.Errorf("error creating run %q: %w", r.ID, err)
	}
	s.log.Info("run started", zap.String("run_id", r.ID), zap.String("schedule", r.Schedule),
		zap.String("trigger", string(r.Trigger)), zap.Int("nodes", len(nodes)))
	s.runStarted(ctx, r)
	if err := s.Dispatch(ctx); err != nil {
		// The sweeper dispatches later; the run exists.
		s.log.Warn("dispatch after run start failed", zap.String("run_id", r.ID), zap.Error(err))
	}
	return r, nil
}

// setDepths sets each node's Depth, the longest chain of upstream nodes above it within the
// run, which orders dispatch. The nodes form a DAG (the graph refuses cycles); a node met again
// while its own depth is being worked out would be on a cycle and keeps depth 0.
func setDepths(nodes []*run.Node) {
	byName := make(map[string]*run.Node, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = n
	}
	const (
		unseen = iota
		visiting
		done
	)
	mark := make(map[string]int, len(nodes))
	// An explicit stack: a chain of thousands of tables must not grow the goroutine's stack
	// by a frame per table.
	type frame struct {
		n    *run.Node
		next int // index into n.Upstream of the next upstream node to visit
	}
	for _, root := range nodes {
		if mark[root.Name] != unseen {
			continue
		}
		mark[root.Name] = visiting
		stack := []frame{{n: root}}
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next < len(top.n.Upstream) {
				u := byName[top.n.Upstream[top.next]]
				top.next++
				if u != nil && mark[u.Name] == unseen {
					mark[u.Name] = visiting
					stack = append(stack, frame{n: u})
				}
				continue
			}
			for _, name := range top.n.Upstream {
				if u := byName[name]; u != nil && mark[name] == done {
					top.n.Depth = max(top.n.Depth, u.Depth+1)
				}
			}
			mark[top.n.Name] = done
			stack = stack[:len(stack)-1]
		}
	}
}

func (s *Scheduler) newNode(runID string, t spec.Table, up, down []string) *run.Node {
	retries := t.Retries
	if retries < 0 {
		retries = 0
	}
	kind := t.Kind
	if kind == "" {
		kind = "query"
	}
	n := &run.Node{
		RunID:           runID,
		Name:            t.Name,
		Kind:            kind,
		State:           run.NodePending,
		Attempt:         1,
		MaxAttempts:     retries + 1,
		Upstream:        up,
		Downstream:      down,
		PendingUpstream: len(up),
	}
	if len(up) == 0 {
		n.State = run.NodeReady
	}
	return n
}

func (s *Scheduler) schedule(ctx context.Context, name string) (spec.Schedule, error) {
	list, err := s.store.ScheduleList(ctx)
	if err != nil {
		return spec.Schedule{}, fmt.Errorf("error listing schedules: %w", err)
	}
	for _, rec := range list {
		if rec.Schedule.Name == name {
			return rec.Schedule, nil
		}
	}
	return spec.Schedule{}, fmt.Errorf("error starting a run: %w: schedule %q", store.ErrNotFound, name)
}

// Dispatch publishes a task for every ready node that may start now within the concurrency
// limits. A publish that fails leaves the node dispatched; the sweeper publishes it again.
func (s *Scheduler) Dispatch(ctx context.Context) error {
	for {
		nodes, err := s.dispatchUpTo(ctx, 500)
		if err != nil {
			return err
		}
		if err := s.publishAll(ctx, nodes); err != nil {
			return err
		}
		if len(nodes) < 500 {
			return nil
		}
	}
}

// DispatchTake makes one dispatch pass like Dispatch, but keeps up to take of the dispatched
// nodes, those named in prefer first, for the caller to run itself instead of publishing their
// tasks: a worker that just unlocked a node runs it without a round trip through the queue.
// A kept node that its caller never claims is published again by the sweeper.
func (s *Scheduler) DispatchTake(ctx context.Context, take int, prefer []string) ([]*run.Node, error) {
	nodes, err := s.dispatchUpTo(ctx, 500)
	if err != nil {
		return nil, err
	}
	if take > 0 && len(prefer) > 0 {
		// Stable: the preferred nodes move to the front, each group keeps its order.
		sort.SliceStable(nodes, func(i, j int) bool {
			return slices.Contains(prefer, nodes[i].Name) && !slices.Contains(prefer, nodes[j].Name)
		})
	}
	take = min(take, len(nodes))
	return nodes[:take], s.publishAll(ctx, nodes[take:])
}

// Take dispatches up to n ready nodes, deepest first, within the limits, for the caller to run
// itself, and publishes nothing: a worker with a free slot takes its next node this way. A taken
// node that its caller never claims is published again by the sweeper.
func (s *Scheduler) Take(ctx context.Context, n int) ([]*run.Node, error) {
	if n <= 0 {
		return nil, nil
	}
	return s.dispatchUpTo(ctx, n)
}

// dispatchUpTo marks up to max ready nodes dispatched, within the limits, deepest first.
func (s *Scheduler) dispatchUpTo(ctx context.Context, max int) ([]*run.Node, error) {
	nodes, err := s.store.NodesDispatch(ctx, &store.NodesDispatchParams{
		Now: s.cfg.Now(), GlobalLimit: s.cfg.GlobalLimit, Max: max,
	})
	if err != nil {
		return nil, fmt.Errorf("error dispatching nodes: %w", err)
	}
	return nodes, nil
}

// publishAll publishes the nodes' tasks at once: each publish waits for the queue's
// acknowledgement, and waiting for them one after the other would add up.
func (s *Scheduler) publishAll(ctx context.Context, nodes []*run.Node) error {
	if len(nodes) == 1 {
		return s.publish(ctx, nodes[0])
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = s.publish(ctx, n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Scheduler) publish(ctx context.Context, n *run.Node) error {
	t := run.Task{RunID: n.RunID, Node: n.Name, Attempt: n.Attempt}
	err := s.tasks.Publish(ctx, &queue.Message{
		Data:       run.EncodeTask(t),
		Attributes: map[string]string{"run_id": n.RunID, "node": n.Name},
	})
	if err != nil {
		return fmt.Errorf("error publishing task for node %q of run %q: %w", n.Name, n.RunID, err)
	}
	return nil
}

// HandleCompletion is the completion subscription's handler: it applies the node's outcome
// downstream, finishes the run when nothing is left, and dispatches what became ready.
// Poison messages — malformed, or naming a run or node that does not exist — are nacked with an
// error wrapping ErrPoison, so that the subscription's dead-letter policy moves them to the
// dead-letter topic after its max deliveries (DeadLetters reports them there).
func (s *Scheduler) HandleCompletion(ctx context.Context, m *queue.Message) error {
	c, err := run.DecodeCompletion(m.Data)
	if err != nil {
		return s.poison(m, "malformed completion", err)
	}
	if c.State == run.NodeFailed {
		s.nodeFailed(ctx, c.RunID, c.Node)
	}
	switch {
	case !c.Propagated:
		err = s.propagate(ctx, c.RunID, c.Node)
	case c.RunDone:
		err = s.finish(ctx, c.RunID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return s.poison(m, "completion of an unknown run or node", err)
	}
	if err != nil {
		return err
	}
	// A node that ended without passing its place on freed capacity that nodes held back by a
	// limit may take; one whose worker dispatched what it unlocked did not.
	if !c.Propagated || !c.Dispatched || c.RunDone {
		s.RequestDispatch()
	}
	return nil
}

// ErrPoison is wrapped by the error HandleCompletion returns for a message that can never be
// handled.
var ErrPoison = errors.New("poison message")

// poison reports a completion that can never be handled and returns the error that nacks it.
func (s *Scheduler) poison(m *queue.Message, reason string, err error) error {
	s.log.Warn("poison completion: nacked until the subscription dead-letters it", zap.String("message_id", m.ID),
		zap.Int("delivery_attempt", m.DeliveryAttempt), zap.String("reason", reason), zap.Error(err))
	return fmt.Errorf("%w: %s (message %s): %w", ErrPoison, reason, m.ID, err)
}

// runStarted tells a StartNotifier about a run just saved.
func (s *Scheduler) runStarted(ctx context.Context, r *run.Run) {
	if sn, ok := s.notify.(StartNotifier); ok {
		sn.RunStarted(ctx, r)
	}
}

// nodeFailed tells a FailureNotifier about a node whose completion says it failed for good.
// Failing to tell is logged, never retried through the message: RunFinished tells it again.
func (s *Scheduler) nodeFailed(ctx context.Context, runID, name string) {
	fn, ok := s.notify.(FailureNotifier)
	if !ok {
		return
	}
	r, err := s.store.RunGet(ctx, runID)
	if err == nil {
		var n *run.Node
		if n, err = s.store.NodeGet(ctx, runID, name); err == nil && n.State == run.NodeFailed {
			fn.NodeFailed(ctx, r, n)
			return
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("loading a failed node to notify failed", zap.String("run_id", runID), zap.String("node", name), zap.Error(err))
	}
}

// RequestDispatch asks RunDispatcher for a dispatch pass soon. It never blocks.
func (s *Scheduler) RequestDispatch() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// RunDispatcher makes a dispatch pass whenever one was requested, until ctx is done. Passes
// coalesce: a burst of completions costs one pass, not one each.
func (s *Scheduler) RunDispatcher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			if err := s.Dispatch(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("dispatch failed; the sweeper will retry", zap.Error(err))
			}
		}
	}
}

func (s *Scheduler) propagate(ctx context.Context, runID, node string) error {
	res, err := s.store.NodePropagate(ctx, runID, node)
	if err != nil {
		return fmt.Errorf("error propagating node %q of run %q: %w", node, runID, err)
	}
	if len(res.Skipped) > 0 {
		s.log.Info("nodes skipped", zap.String("run_id", runID), zap.String("node", node), zap.Strings("skipped", res.Skipped))
	}
	if res.RunDone {
		return s.finish(ctx, runID)
	}
	return nil
}

// finish sums a run's nodes and moves it to its final state; a lost race means another handler
// finished it, which is fine.
func (s *Scheduler) finish(ctx context.Context, runID string) error {
	nodes, err := s.store.NodeList(ctx, runID)
	if err != nil {
		return fmt.Errorf("error listing nodes of run %q: %w", runID, err)
	}
	p := &store.RunFinishParams{ID: runID, State: run.RunSucceeded, FinishedAt: s.cfg.Now(), Counts: map[run.NodeState]int{}}
	for _, n := range nodes {
		if !n.State.Terminal() || !n.Propagated {
			// Messages are hints: a run is finished only when the store says every node is.
			return nil
		}
	}
	for _, n := range nodes {
		p.Stats.Add(n.Stats)
		p.Counts[n.State]++
		switch n.State {
		case run.NodeSucceeded:
		case run.NodeCancelled:
			if p.State == run.RunSucceeded {
				p.State = run.RunCancelled
			}
		default:
			p.State = run.RunFailed
		}
	}
	err = s.store.RunFinish(ctx, p)
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error finishing run %q: %w", runID, err)
	}
	// The run is finished and this handler alone won the right to tell it: a shutdown now
	// (maestro dev --once stops as soon as the store says the run is over) must not lose that.
	ctx = context.WithoutCancel(ctx)
	r, err := s.store.RunGet(ctx, runID)
	if err != nil {
		return fmt.Errorf("error loading finished run %q: %w", runID, err)
	}
	s.log.Info("run finished", zap.String("run_id", runID), zap.String("state", string(r.State)),
		zap.Int("succeeded", p.Counts[run.NodeSucceeded]), zap.Int("failed", p.Counts[run.NodeFailed]),
		zap.Int("skipped", p.Counts[run.NodeSkipped]), zap.Int64("bytes_billed", p.Stats.BytesBilled))
	if s.notify != nil {
		s.notify.RunFinished(ctx, r, nodes)
	}
	return nil
}

// Cancel cancels a running run: its unfinished nodes become cancelled. A worker running one of
// them loses its lease at its next heartbeat.
func (s *Scheduler) Cancel(ctx context.Context, runID string) error {
	if err := s.store.RunCancel(ctx, runID, s.cfg.Now()); err != nil {
		return fmt.Errorf("error cancelling run %q: %w", runID, err)
	}
	s.log.Info("run cancelled", zap.String("run_id", runID))
	return s.Dispatch(ctx)
}

// Resume starts a new run that continues a failed or cancelled one: nodes that succeeded stay
// succeeded (copied, not run), the failed, skipped and cancelled ones run again.
func (s *Scheduler) Resume(ctx context.Context, runID, user string) (*run.Run, error) {
	old, err := s.store.RunGet(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("error loading run %q: %w", runID, err)
	}
	if !old.State.Terminal() {
		return nil, fmt.Errorf("error resuming run %q: %w: it is still %s", runID, store.ErrConflict, old.State)
	}
	if old.State == run.RunSucceeded {
		return nil, fmt.Errorf("error resuming run %q: %w: it succeeded, nothing to resume", runID, ErrNothingToRun)
	}
	oldNodes, err := s.store.NodeList(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("error listing nodes of run %q: %w", runID, err)
	}
	now := s.cfg.Now()
	r := &run.Run{
		ID: NewRunID(now), Schedule: old.Schedule, Trigger: run.TriggerResume, ResumedFrom: old.ID,
		State: run.RunRunning, MaxParallel: old.MaxParallel, CreatedBy: user, CreatedAt: now,
	}
	succeeded := map[string]bool{}
	for _, n := range oldNodes {
		if n.State == run.NodeSucceeded {
			succeeded[n.Name] = true
		}
	}
	nodes := make([]*run.Node, 0, len(oldNodes))
	for _, o := range oldNodes {
		n := &run.Node{
			RunID: r.ID, Name: o.Name, Kind: o.Kind, Attempt: 1, MaxAttempts: o.MaxAttempts,
			Upstream: o.Upstream, Downstream: o.Downstream, Depth: o.Depth,
		}
		if succeeded[o.Name] {
			// Kept as it was: its stats belong to the run that did the work.
			n.State, n.Propagated, n.Attempt, n.JobID = run.NodeSucceeded, true, o.Attempt, o.JobID
			n.StartedAt, n.FinishedAt = o.StartedAt, o.FinishedAt
		} else {
			for _, u := range o.Upstream {
				if !succeeded[u] {
					n.PendingUpstream++
				}
			}
			n.State = run.NodePending
			if n.PendingUpstream == 0 {
				n.State = run.NodeReady
			}
		}
		nodes = append(nodes, n)
	}
	if err := s.store.RunCreate(ctx, r, nodes); err != nil {
		return nil, fmt.Errorf("error creating resume run of %q: %w", runID, err)
	}
	s.log.Info("run resumed", zap.String("run_id", r.ID), zap.String("resumed_from", runID))
	s.runStarted(ctx, r)
	if err := s.Dispatch(ctx); err != nil {
		s.log.Warn("dispatch after resume failed", zap.String("run_id", r.ID), zap.Error(err))
	}
	return r, nil
}

// Sweep repairs what lost messages and dead workers left behind: it returns nodes whose worker
// lease expired to ready (same attempt), publishes again tasks nobody claimed, propagates
// finished nodes whose completion was lost, finishes runs whose finish was lost, and dispatches
// nodes whose retry backoff has passed.
func (s *Scheduler) Sweep(ctx context.Context) error {
	now := s.cfg.Now()
	stale, err := s.store.NodesStale(ctx, &store.NodesStaleParams{
		Now:              now,
		DispatchedBefore: now.Add(-s.cfg.UndeliveredAfter),
		FinishedBefore:   now.Add(-s.cfg.UnpropagatedAfter),
	})
	if err != nil {
		return fmt.Errorf("error finding stale nodes: %w", err)
	}
	var errs []error
	for _, n := range stale.ExpiredLeases {
		err := s.store.NodeReclaim(ctx, &store.NodeReclaimParams{RunID: n.RunID, Name: n.Name, Attempt: n.Attempt, Lease: n.Lease})
		if err != nil && !errors.Is(err, store.ErrConflict) {
			errs = append(errs, fmt.Errorf("error reclaiming node %q of run %q: %w", n.Name, n.RunID, err))
			continue
		}
		if err == nil {
			s.log.Warn("reclaimed node whose worker lease expired", zap.String("run_id", n.RunID),
				zap.String("node", n.Name), zap.Int("attempt", n.Attempt), zap.String("job_id", n.JobID))
		}
	}
	for _, n := range stale.Undelivered {
		err := s.store.NodeRedispatch(ctx, &store.NodeRedispatchParams{
			RunID: n.RunID, Name: n.Name, Attempt: n.Attempt, DispatchedAt: n.DispatchedAt, Now: now,
		})
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue // claimed meanwhile, or another sweeper republished it
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("error redispatching node %q of run %q: %w", n.Name, n.RunID, err))
			continue
		}
		s.log.Warn("publishing unclaimed task again", zap.String("run_id", n.RunID), zap.String("node", n.Name), zap.Int("attempt", n.Attempt))
		errs = append(errs, s.publish(ctx, n))
	}
	for _, n := range stale.Unpropagated {
		s.log.Warn("propagating node whose completion was lost", zap.String("run_id", n.RunID), zap.String("node", n.Name))
		errs = append(errs, s.propagate(ctx, n.RunID, n.Name))
	}
	for _, id := range stale.Done {
		errs = append(errs, s.finish(ctx, id))
	}
	errs = append(errs, s.Dispatch(ctx))
	return errors.Join(errs...)
}

// NewRunID returns a run id that sorts by creation time: r20261125t213000-9f86d0.
func NewRunID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "r" + now.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b[:])
}

// Tick starts a run for every schedule that fell due since it last fired. Missed ticks (the
// scheduler was down) coalesce into one run. Firing is a compare-and-set on the schedule's
// last fire time, so of several schedulers ticking at once exactly one starts the run. A
// schedule whose previous run is still going is not started again on top of it.
func (s *Scheduler) Tick(ctx context.Context) error {
	now := s.cfg.Now()
	records, err := s.store.ScheduleList(ctx)
	if err != nil {
		return fmt.Errorf("error listing schedules: %w", err)
	}
	var entries []schedule.Entry
	var errs []error
	for _, rec := range records {
		if rec.LastFiredAt.IsZero() {
			// A new schedule starts counting now; it does not fire for ticks before it existed.
			if err := s.store.ScheduleFire(ctx, rec.Schedule.Name, time.Time{}, now); err != nil && !errors.Is(err, store.ErrConflict) {
				errs = append(errs, fmt.Errorf("error initialising schedule %q: %w", rec.Schedule.Name, err))
			}
			continue
		}
		entries = append(entries, schedule.Entry{Schedule: rec.Schedule, LastFiredAt: rec.LastFiredAt})
	}
	fires, err := schedule.Due(entries, now)
	if err != nil {
		errs = append(errs, err)
	}
	if len(fires) == 0 {
		return errors.Join(errs...)
	}
	running, err := s.store.RunList(ctx, &store.RunListParams{State: run.RunRunning, Limit: 1000})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("error listing running runs: %w", err))...)
	}
	inFlight := map[string]string{}
	for _, r := range running {
		inFlight[r.Schedule] = r.ID
	}
	last := map[string]time.Time{}
	for _, e := range entries {
		last[e.Schedule.Name] = e.LastFiredAt
	}
	for _, f := range fires {
		name := f.Schedule.Name
		err := s.store.ScheduleFire(ctx, name, last[name], f.At)
		if errors.Is(err, store.ErrConflict) {
			continue // another scheduler fired it
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("error firing schedule %q: %w", name, err))
			continue
		}
		if id, ok := inFlight[name]; ok {
			s.log.Warn("schedule fell due while its previous run is still going; not starting another",
				zap.String("schedule", name), zap.String("run_id", id), zap.Time("due", f.At))
			continue
		}
		if f.Coalesced() {
			s.log.Warn("schedule missed ticks; running once for all of them", zap.String("schedule", name),
				zap.Time("first_missed", f.First), zap.Time("due", f.At))
		}
		_, err = s.Start(ctx, StartParams{Schedule: name, At: f.At, Trigger: run.TriggerSchedule, User: "scheduler"})
		if errors.Is(err, ErrNothingToRun) {
			s.log.Info("schedule fell due with no table to run", zap.String("schedule", name), zap.Time("due", f.At))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("error starting schedule %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
