// Package worker runs one attempt of one node: it claims the node by compare-and-set, runs the
// table's job in the warehouse under a job id derived from (run, node, attempt), keeps its lease
// alive while the job runs, records the outcome and tells the scheduler.
//
// A redelivered task finds the node already claimed or finished and changes nothing; a task
// for a node whose worker died is run again by whoever claims it after the sweeper reclaimed the
// lease, and attaches to the job the dead worker submitted, because the job id is the same.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Executor runs the work of one node kind. The query kind runs SQL into the table; extract
// and export kinds plug in here.
type Executor interface {
	// Execute runs the job with the given id for table t and returns its statistics. A
	// *warehouse.JobError is a job that ran and failed; other errors leave the outcome unknown.
	Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error)
}

// Config configures a Worker.
type Config struct {
	// ID names this worker in leases and logs. Defaults to a random id.
	ID string
	// Lease is how long a claim lasts without a heartbeat. Defaults to 60s.
	Lease time.Duration
	// Heartbeat is how often a running job renews its lease. Defaults to Lease/3.
	Heartbeat time.Duration
	// DefaultRetryBackoff is the first retry's delay when a table sets none; it doubles per attempt.
	// Defaults to 30s.
	DefaultRetryBackoff time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Dispatcher, when set, lets the worker dispatch what a finished node unlocked and run one
	// of those nodes itself at once, instead of waiting for the completion to reach the
	// scheduler and a new task to come back: two queue hops off every edge of the graph.
	Dispatcher Dispatcher
	// MaxChain bounds how many nodes one task message runs that way one after the other, so
	// that a message is not held for a whole run. Defaults to 32; -1: no bound (an in-process
	// queue, whose messages are gone with the process anyway).
	MaxChain int
	// Concurrency is how many tasks this worker runs at once (its subscription's
	// MaxOutstanding): it takes nodes for itself only for free slots. Defaults to 1.
	Concurrency int
	// Pull, with a Dispatcher, makes a node that ends without handing its place to a node it
	// unlocked take the next ready node of the store in its place, deepest first, instead of
	// leaving the slot to the scheduler's next dispatch and a task message. A node then never
	// waits while a slot is free. Worth it when dispatch is cheap (the embedded store answers
	// from memory); with Firestore every pull is a transaction.
	Pull bool
}

// Dispatcher dispatches ready nodes within the concurrency limits (the scheduler does).
type Dispatcher interface {
	// DispatchTake dispatches ready nodes, publishes tasks for all but up to take of them,
	// preferring those named in prefer, and returns the ones it kept for the caller to run.
	DispatchTake(ctx context.Context, take int, prefer []string) ([]*run.Node, error)
	// Take dispatches up to n ready nodes for the caller to run and publishes none.
	Take(ctx context.Context, n int) ([]*run.Node, error)
}

// Worker handles task messages.
type Worker struct {
	store       store.Store
	completions queue.Topic
	executors   map[string]Executor
	log         *zap.Logger
	cfg         Config
	busy        atomic.Int64 // nodes this worker is running
	// Outcomes waiting for the store to save them before they are told (see tellLater).
	tellMu    sync.Mutex
	tellQueue []func(context.Context)
	telling   bool // a teller goroutine runs
	tellers   sync.WaitGroup
}

// Wait waits until every outcome recorded so far has been told (logged and published). Call it
// after the task subscription stopped delivering, before closing the store.
func (w *Worker) Wait() { w.tellers.Wait() }

// New returns a worker; executors maps node kinds ("query") to what runs them.
func New(st store.Store, completions queue.Topic, executors map[string]Executor, log *zap.Logger, cfg Config) *Worker {
	if cfg.ID == "" {
		cfg.ID = "w-" + randomHex(4)
	}
	if cfg.Lease == 0 {
		cfg.Lease = 60 * time.Second
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = cfg.Lease / 3
	}
	if cfg.DefaultRetryBackoff == 0 {
		cfg.DefaultRetryBackoff = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxChain == 0 {
		cfg.MaxChain = 32
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	return &Worker{store: st, completions: completions, executors: executors, log: log.With(zap.String("worker", cfg.ID)), cfg: cfg}
}

// ErrPoison is wrapped by the error Handle returns for a poison message: one that can never be
// handled (malformed, or naming a run or node that does not exist). It is nacked, never acked,
// so that the subscription's dead-letter policy moves it to the dead-letter topic after the
// configured deliveries, where the scheduler reports it (scheduler.DeadLetters).
var ErrPoison = errors.New("poison message")

// Handle is the task subscription's handler. It returns an error (nack, redelivery) when the
// store or queue failed in a way a later delivery may not, and for poison messages (ErrPoison);
// everything else is acked.
func (w *Worker) Handle(ctx context.Context, m *queue.Message) error {
	t, err := run.DecodeTask(m.Data)
	if err != nil {
		return w.poison(m, "malformed task", err)
	}
	// Completions are published while the next node runs, and nodes taken beyond the first run
	// beside it; the message is acked once all of that is done.
	var pending sync.WaitGroup
	defer pending.Wait()
	err = w.chain(ctx, step{task: t}, &pending, true)
	if errors.Is(err, errUnknownNode) {
		reason := "unknown node"
		if _, rerr := w.store.RunGet(ctx, t.RunID); errors.Is(rerr, store.ErrNotFound) {
			reason = "unknown run"
		}
		return w.poison(m, reason, err)
	}
	return err
}

// poison reports a message that can never be handled and returns the error that nacks it.
func (w *Worker) poison(m *queue.Message, reason string, err error) error {
	w.log.Warn("poison task: nacked until the subscription dead-letters it", zap.String("message_id", m.ID),
		zap.Int("delivery_attempt", m.DeliveryAttempt), zap.String("reason", reason), zap.Error(err))
	return fmt.Errorf("%w: %s (message %s): %w", ErrPoison, reason, m.ID, err)
}

// errUnknownNode: a task names a node that is not in the store.
var errUnknownNode = errors.New("no such node")

// step is a node to run: a task to claim, or a node already claimed under lease (handed off by
// the node before it).
type step struct {
	task    run.Task
	claimed *run.Node
	lease   string
}

// chain runs s, then the nodes its success unlocked for this worker: the first in this
// goroutine, the others each in a goroutine of its own (counted in pending), until none is left
// or MaxChain. Only the first node's error is returned: a later node's failure leaves it to its
// lease or dispatch, and the sweeper hands it out again.
func (w *Worker) chain(ctx context.Context, s step, pending *sync.WaitGroup, first bool) error {
	for depth := 0; ; depth++ {
		err := w.claim(ctx, &s)
		var (
			next *step
			take int
			rest []string
		)
		if err == nil && s.claimed != nil {
			w.busy.Add(1)
			next, take, rest, err = w.run(ctx, s.claimed, s.lease, w.mayChain(depth), pending)
			w.busy.Add(-1)
		}
		if err != nil {
			if first {
				return err
			}
			w.log.Warn("running a node this worker took failed; the sweeper will hand it out again",
				zap.String("run_id", s.task.RunID), zap.String("node", s.task.Node), zap.Error(err))
			return nil
		}
		first = false
		if len(rest) > 0 {
			pending.Go(func() { w.dispatchRest(ctx, take, rest, pending) })
		}
		if next == nil && len(rest) == 0 && s.claimed != nil {
			// This slot is free and nothing took it (dispatchRest takes it when there is rest).
			next = w.pull(ctx, w.mayChain(depth+1))
		}
		if next == nil {
			return nil
		}
		s = *next
	}
}

// mayChain reports whether a chain may run its node number depth (from 0) and more.
func (w *Worker) mayChain(depth int) bool { return w.cfg.MaxChain < 0 || depth < w.cfg.MaxChain }

// pull, with Config.Pull, fills the slot a node just freed: with mayTake it takes the deepest
// ready node for this goroutine; at the end of a chain it dispatches what the limits allow, for
// the queue to hand out. Failing is no error: the scheduler's dispatch and the sweeper do the
// same later.
func (w *Worker) pull(ctx context.Context, mayTake bool) *step {
	if !w.pulls() || ctx.Err() != nil {
		return nil
	}
	var (
		kept []*run.Node
		err  error
	)
	if mayTake {
		kept, err = w.cfg.Dispatcher.Take(ctx, 1)
	} else {
		kept, err = w.cfg.Dispatcher.DispatchTake(ctx, 0, nil)
	}
	if err != nil {
		w.log.Warn("taking the next ready node failed", zap.Error(err))
	}
	if len(kept) == 0 {
		return nil
	}
	return &step{task: taskOf(kept[0])}
}

func taskOf(n *run.Node) run.Task { return run.Task{RunID: n.RunID, Node: n.Name, Attempt: n.Attempt} }

// claim claims s's task unless s holds a claimed node already. s.claimed stays nil when the task
// is not claimable (a duplicate, a finished run), which is no error.
func (w *Worker) claim(ctx context.Context, s *step) error {
	if s.claimed != nil {
		return nil
	}
	t := s.task
	lease := w.newLease()
	now := w.cfg.Now()
	n, err := w.store.NodeClaim(ctx, &store.NodeClaimParams{
		RunID: t.RunID, Name: t.Node, Attempt: t.Attempt, Lease: lease,
		LeaseExpiresAt: now.Add(w.cfg.Lease), JobID: run.JobID(t.RunID, t.Node, t.Attempt), Now: now,
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: node %q of run %q", errUnknownNode, t.Node, t.RunID)
	case errors.Is(err, store.ErrConflict):
		// Someone else has it, it ran already, or the run is over: the message was a duplicate.
		w.log.Debug("task not claimable; acking", zap.String("run_id", t.RunID), zap.String("node", t.Node),
			zap.Int("attempt", t.Attempt), zap.Error(err))
		return nil
	case err != nil:
		return fmt.Errorf("error claiming node %q of run %q: %w", t.Node, t.RunID, err)
	}
	s.claimed, s.lease = n, lease
	return nil
}

func (w *Worker) newLease() string { return w.cfg.ID + "-" + randomHex(4) }

// run runs a claimed node and records its outcome. When mayTake, a success passes this slot to
// a node it unlocked (returned as next, already claimed), and the rest of what it unlocked is
// returned for dispatchRest, with how many of those this worker has free slots for.
func (w *Worker) run(ctx context.Context, n *run.Node, lease string, mayTake bool, publishing *sync.WaitGroup) (next *step, take int, rest []string, err error) {
	log := w.log.With(zap.String("run_id", n.RunID), zap.String("node", n.Name), zap.Int("attempt", n.Attempt),
		zap.String("job_id", n.JobID))
	log.Info("node started")

	out, err := w.execute(ctx, log, n, lease)
	if errors.Is(err, errLeaseLost) || errors.Is(err, errOutcomeUnknown) {
		return nil, 0, nil, nil
	}
	if err != nil {
		return nil, 0, nil, err
	}
	state, stats := out.state, out.stats
	p := &store.NodeRecordOutcomeParams{
		RunID: n.RunID, Name: n.Name, Attempt: n.Attempt, Lease: lease,
		State: state, Stats: stats, Now: w.cfg.Now(),
	}
	if out.err != nil {
		p.Error = out.err.Error()
	}
	if state == run.NodeReady {
		p.NotBefore = p.Now.Add(w.backoff(ctx, n))
	}
	nextLease := w.newLease()
	if mayTake {
		p.Handoff = &store.Handoff{Lease: nextLease, LeaseExpiresAt: p.Now.Add(w.cfg.Lease)}
	}
	// Recording the outcome also unlocks the downstream nodes in the same transaction, and
	// claims one of them for this worker: the next node starts without a message.
	_, res, err := w.store.NodeFinish(ctx, p)
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			log.Warn("lease lost before recording the outcome; the next claimant attaches to the same job")
			return nil, 0, nil, nil
		}
		return nil, 0, nil, fmt.Errorf("error recording outcome of node %q of run %q: %w", n.Name, n.RunID, err)
	}
	if res.Claimed != nil {
		next = &step{claimed: res.Claimed, lease: nextLease, task: taskOf(res.Claimed)}
	}
	if w.cfg.Dispatcher != nil && len(res.Ready) > 0 && mayTake {
		// Other workers may take free slots at the same moment: this can run a few more nodes
		// than Concurrency for a while, never unboundedly many.
		take = max(0, w.cfg.Concurrency-int(w.busy.Load()))
		if next == nil {
			take++ // this slot is free too
		}
		if take > 0 {
			rest = res.Ready
		}
		// With take 0 every slot is busy: the scheduler's dispatch, which coalesces many
		// completions into one pass, publishes them for whichever worker frees up first.
	}
	// With Pull, chain follows every finish with a dispatch pass (pull or dispatchRest) when
	// it hands off nothing.
	dispatched := rest != nil || (next != nil && len(res.Ready) == 0) || (w.pulls() && mayTake)
	c := run.Completion{RunID: n.RunID, Node: n.Name, Attempt: n.Attempt, State: state,
		Propagated: state.Terminal(), RunDone: res.RunDone, Dispatched: dispatched}
	var completion *queue.Message
	if !(c.State == run.NodeSucceeded && c.Propagated && c.Dispatched && !c.RunDone) {
		// A success already applied downstream, whose freed slot was filled, in a run that
		// goes on, leaves the scheduler nothing to do: no message for it.
		completion = &queue.Message{Data: run.EncodeCompletion(c), Attributes: map[string]string{"run_id": n.RunID, "node": n.Name}}
	}
	tell := func(ctx context.Context) {
		fields := []zap.Field{zap.String("state", string(state)), zap.Int64("rows", stats.Rows),
			zap.Int64("bytes_processed", stats.BytesProcessed), zap.Int64("duration_ms", stats.DurationMillis)}
		switch state {
		case run.NodeSucceeded:
			log.Info("node succeeded", fields...)
		case run.NodeReady:
			log.Warn("node failed; will retry", append(fields, zap.Error(out.err), zap.Time("not_before", p.NotBefore))...)
		default:
			log.Error("node failed", append(fields, zap.Error(out.err))...)
		}
		if completion == nil {
			return
		}
		if err := w.completions.Publish(ctx, completion); err != nil {
			// The sweeper propagates nodes whose completion never arrived.
			log.Warn("publishing completion failed", zap.Error(err))
		}
	}
	if _, ok := w.store.(syncer); !ok {
		// Saved already: tell it while the next node runs, and ack the message after.
		publishing.Go(func() { tell(ctx) })
		return next, take, rest, nil
	}
	// The outcome is told — logged, and sent to the scheduler — once the store has saved it.
	// Neither the next node nor the message waits for that: should the outcome be lost in a
	// crash, the node runs again under the same job id and attaches to the job that ran, and
	// the sweeper finds what its completion would have told.
	w.tellLater(tell)
	return next, take, rest, nil
}

// pulls reports whether chain fills a freed slot itself (Config.Pull).
func (w *Worker) pulls() bool { return w.cfg.Pull && w.cfg.Dispatcher != nil }

// tellLater queues the telling of an outcome until the store has saved it. One goroutine
// tells them, a batch for each save: a goroutine per outcome, all woken by the same save,
// would crowd out the goroutines starting nodes.
func (w *Worker) tellLater(tell func(context.Context)) {
	w.tellMu.Lock()
	w.tellQueue = append(w.tellQueue, tell)
	start := !w.telling
	w.telling = true
	w.tellMu.Unlock()
	if start {
		w.tellers.Go(w.teller)
	}
}

// teller tells queued outcomes once the store has saved them, until none is left.
func (w *Worker) teller() {
	sy := w.store.(syncer)
	for {
		w.tellMu.Lock()
		batch := w.tellQueue
		w.tellQueue = nil
		if len(batch) == 0 {
			w.telling = false
			w.tellMu.Unlock()
			return
		}
		w.tellMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), tellTimeout)
		if err := sy.Sync(ctx); err != nil {
			w.log.Warn("the store did not confirm that outcomes are saved; telling them anyway", zap.Int("outcomes", len(batch)), zap.Error(err))
		}
		for _, tell := range batch {
			tell(ctx)
		}
		cancel()
	}
}

// tellTimeout bounds telling an outcome once the task that ran it is acked.
const tellTimeout = 30 * time.Second

// syncer is a store that saves writes after they return (the embedded store keeps running runs
// in memory and writes them behind): Sync returns once every earlier write is saved.
type syncer interface {
	Sync(ctx context.Context) error
}

// dispatchRest dispatches the nodes a finish made ready beyond the one handed off, and runs up to
// take of them here, each in a goroutine of its own; it runs beside the handed-off node, off its
// critical path.
func (w *Worker) dispatchRest(ctx context.Context, take int, ready []string, pending *sync.WaitGroup) {
	var (
		kept []*run.Node
		err  error
	)
	if w.pulls() {
		// Pulling workers take what they have room for, deepest first, and leave the rest
		// ready for the next slot that frees: a published task would wait for a message slot
		// instead.
		kept, err = w.cfg.Dispatcher.Take(ctx, take)
	} else {
		kept, err = w.cfg.Dispatcher.DispatchTake(ctx, take, ready)
	}
	if err != nil {
		// The scheduler dispatches them when the completion arrives, the sweeper republishes
		// what was dispatched but not published.
		w.log.Warn("dispatching what a node unlocked failed", zap.Error(err))
	}
	for _, n := range kept {
		pending.Go(func() { _ = w.chain(ctx, step{task: taskOf(n)}, pending, false) })
	}
}

// outcome is how an attempt ended: the state to record, the job's statistics and, for a
// failure, its error.
type outcome struct {
	state run.NodeState
	stats run.Stats
	err   error
}

// execute runs the node's job while heartbeating. An error means nothing is to be recorded:
// the lease was lost, the outcome is unknown, or the worker is shutting down.
func (w *Worker) execute(ctx context.Context, log *zap.Logger, n *run.Node, lease string) (outcome, error) {
	jobCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Most jobs end before their first heartbeat is due: a timer costs less than a goroutine.
	beat := time.AfterFunc(w.cfg.Heartbeat, func() { w.heartbeat(jobCtx, cancel, n, lease) })
	defer beat.Stop()

	stats, err := w.runJob(jobCtx, n)
	if cause := context.Cause(jobCtx); errors.Is(cause, errLeaseLost) {
		log.Warn("lease lost while the job ran; leaving the node to its new owner")
		return outcome{}, errLeaseLost
	}
	var jobErr *warehouse.JobError
	switch {
	case err == nil:
		return outcome{state: run.NodeSucceeded, stats: stats}, nil
	case errors.As(err, &jobErr), errors.Is(err, errPermanent):
		if jobErr != nil && jobErr.Retryable && n.Attempt < n.MaxAttempts {
			return outcome{state: run.NodeReady, stats: stats, err: err}, nil
		}
		return outcome{state: run.NodeFailed, stats: stats, err: err}, nil
	case ctx.Err() != nil:
		// Shutting down: the lease expires and the sweeper hands the node to another worker,
		// which attaches to the same job.
		return outcome{}, ctx.Err()
	default:
		// The warehouse did not say how the job ended. Stop heartbeating and let the lease run
		// out: the sweeper then hands the node, same attempt, to a worker that attaches to the
		// same job id, and the lease is the back-off if the warehouse is down.
		log.Warn("job outcome unknown; the node is retried with the same job id when its lease expires", zap.Error(err))
		return outcome{}, errOutcomeUnknown
	}
}

var (
	errLeaseLost      = errors.New("lease lost")
	errOutcomeUnknown = errors.New("job outcome unknown")
	errPermanent      = errors.New("permanent error")
)

func (w *Worker) runJob(ctx context.Context, n *run.Node) (run.Stats, error) {
	rec, err := w.store.TableGet(ctx, n.Name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return run.Stats{}, fmt.Errorf("%w: table %q no longer exists", errPermanent, n.Name)
		}
		return run.Stats{}, fmt.Errorf("error loading table %q: %w", n.Name, err)
	}
	ex, ok := w.executors[n.Kind]
	if !ok {
		return run.Stats{}, fmt.Errorf("%w: no executor for tables of kind %q", errPermanent, n.Kind)
	}
	return ex.Execute(ctx, n.JobID, rec.Table, n)
}

// heartbeat renews the lease now and then every Heartbeat until ctx is done; it cancels the
// job when the lease is lost.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, n *run.Node, lease string) {
	t := time.NewTicker(w.cfg.Heartbeat)
	defer t.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		err := w.store.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{
			RunID: n.RunID, Name: n.Name, Attempt: n.Attempt, Lease: lease,
			LeaseExpiresAt: w.cfg.Now().Add(w.cfg.Lease),
		})
		if errors.Is(err, store.ErrConflict) {
			cancel(errLeaseLost)
			return
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat failed", zap.String("run_id", n.RunID), zap.String("node", n.Name), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) backoff(ctx context.Context, n *run.Node) time.Duration {
	base := w.cfg.DefaultRetryBackoff
	if rec, err := w.store.TableGet(ctx, n.Name); err == nil && rec.Table.RetryBackoff > 0 {
		base = rec.Table.RetryBackoff
	}
	d := base
	for i := 1; i < n.Attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// QueryExecutor runs a query table into its destination in a warehouse.
type QueryExecutor struct {
	Warehouse      warehouse.Warehouse
	DefaultProject string
	DefaultDataset string
}

// Execute runs t's SQL into t's table.
func (q *QueryExecutor) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	dataset, table, ok := strings.Cut(t.Name, ".")
	if !ok {
		return run.Stats{}, fmt.Errorf("%w: table name %q is not dataset.table", errPermanent, t.Name)
	}
	return q.Warehouse.Query(ctx, &warehouse.QueryJob{
		JobID:          jobID,
		SQL:            t.SQL,
		Destination:    sqlref.TableName{Project: q.DefaultProject, Dataset: dataset, Table: table},
		Disposition:    t.Disposition,
		PartitionBy:    t.PartitionBy,
		ClusterBy:      t.ClusterBy,
		Labels:         map[string]string{"maestro_run": n.RunID, "maestro_table": t.Name, "owner": t.Owner},
		DefaultProject: q.DefaultProject,
		DefaultDataset: q.DefaultDataset,
	})
}
