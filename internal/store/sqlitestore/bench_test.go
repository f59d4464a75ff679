package sqlitestore

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// layeredGraph builds a run of layers*width nodes; each node after the first layer waits for two
// nodes of the layer before it.
func layeredGraph(runID string, layers, width int) []*run.Node {
	name := func(l, i int) string { return fmt.Sprintf("l%03d.n%03d", l, i) }
	nodes := make([]*run.Node, 0, layers*width)
	for l := range layers {
		for i := range width {
			n := &run.Node{RunID: runID, Name: name(l, i), Kind: "query", State: run.NodeReady, Attempt: 1, MaxAttempts: 3}
			if l > 0 {
				n.Upstream = []string{name(l-1, i), name(l-1, (i+1)%width)}
				n.PendingUpstream = 2
				n.State = run.NodePending
			}
			if l < layers-1 {
				n.Downstream = []string{name(l+1, i), name(l+1, (i+width-1)%width)}
			}
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// BenchmarkNodeLifecycle pushes a 10,000-node layered run through the scheduling path the way the
// scheduler and workers do: for each node claim, record success, propagate, and dispatch (after
// every node, or once the dispatched nodes ran out: a scheduler that batches completions).
func BenchmarkNodeLifecycle(b *testing.B) {
	b.Run("DispatchPerNode", func(b *testing.B) { benchmarkNodeLifecycle(b, false) })
	b.Run("DispatchPerBatch", func(b *testing.B) { benchmarkNodeLifecycle(b, true) })
}

func benchmarkNodeLifecycle(b *testing.B, batch bool) {
	const layers, width = 100, 100
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Unix(1_700_000_000, 0).UTC()
	var total, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runID := fmt.Sprintf("run-%d", i)
		if err := s.RunCreate(ctx, &run.Run{ID: runID, State: run.RunRunning, CreatedAt: now, MaxParallel: 0},
			layeredGraph(runID, layers, width)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, startCPU := time.Now(), cpuTime()
		queue, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: now, GlobalLimit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		done := 0
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			lease := "w-" + n.Name
			if _, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: runID, Name: n.Name, Attempt: n.Attempt,
				Lease: lease, LeaseExpiresAt: now.Add(time.Minute), JobID: run.JobID(runID, n.Name, n.Attempt), Now: now}); err != nil {
				b.Fatal(err)
			}
			if _, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: runID, Name: n.Name,
				Attempt: n.Attempt, Lease: lease, State: run.NodeSucceeded, Now: now,
				Stats: run.Stats{BytesProcessed: 1 << 20, Rows: 10}}); err != nil {
				b.Fatal(err)
			}
			res, err := s.NodePropagate(ctx, runID, n.Name)
			if err != nil {
				b.Fatal(err)
			}
			done++
			if batch && len(queue) > 0 {
				continue
			}
			more, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: now, GlobalLimit: 1000})
			if err != nil {
				b.Fatal(err)
			}
			queue = append(queue, more...)
			if res.RunDone && len(queue) > 0 {
				b.Fatalf("run done with %d nodes queued", len(queue))
			}
		}
		total += time.Since(start)
		cpu += cpuTime() - startCPU
		if done != layers*width {
			b.Fatalf("ran %d nodes, want %d", done, layers*width)
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*layers*width), "ns/node")
	b.ReportMetric(float64(b.N*layers*width)/total.Seconds(), "nodes/s")
	// CPU time per node says what the code costs when other processes share the cores.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*layers*width), "cpu-ns/node")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
