package firestorestore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// pairs builds n independent pairs "u.NNNNNN" → "d.NNNNNN": every u node in state up (with a
// lease when running), every d node pending on its u node.
func pairs(runID string, n int, up run.NodeState) []*run.Node {
	nodes := make([]*run.Node, 0, 2*n)
	for i := range n {
		u, d := fmt.Sprintf("u.%06d", i), fmt.Sprintf("d.%06d", i)
		un := &run.Node{RunID: runID, Name: u, Kind: "query", State: up, Attempt: 1, MaxAttempts: 3,
			Downstream: []string{d}}
		if up == run.NodeRunning {
			un.Lease, un.LeaseExpiresAt, un.StartedAt = "lease-"+u, t0.Add(time.Hour), t0
		}
		nodes = append(nodes, un, &run.Node{RunID: runID, Name: d, Kind: "query", State: run.NodePending,
			Attempt: 1, MaxAttempts: 3, Upstream: []string{u}, PendingUpstream: 1})
	}
	return nodes
}

// The benchmarks time the store operations on a scheduling hop (a worker finishes a node, the
// scheduler dispatches what became ready, a worker claims it) one at a time, against the
// emulator: a figure for the emulator on this machine, not for Firestore.

func BenchmarkNodeClaim(b *testing.B) {
	ctx, s := b.Context(), openStore(b)
	runID := fmt.Sprintf("claim-%d", b.N)
	if err := s.RunCreate(ctx, newRun(runID), pairs(runID, b.N, run.NodeReady)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		u := fmt.Sprintf("u.%06d", i)
		if _, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: runID, Name: u, Attempt: 1, Lease: "w",
			LeaseExpiresAt: t0.Add(time.Hour), Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNodeFinish(b *testing.B) {
	ctx, s := b.Context(), openStore(b)
	runID := fmt.Sprintf("finish-%d", b.N)
	if err := s.RunCreate(ctx, newRun(runID), pairs(runID, b.N, run.NodeRunning)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		u := fmt.Sprintf("u.%06d", i)
		_, res, err := s.NodeFinish(ctx, &store.NodeRecordOutcomeParams{RunID: runID, Name: u, Attempt: 1,
			Lease: "lease-" + u, State: run.NodeSucceeded, Now: t0.Add(time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Ready) != 1 {
			b.Fatalf("finishing %s made %v ready", u, res.Ready)
		}
	}
}

// BenchmarkNodeFinishHandoff finishes an upstream node and, in the same commit, claims the
// downstream node it makes ready: the whole hop when the worker runs what it unlocks.
func BenchmarkNodeFinishHandoff(b *testing.B) {
	ctx, s := b.Context(), openStore(b)
	runID := fmt.Sprintf("handoff-%d", b.N)
	if err := s.RunCreate(ctx, newRun(runID), pairs(runID, b.N, run.NodeRunning)); err != nil {
		b.Fatal(err)
	}
	handoff := &store.Handoff{Lease: "w", LeaseExpiresAt: t0.Add(time.Hour)}
	b.ResetTimer()
	for i := range b.N {
		u, d := fmt.Sprintf("u.%06d", i), fmt.Sprintf("d.%06d", i)
		_, res, err := s.NodeFinish(ctx, &store.NodeRecordOutcomeParams{RunID: runID, Name: u, Attempt: 1,
			Lease: "lease-" + u, State: run.NodeSucceeded, Now: t0.Add(time.Minute), Handoff: handoff})
		if err != nil {
			b.Fatal(err)
		}
		if res.Claimed == nil || res.Claimed.Name != d || res.Claimed.State != run.NodeRunning {
			b.Fatalf("finishing %s claimed %+v", u, res.Claimed)
		}
	}
}

func BenchmarkNodesDispatch(b *testing.B) {
	ctx, s := b.Context(), openStore(b)
	runID := fmt.Sprintf("dispatch-%d", b.N)
	r := newRun(runID)
	r.MaxParallel = 2 * b.N // counted, never reached
	if err := s.RunCreate(ctx, r, pairs(runID, b.N, run.NodeReady)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		nodes, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0, GlobalLimit: 1 << 20, Max: 1})
		if err != nil {
			b.Fatal(err)
		}
		if len(nodes) != 1 {
			b.Fatalf("dispatched %d nodes", len(nodes))
		}
	}
}

// BenchmarkHop is one whole hop through the store: finish an upstream node (which makes its
// downstream ready), dispatch, claim the downstream node.
func BenchmarkHop(b *testing.B) {
	ctx, s := b.Context(), openStore(b)
	runID := fmt.Sprintf("hop-%d", b.N)
	if err := s.RunCreate(ctx, newRun(runID), pairs(runID, b.N, run.NodeRunning)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		u, d := fmt.Sprintf("u.%06d", i), fmt.Sprintf("d.%06d", i)
		if _, _, err := s.NodeFinish(ctx, &store.NodeRecordOutcomeParams{RunID: runID, Name: u, Attempt: 1,
			Lease: "lease-" + u, State: run.NodeSucceeded, Now: t0.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
		nodes, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0, GlobalLimit: 1 << 20, Max: 500})
		if err != nil {
			b.Fatal(err)
		}
		if len(nodes) != 1 || nodes[0].Name != d {
			b.Fatalf("dispatched %d nodes, wanted %s", len(nodes), d)
		}
		if _, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: runID, Name: d, Attempt: 1, Lease: "w",
			LeaseExpiresAt: t0.Add(time.Hour), Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
}
