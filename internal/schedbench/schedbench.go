// Package schedbench measures the scheduler and worker loop on the embedded backends: a random
// layered graph of no-op tasks goes through the real store, queue, scheduler and workers, and
// the figures come from the timestamps the store recorded.
package schedbench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/worker"
)

// Config configures one benchmark.
type Config struct {
	Nodes int
	// Layers in the random graph. Defaults to 20.
	Layers int
	// Workers running tasks at once. Defaults to 4, maestro dev's default.
	Workers int
	Seed    uint64
	// GlobalLimit bounds nodes dispatched or running at once; 0: no bound.
	GlobalLimit int
	// Dir holds the store file.
	Dir string
}

// Result is what one benchmark measured.
type Result struct {
	Nodes     int
	Seconds   float64
	NodesPerS float64
	HopP50    time.Duration
	HopP99    time.Duration
	// Start is the part of Seconds the run's start took (reading the tables, building the graph,
	// saving the run), before any node ran.
	Start time.Duration
}

// Detail is a line about where the time went, printed before the result's.
func (r Result) Detail() string {
	after := r.Seconds - r.Start.Seconds()
	return fmt.Sprintf("start_ms=%.0f nodes_per_s_after_start=%.0f", ms(r.Start), float64(r.Nodes)/after)
}

func (r Result) String() string {
	return fmt.Sprintf("nodes=%d seconds=%.3f nodes_per_s=%.0f hop_p50_ms=%.3f hop_p99_ms=%.3f",
		r.Nodes, r.Seconds, r.NodesPerS, ms(r.HopP50), ms(r.HopP99))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// graph is a fixed dependency graph.
type graph struct{ up, down map[string][]string }

func (g *graph) Upstream(n string) []string   { return g.up[n] }
func (g *graph) Downstream(n string) []string { return g.down[n] }

// RandomGraph returns a layered graph: every node past the first layer reads 1-5 nodes of
// earlier layers.
func RandomGraph(nodes, layers int, seed uint64) (names []string, g *graph) {
	rnd := rand.New(rand.NewPCG(seed, seed+1))
	g = &graph{up: map[string][]string{}, down: map[string][]string{}}
	perLayer := max(1, nodes/layers)
	var earlier []string
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("bench.t%05d", i)
		layer := min(i/perLayer, layers-1)
		if layer > 0 {
			fanIn := 1 + rnd.IntN(5)
			seen := map[string]bool{}
			for j := 0; j < fanIn; j++ {
				u := earlier[rnd.IntN(len(earlier))]
				if !seen[u] {
					seen[u] = true
					g.up[name] = append(g.up[name], u)
					g.down[u] = append(g.down[u], name)
				}
			}
		}
		names = append(names, name)
		if (i+1)%perLayer == 0 || i == nodes-1 {
			earlier = names[:len(names):len(names)]
		}
	}
	return names, g
}

// noop runs no job; it records when each node's work began and ended, on the worker's clock:
// the store's timestamps are read before a commit, and a node handed off in its upstream's
// finish would look as if it started the instant its upstream ended.
type noop struct {
	mu         sync.Mutex
	began, end map[string]time.Time
}

func newNoop() *noop { return &noop{began: map[string]time.Time{}, end: map[string]time.Time{}} }

func (x *noop) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	now := time.Now()
	if _, ok := x.began[n.Name]; !ok {
		x.began[n.Name] = now
	}
	x.end[n.Name] = now
	return run.Stats{Rows: 1}, nil
}

// Backends are what a benchmark runs on.
type Backends struct {
	Store       store.Store
	Tasks       queue.Topic
	Completions queue.Topic
	// TaskSub and CompletionSub receive from Tasks and Completions.
	TaskSub       queue.Subscription
	CompletionSub queue.Subscription
}

// Run runs one benchmark on the embedded backends (SQLite in cfg.Dir, the in-process queue).
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(cfg.Dir, "bench.db"))
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	q := memqueue.New(nil)
	defer q.Close()
	tasks, err := q.CreateSubscription(engine.TasksSubscription, queue.SubscriptionConfig{Topic: engine.TasksTopic, MaxOutstanding: cfg.Workers})
	if err != nil {
		return Result{}, err
	}
	completions, err := q.CreateSubscription(engine.CompletionsSubscription, queue.SubscriptionConfig{Topic: engine.CompletionsTopic, MaxOutstanding: 8})
	if err != nil {
		return Result{}, err
	}
	return RunOn(ctx, cfg, Backends{Store: st, Tasks: q.Topic(engine.TasksTopic), Completions: q.Topic(engine.CompletionsTopic),
		TaskSub: tasks, CompletionSub: completions})
}

// RunOn runs one benchmark on b, whose store must be empty of tables named bench.*. The
// subscriptions' MaxOutstanding bounds how many tasks run at once.
func RunOn(ctx context.Context, cfg Config, b Backends) (Result, error) {
	if cfg.Layers == 0 {
		cfg.Layers = 20
	}
	log := zap.NewNop()
	st := b.Store
	names, g := RandomGraph(cfg.Nodes, cfg.Layers, cfg.Seed)
	for _, n := range names {
		t := spec.Table{Name: n, SQL: "SELECT 1", Kind: "query", Schedules: []string{"bench"}}
		if _, err := st.TablePut(ctx, &store.TablePutParams{Table: t, User: "bench", Create: true}); err != nil {
			return Result{}, fmt.Errorf("error saving bench tables: %w", err)
		}
	}
	if err := st.SchedulePut(ctx, spec.Schedule{Name: "bench", Cron: "@yearly", TimeZone: "UTC"}); err != nil {
		return Result{}, err
	}
	tasks, completions := b.TaskSub, b.CompletionSub
	sched := scheduler.New(st, b.Tasks,
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return g, nil }, nil, log,
		scheduler.Config{UndeliveredAfter: time.Minute, UnpropagatedAfter: time.Minute, GlobalLimit: cfg.GlobalLimit})
	exec := newNoop()
	w := worker.New(st, b.Completions, map[string]worker.Executor{"query": exec}, log, worker.Config{Dispatcher: sched, Concurrency: cfg.Workers, Pull: true, MaxChain: -1})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 2)
	go func() { done <- engine.RunWorker(ctx, tasks, w) }()
	go func() {
		done <- engine.RunScheduler(ctx, completions, sched, log, engine.SchedulerLoops{SweepEvery: 5 * time.Second, NoTick: true})
	}()

	start := time.Now()
	r, err := sched.Start(ctx, scheduler.StartParams{Schedule: "bench", Trigger: run.TriggerManual})
	if err != nil {
		return Result{}, err
	}
	started := time.Since(start)
	for {
		got, err := st.RunGet(ctx, r.ID)
		if err != nil {
			return Result{}, err
		}
		if got.State.Terminal() {
			if got.State != run.RunSucceeded {
				return Result{}, fmt.Errorf("bench run ended %s", got.State)
			}
			break
		}
		// Often enough for the elapsed time, seldom enough not to load the store it measures.
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	if err := errors.Join(<-done, <-done); err != nil {
		return Result{}, err
	}

	nodes, err := st.NodeList(context.Background(), r.ID)
	if err != nil {
		return Result{}, err
	}
	var hops []time.Duration
	for _, n := range nodes {
		if len(n.Upstream) == 0 {
			continue
		}
		var last time.Time
		for _, u := range n.Upstream {
			if exec.end[u].After(last) {
				last = exec.end[u]
			}
		}
		hops = append(hops, exec.began[n.Name].Sub(last))
	}
	sort.Slice(hops, func(i, j int) bool { return hops[i] < hops[j] })
	res := Result{Nodes: len(nodes), Seconds: elapsed.Seconds(), NodesPerS: float64(len(nodes)) / elapsed.Seconds(), Start: started}
	if len(hops) > 0 {
		res.HopP50 = hops[len(hops)/2]
		res.HopP99 = hops[min(len(hops)-1, len(hops)*99/100)]
	}
	return res, nil
}
