package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/worker"
)

// recorder is an executor that records, with one global sequence, when each job started and
// ended, and fails the jobs it is told to.
type recorder struct {
	seq    atomic.Int64
	mu     sync.Mutex
	starts map[string][]int64 // job id → start sequence numbers
	ends   map[string]int64   // node → end sequence of its successful job
	nodeOf map[string]string  // job id → node
	// failures[node] is how many times the node's job fails before succeeding; permanent[node]
	// fails it for good.
	failures  map[string]int
	permanent map[string]bool
	// unknown[node] is how many times the node's job ends without the warehouse saying how.
	unknown map[string]int
	delay   time.Duration
	// running counts jobs executing now; peak is the most at once.
	running, peak int
}

func newRecorder() *recorder {
	return &recorder{starts: map[string][]int64{}, ends: map[string]int64{}, nodeOf: map[string]string{},
		failures: map[string]int{}, permanent: map[string]bool{}, unknown: map[string]int{}}
}

func (r *recorder) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	r.mu.Lock()
	r.starts[jobID] = append(r.starts[jobID], r.seq.Add(1))
	r.nodeOf[jobID] = t.Name
	fail := r.permanent[t.Name]
	retryable := false
	if r.failures[t.Name] > 0 {
		r.failures[t.Name]--
		fail, retryable = true, true
	}
	lost := r.unknown[t.Name] > 0
	if lost {
		r.unknown[t.Name]--
	}
	r.running++
	r.peak = max(r.peak, r.running)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	if lost {
		return run.Stats{}, errors.New("connection reset while waiting for the job")
	}
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return run.Stats{}, ctx.Err()
		}
	}
	if fail {
		return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "planted", Message: "planted failure", Retryable: retryable}
	}
	r.mu.Lock()
	r.ends[t.Name] = r.seq.Add(1)
	r.mu.Unlock()
	return run.Stats{Rows: 10, BytesProcessed: 100, BytesBilled: 100}, nil
}

// jobs counts the distinct job ids that ran. Tests read state through methods like this one so
// that a failed assertion never leaves a lock held (and the system under test stuck on it).
func (r *recorder) peakRunning() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak
}

func (r *recorder) jobs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.starts)
}

func (n *countingNotifier) count(runID string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.finished[runID]
}

type countingNotifier struct {
	mu       sync.Mutex
	finished map[string]int
}

func (n *countingNotifier) RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.finished[r.ID]++
}

type graph = maestrotest.Graph

// countingTopic counts what is published to it.
type countingTopic struct {
	queue.Topic
	n atomic.Int64
}

func (c *countingTopic) Publish(ctx context.Context, m *queue.Message) error {
	c.n.Add(1)
	return c.Topic.Publish(ctx, m)
}

type testBundle struct {
	tasksPublished *countingTopic
	store          *sqlitestore.Store
	sched          *scheduler.Scheduler
	exec           *recorder
	notifier       *countingNotifier
	graph          graph
}

// setup starts a scheduler and two workers over a SQLite store and an in-process queue that
// injects the given faults, on the graph g whose every table is in schedule "s".
func setup(t *testing.T, g graph, faults *memqueue.Faults) *testBundle {
	t.Helper()
	return setupWithLease(t, g, faults, 5*time.Second)
}

func setupWithLease(t *testing.T, g graph, faults *memqueue.Faults, lease time.Duration) *testBundle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	for name := range g {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: name, SQL: "SELECT 1", Kind: "query",
			Schedules: []string{"s", "narrow"}, Retries: 2}, User: "test", Create: true})
		require.NoError(t, err)
	}
	require.NoError(t, st.SchedulePut(ctx, spec.Schedule{Name: "s", Cron: "@daily"}))
	require.NoError(t, st.SchedulePut(ctx, spec.Schedule{Name: "narrow", Cron: "@daily", MaxParallel: 2}))

	q := memqueue.New(&memqueue.Options{Faults: faults})
	tasks, err := q.CreateSubscription(engine.TasksSubscription, queue.SubscriptionConfig{Topic: engine.TasksTopic, MaxOutstanding: 4, AckDeadline: time.Second})
	require.NoError(t, err)
	completions, err := q.CreateSubscription(engine.CompletionsSubscription, queue.SubscriptionConfig{Topic: engine.CompletionsTopic, MaxOutstanding: 4, AckDeadline: time.Second})
	require.NoError(t, err)

	b := &testBundle{store: st, exec: newRecorder(), notifier: &countingNotifier{finished: map[string]int{}}, graph: g}
	log := zap.NewNop()
	b.tasksPublished = &countingTopic{Topic: q.Topic(engine.TasksTopic)}
	b.sched = scheduler.New(st, b.tasksPublished,
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return g, nil }, b.notifier, log,
		scheduler.Config{GlobalLimit: 4, UndeliveredAfter: 300 * time.Millisecond, UnpropagatedAfter: 200 * time.Millisecond})
	var wg sync.WaitGroup
	for i := range 2 {
		// As in production, the workers dispatch and run what their nodes unlock; the second
		// also takes the next ready node into every slot it frees, as maestro dev's workers do,
		// so every test runs both ways side by side.
		cfg := worker.Config{ID: fmt.Sprintf("w%d", i), Lease: lease, DefaultRetryBackoff: 20 * time.Millisecond,
			Dispatcher: b.sched, Concurrency: 4}
		if i == 1 {
			cfg.Pull, cfg.MaxChain = true, -1
		}
		w := worker.New(st, q.Topic(engine.CompletionsTopic), map[string]worker.Executor{"query": b.exec}, log, cfg)
		wg.Add(1)
		go func() { defer wg.Done(); _ = engine.RunWorker(ctx, tasks, w) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = engine.RunScheduler(ctx, completions, b.sched, log, engine.SchedulerLoops{SweepEvery: 50 * time.Millisecond, NoTick: true})
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		q.Close()
		st.Close()
	})
	return b
}

func (b *testBundle) runToEnd(t *testing.T, p scheduler.StartParams) (*run.Run, map[string]*run.Node) {
	t.Helper()
	ctx := context.Background()
	r, err := b.sched.Start(ctx, p)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := b.store.RunGet(ctx, r.ID)
		require.NoError(t, err)
		return got.State.Terminal()
	}, 20*time.Second, 10*time.Millisecond, "run %s never finished", r.ID)
	got, err := b.store.RunGet(ctx, r.ID)
	require.NoError(t, err)
	nodes, err := b.store.NodeList(ctx, r.ID)
	require.NoError(t, err)
	byName := map[string]*run.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	return got, byName
}

// layered builds a random layered graph of n nodes with fan-in 1-3.
func layered(n int, seed uint64) graph {
	rnd := rand.New(rand.NewPCG(seed, 7))
	g := graph{}
	var names []string
	for i := range n {
		name := fmt.Sprintf("ds.t%03d", i)
		g[name] = nil
		if i >= 4 {
			for range 1 + rnd.IntN(3) {
				u := names[rnd.IntN(len(names)-2)]
				if !slices.Contains(g[name], u) {
					g[name] = append(g[name], u)
				}
			}
		}
		names = append(names, name)
	}
	return g
}

// assertInvariants checks, from the executor's own record, that every node ran after its
// upstream nodes succeeded and that no job id ran twice.
func (b *testBundle) assertInvariants(t *testing.T) {
	t.Helper()
	b.exec.mu.Lock()
	defer b.exec.mu.Unlock()
	for jobID, starts := range b.exec.starts {
		require.Len(t, starts, 1, "job %s ran %d times", jobID, len(starts))
		node := b.exec.nodeOf[jobID]
		for _, u := range b.graph[node] {
			end, ok := b.exec.ends[u]
			require.True(t, ok, "node %s ran although upstream %s never succeeded", node, u)
			require.Less(t, end, starts[0], "node %s started before upstream %s succeeded", node, u)
		}
	}
}

func TestEngine(t *testing.T) {
	t.Parallel()

	t.Run("RunsEveryNodeInOrderDespiteDuplicatedDelayedReorderedMessages", func(t *testing.T) {
		t.Parallel()
		b := setup(t, layered(60, 1), &memqueue.Faults{Seed: 42, Duplicate: 0.3, Delay: 0.3, MaxDelay: 30 * time.Millisecond, Reorder: 0.5})
		r, nodes := b.runToEnd(t, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		require.Len(t, nodes, 60)
		for name, n := range nodes {
			require.Equal(t, run.NodeSucceeded, n.State, name)
			require.Equal(t, 1, n.Attempt, name)
		}
		b.assertInvariants(t)
		require.Equal(t, 60, r.Counts[run.NodeSucceeded])
		require.EqualValues(t, 600, r.Stats.Rows, "run stats are the sum of its nodes")
		// The finish notification comes right after the state write.
		require.Eventually(t, func() bool { return b.notifier.count(r.ID) == 1 }, time.Second, 5*time.Millisecond)
	})

	t.Run("AChainRunsOnOneTaskMessage", func(t *testing.T) {
		t.Parallel()
		// Each finish hands the worker's place to the node it unlocked: no task is published
		// for b..e, and no completion makes the scheduler dispatch.
		b := setup(t, graph{"ds.a": nil, "ds.b": {"ds.a"}, "ds.c": {"ds.b"}, "ds.d": {"ds.c"}, "ds.e": {"ds.d"}}, nil)
		r, nodes := b.runToEnd(t, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		require.Len(t, nodes, 5)
		require.EqualValues(t, 1, b.tasksPublished.n.Load(), "tasks published for a chain of five")
		b.assertInvariants(t)
	})

	t.Run("RecoversLostMessagesThroughTheSweeper", func(t *testing.T) {
		t.Parallel()
		b := setup(t, layered(30, 2), &memqueue.Faults{Seed: 7, Drop: 0.25})
		r, nodes := b.runToEnd(t, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		for name, n := range nodes {
			require.Equal(t, run.NodeSucceeded, n.State, name)
		}
		b.assertInvariants(t)
		require.Eventually(t, func() bool { return b.notifier.count(r.ID) == 1 }, time.Second, 5*time.Millisecond,
			"the run finishes exactly once")
	})

	t.Run("RetriesARetryableFailureAsANewAttempt", func(t *testing.T) {
		t.Parallel()
		g := graph{"ds.a": nil, "ds.b": {"ds.a"}}
		b := setup(t, g, nil)
		b.exec.failures["ds.a"] = 2 // fails twice, then succeeds on attempt 3 (retries: 2)
		r, nodes := b.runToEnd(t, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		require.Equal(t, 3, nodes["ds.a"].Attempt)
		require.Equal(t, run.NodeSucceeded, nodes["ds.b"].State)
		require.Equal(t, 4, b.exec.jobs(), "a: three attempts with three job ids, b: one")
	})

	t.Run("FailureSkipsEverythingDownstreamAndResumeRunsOnlyThose", func(t *testing.T) {
		t.Parallel()
		g := graph{"ds.a": nil, "ds.b": {"ds.a"}, "ds.c": {"ds.b"}, "ds.d": nil, "ds.e": {"ds.d"}}
		b := setup(t, g, nil)
		b.exec.permanent["ds.b"] = true
		r, nodes := b.runToEnd(t, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.Equal(t, run.RunFailed, r.State)
		require.Equal(t, run.NodeSucceeded, nodes["ds.a"].State)
		require.Equal(t, run.NodeFailed, nodes["ds.b"].State)
		require.Equal(t, 1, nodes["ds.b"].Attempt, "a permanent failure is not retried")
		require.Contains(t, nodes["ds.b"].Error, "planted failure")
		require.Equal(t, run.NodeSkipped, nodes["ds.c"].State)
		require.Equal(t, run.NodeSucceeded, nodes["ds.e"].State)

		b.exec.mu.Lock()
		b.exec.permanent["ds.b"] = false
		b.exec.mu.Unlock()
		before := b.exec.jobs()
		resumed, err := b.sched.Resume(context.Background(), r.ID, "test")
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			got, err := b.store.RunGet(context.Background(), resumed.ID)
			require.NoError(t, err)
			return got.State == run.RunSucceeded
		}, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, before+2, b.exec.jobs(), "resume runs only b and c")
	})

	t.Run("AJobWithAnUnknownOutcomeRunsAgainUnderTheSameJobIDAfterItsLeaseExpires", func(t *testing.T) {
		t.Parallel()
		g := graph{"ds.a": nil, "ds.b": {"ds.a"}}
		b := setupWithLease(t, g, nil, 300*time.Millisecond)
		b.exec.unknown["ds.a"] = 1
		r, nodes := b.runToEnd(t, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		require.Equal(t, 1, nodes["ds.a"].Attempt, "not a new attempt: the same job, attached to again")
		b.exec.mu.Lock()
		defer b.exec.mu.Unlock()
		require.Len(t, b.exec.starts[nodes["ds.a"].JobID], 2)
		require.Len(t, b.exec.starts, 2, "a's job id twice, b's once")
	})

	t.Run("NeverRunsMoreThanTheGlobalLimitAtOnce", func(t *testing.T) {
		t.Parallel()
		g := graph{}
		for i := range 16 {
			g[fmt.Sprintf("ds.w%02d", i)] = nil
		}
		b := setup(t, g, nil) // global limit 4, and two workers that could take 8
		b.exec.delay = 20 * time.Millisecond
		r, _ := b.runToEnd(t, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		require.LessOrEqual(t, b.exec.peakRunning(), 4)
		require.GreaterOrEqual(t, b.exec.peakRunning(), 2, "independent nodes do run side by side")
	})

	t.Run("NeverRunsMoreThanTheRunsMaxParallelAtOnce", func(t *testing.T) {
		t.Parallel()
		g := graph{}
		for i := range 12 {
			g[fmt.Sprintf("ds.w%02d", i)] = nil
		}
		b := setup(t, g, nil)
		b.exec.delay = 20 * time.Millisecond
		r, _ := b.runToEnd(t, scheduler.StartParams{Schedule: "narrow", Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		require.Equal(t, 2, b.exec.peakRunning(), "the schedule's max_parallel is 2")
	})

	t.Run("RunsOneTableWithEverythingDownstream", func(t *testing.T) {
		t.Parallel()
		g := graph{"ds.a": nil, "ds.b": {"ds.a"}, "ds.c": {"ds.b"}, "ds.x": nil}
		b := setup(t, g, nil)
		r, nodes := b.runToEnd(t, scheduler.StartParams{Tables: []string{"ds.b"}, WithDownstream: true, Trigger: run.TriggerManual})
		require.Equal(t, run.RunSucceeded, r.State)
		require.Len(t, nodes, 2)
		require.Contains(t, nodes, "ds.b")
		require.Contains(t, nodes, "ds.c")
	})

	t.Run("CancelStopsEveryUnfinishedNode", func(t *testing.T) {
		t.Parallel()
		g := graph{"ds.a": nil, "ds.b": {"ds.a"}}
		b := setup(t, g, nil)
		b.exec.delay = 2 * time.Second
		ctx := context.Background()
		r, err := b.sched.Start(ctx, scheduler.StartParams{Schedule: "s", Trigger: run.TriggerManual})
		require.NoError(t, err)
		require.NoError(t, b.sched.Cancel(ctx, r.ID))
		got, err := b.store.RunGet(ctx, r.ID)
		require.NoError(t, err)
		require.Equal(t, run.RunCancelled, got.State)
		nodes, err := b.store.NodeList(ctx, r.ID)
		require.NoError(t, err)
		for _, n := range nodes {
			require.Equal(t, run.NodeCancelled, n.State, n.Name)
		}
		err = b.sched.Cancel(ctx, r.ID)
		require.True(t, errors.Is(err, store.ErrConflict), "a second cancel is refused: %v", err)
	})
}
