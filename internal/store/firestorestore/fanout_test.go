package firestorestore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
)

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// fanGraph builds a run: roots, then width nodes "b.NNNN" that each wait for every root, then
// the given tail nodes, each waiting for the node before it (the first for every b node).
func fanGraph(runID string, roots []string, width int, tail ...string) []*run.Node {
	var nodes []*run.Node
	var bs []string
	for i := range width {
		bs = append(bs, fmt.Sprintf("b.%04d", i))
	}
	for _, r := range roots {
		nodes = append(nodes, &run.Node{RunID: runID, Name: r, Kind: "query", State: run.NodeReady, Attempt: 1,
			MaxAttempts: 1, Downstream: bs})
	}
	for _, b := range bs {
		n := &run.Node{RunID: runID, Name: b, Kind: "query", State: run.NodePending, Attempt: 1, MaxAttempts: 1,
			Upstream: roots, PendingUpstream: len(roots)}
		if len(tail) > 0 {
			n.Downstream = tail[:1]
		}
		nodes = append(nodes, n)
	}
	for i, name := range tail {
		n := &run.Node{RunID: runID, Name: name, Kind: "query", State: run.NodePending, Attempt: 1, MaxAttempts: 1,
			Upstream: []string{tail[max(i-1, 0)]}, PendingUpstream: 1}
		if i == 0 {
			n.Upstream, n.PendingUpstream = bs, len(bs)
		}
		if i+1 < len(tail) {
			n.Downstream = tail[i+1 : i+2]
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func newRun(id string) *run.Run {
	return &run.Run{ID: id, Trigger: run.TriggerManual, State: run.RunRunning, CreatedBy: "test", CreatedAt: t0}
}

func claimAndFinishParams(t *testing.T, ctx context.Context, s store.Store, runID, name string, state run.NodeState) *store.NodeRecordOutcomeParams {
	t.Helper()
	lease := "lease-" + name
	_, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: runID, Name: name, Attempt: 1, Lease: lease,
		LeaseExpiresAt: t0.Add(time.Hour), Now: t0})
	require.NoError(t, err)
	return &store.NodeRecordOutcomeParams{RunID: runID, Name: name, Attempt: 1, Lease: lease, State: state,
		Now: t0.Add(time.Minute)}
}

func countStates(t *testing.T, ctx context.Context, s store.Store, runID string) map[run.NodeState]int {
	t.Helper()
	nodes, err := s.NodeList(ctx, runID)
	require.NoError(t, err)
	out := map[run.NodeState]int{}
	for _, n := range nodes {
		out[n.State]++
	}
	return out
}

func TestFanOut(t *testing.T) {
	t.Parallel()

	t.Run("ARunOfMoreNodesThanOneTransactionWritesIsCreatedWhole", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), openStore(t)
		nodes := fanGraph("big", []string{"a"}, 1198, "c")
		require.Len(t, nodes, 1200)
		require.NoError(t, s.RunCreate(ctx, newRun("big"), nodes))

		got, err := s.NodeList(ctx, "big")
		require.NoError(t, err)
		require.Equal(t, nodes[len(nodes)-1], got[len(got)-1], "c, with 1,198 upstream nodes, reads back exactly")
		require.Len(t, got, 1200)
		r, err := s.RunGet(ctx, "big")
		require.NoError(t, err)
		require.Equal(t, newRun("big"), r)

		err = s.RunCreate(ctx, newRun("big"), fanGraph("big", []string{"x"}, 600))
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = s.NodeGet(ctx, "big", "x")
		require.ErrorIs(t, err, store.ErrNotFound, "the losing create writes nothing")
	})

	t.Run("ASuccessUnlocksAThousandDownstreamNodes", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), openStore(t)
		require.NoError(t, s.RunCreate(ctx, newRun("r"), fanGraph("r", []string{"a"}, 1000)))

		n, res, err := s.NodeFinish(ctx, claimAndFinishParams(t, ctx, s, "r", "a", run.NodeSucceeded))
		require.NoError(t, err)
		require.True(t, n.Propagated)
		require.Len(t, res.Ready, 1000)
		require.Equal(t, "b.0000", res.Ready[0])
		require.False(t, res.RunDone)
		require.Equal(t, map[run.NodeState]int{run.NodeSucceeded: 1, run.NodeReady: 1000}, countStates(t, ctx, s, "r"))
		require.True(t, getNode(t, s, "r", "a").Propagated)

		dispatched, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0, Max: 700})
		require.NoError(t, err)
		require.Len(t, dispatched, 700, "a dispatch larger than one transaction")
	})

	t.Run("AHandoffOverAThousandDownstreamNodesClaimsTheFirstByNameInItsStep", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), openStore(t)
		nodes := fanGraph("r", []string{"a", "z"}, 1000)
		// Listed last, b.0000 is counted in the last step unless the steps go by name.
		nodes[0].Downstream = slices.Clone(nodes[0].Downstream)
		slices.Reverse(nodes[0].Downstream)
		require.NoError(t, s.RunCreate(ctx, newRun("r"), nodes))

		// z's worker read its clock after a's but commits first.
		pz := claimAndFinishParams(t, ctx, s, "r", "z", run.NodeSucceeded)
		pz.Now = t0.Add(2 * time.Minute)
		_, res, err := s.NodeFinish(ctx, pz)
		require.NoError(t, err)
		require.Empty(t, res.Ready)

		p := claimAndFinishParams(t, ctx, s, "r", "a", run.NodeSucceeded)
		p.Handoff = &store.Handoff{Lease: "next", LeaseExpiresAt: t0.Add(time.Hour)}
		_, res, err = s.NodeFinish(ctx, p)
		require.NoError(t, err)
		require.NotNil(t, res.Claimed)
		require.Equal(t, "b.0000", res.Claimed.Name)
		require.Equal(t, run.NodeRunning, res.Claimed.State)
		require.Len(t, res.Ready, 999)
		require.Equal(t, "b.0001", res.Ready[0])
		require.Equal(t, res.Claimed, getNode(t, s, "r", "b.0000"))
		require.Equal(t, t0.Add(2*time.Minute), res.Claimed.DispatchedAt, "not before z finished")
		require.Equal(t, t0.Add(2*time.Minute), res.Claimed.StartedAt, "not before z finished")

		none, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0.Add(time.Minute), GlobalLimit: 1})
		require.NoError(t, err)
		require.Empty(t, none, "the claimed node is busy")
		dispatched, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0.Add(time.Minute), Max: 1000})
		require.NoError(t, err)
		require.Len(t, dispatched, 999, "the claimed node is not a candidate")
		require.Equal(t, "b.0001", dispatched[0].Name)
	})

	t.Run("AFailureSkipsAThousandDownstreamNodesAndTheirDownstream", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), openStore(t)
		require.NoError(t, s.RunCreate(ctx, newRun("r"), fanGraph("r", []string{"a"}, 1000, "c", "d")))

		_, res, err := s.NodeFinish(ctx, claimAndFinishParams(t, ctx, s, "r", "a", run.NodeFailed))
		require.NoError(t, err)
		require.Len(t, res.Skipped, 1002)
		require.True(t, res.RunDone)
		nodes, err := s.NodeList(ctx, "r")
		require.NoError(t, err)
		for _, n := range nodes[1:] {
			require.Equal(t, run.NodeSkipped, n.State, n.Name)
			require.True(t, n.Propagated, n.Name)
			require.Equal(t, t0.Add(time.Minute), n.FinishedAt, n.Name)
		}
		stale, err := s.NodesStale(ctx, &store.NodesStaleParams{Now: t0.Add(time.Hour), FinishedBefore: t0.Add(time.Hour)})
		require.NoError(t, err)
		require.Equal(t, []string{"r"}, stale.Done)
		require.Empty(t, stale.Unpropagated)
	})

	t.Run("ConcurrentAndInterruptedPropagationsCountEachSuccessOnce", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), openStore(t)
		// Every b node waits for a and z: after a's success each must wait for exactly one.
		require.NoError(t, s.RunCreate(ctx, newRun("r"), fanGraph("r", []string{"a", "z"}, 1000)))
		_, err := s.NodeRecordOutcome(ctx, claimAndFinishParams(t, ctx, s, "r", "a", run.NodeSucceeded))
		require.NoError(t, err)

		// One propagation is interrupted once some of its steps committed.
		cut, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { _, err := s.NodePropagate(cut, "r", "a"); done <- err }()
		for getNode(t, s, "r", "b.0000").PendingUpstream == 2 && len(done) == 0 {
			time.Sleep(2 * time.Millisecond) // polling the emulator: nothing signals a committed step
		}
		cancel()
		<-done

		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.NodePropagate(ctx, "r", "a")
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		nodes, err := s.NodeList(ctx, "r")
		require.NoError(t, err)
		for _, n := range nodes {
			if n.Name == "a" || n.Name == "z" {
				continue
			}
			require.Equal(t, run.NodePending, n.State, n.Name)
			require.Equal(t, 1, n.PendingUpstream, n.Name)
		}
		require.True(t, getNode(t, s, "r", "a").Propagated)

		_, res, err := s.NodeFinish(ctx, claimAndFinishParams(t, ctx, s, "r", "z", run.NodeSucceeded))
		require.NoError(t, err)
		require.Len(t, res.Ready, 1000)
	})

	t.Run("CancellingARunOfMoreNodesThanOneTransactionWritesCancelsThemAll", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), openStore(t)
		require.NoError(t, s.RunCreate(ctx, newRun("r"), fanGraph("r", []string{"a"}, 1100, "c")))
		_, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r", Name: "a", Attempt: 1, Lease: "w", Now: t0})
		require.NoError(t, err)

		require.NoError(t, s.RunCancel(ctx, "r", t0.Add(time.Hour)))
		require.Equal(t, map[run.NodeState]int{run.NodeCancelled: 1102}, countStates(t, ctx, s, "r"))
		r, err := s.RunGet(ctx, "r")
		require.NoError(t, err)
		require.Equal(t, run.RunCancelled, r.State)
		require.ErrorIs(t, s.RunCancel(ctx, "r", t0.Add(2*time.Hour)), store.ErrConflict)
	})
}

func TestCollectionPrefixesKeepStoresApart(t *testing.T) {
	t.Parallel()
	if emulatorErr != nil {
		t.Skip("the Firestore emulator is not available:", emulatorErr)
	}
	ctx := t.Context()
	// Two stores on one project and one client: the same collection ids but for the prefix.
	client, err := firestore.NewClient(ctx, fmt.Sprintf("maestro-prefixes-%d", os.Getpid()))
	require.NoError(t, err)
	defer client.Close()
	blue, err := firestorestore.Open(ctx, "", firestorestore.WithClient(client), firestorestore.WithCollectionPrefix("blue_"))
	require.NoError(t, err)
	green, err := firestorestore.Open(ctx, "", firestorestore.WithClient(client), firestorestore.WithCollectionPrefix("green_"))
	require.NoError(t, err)

	require.NoError(t, blue.RunCreate(ctx, newRun("r"), fanGraph("r", []string{"a"}, 2)))
	require.NoError(t, green.RunCreate(ctx, newRun("r"), fanGraph("r", []string{"x"}, 1)), "the same id in another store")
	got, err := green.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "x", got[0].Name)
	_, err = blue.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r", Name: "a", Attempt: 1, Lease: "w", Now: t0})
	require.NoError(t, err)
	stale, err := green.NodesStale(ctx, &store.NodesStaleParams{Now: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, stale.ExpiredLeases, "blue's running node is not green's")
	require.NoError(t, blue.Close(), "a store leaves a client it was given open")
	_, err = green.RunGet(ctx, "r")
	require.NoError(t, err)
}

func getNode(t *testing.T, s store.Store, runID, name string) *run.Node {
	t.Helper()
	n, err := s.NodeGet(context.Background(), runID, name)
	require.NoError(t, err)
	return n
}

func TestDispatchPassesOverNodesWaitingForTheirRetry(t *testing.T) {
	t.Parallel()
	ctx, s := t.Context(), openStore(t)
	var nodes []*run.Node
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		n := &run.Node{Name: name, Kind: "query", State: run.NodeReady, Attempt: 2, MaxAttempts: 3}
		if name < "d" {
			n.NotBefore = t0.Add(time.Hour) // a retry in backoff
		}
		nodes = append(nodes, n)
	}
	require.NoError(t, s.RunCreate(ctx, newRun("r"), nodes))
	got, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0, Max: 1})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "d", got[0].Name, "read page by page past the nodes in backoff")
	got, err = s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0, Max: 2})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "e", got[0].Name)
	got, err = s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0.Add(time.Hour), Max: 2})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].Name)
	require.Equal(t, "b", got[1].Name)
}

// TestConcurrentFinishesUnlockAJoinOnce finishes the 40 upstream nodes of one join at once, as
// 40 workers would: every success is counted, and exactly one finish reports the join ready.
func TestConcurrentFinishesUnlockAJoinOnce(t *testing.T) {
	t.Parallel()
	ctx, s := t.Context(), openStore(t)
	var roots []string
	for i := range 40 {
		roots = append(roots, fmt.Sprintf("root.%02d", i))
	}
	nodes := fanGraph("r", roots, 1)
	require.NoError(t, s.RunCreate(ctx, newRun("r"), nodes))
	params := make([]*store.NodeRecordOutcomeParams, len(roots))
	for i, root := range roots {
		params[i] = claimAndFinishParams(t, ctx, s, "r", root, run.NodeSucceeded)
	}
	results := make([]*store.PropagateResult, len(roots))
	errs := make([]error, len(roots))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range roots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, results[i], errs[i] = s.NodeFinish(ctx, params[i])
		}()
	}
	close(start)
	wg.Wait()
	unlocked := 0
	for i := range roots {
		require.NoError(t, errs[i])
		require.False(t, results[i].RunDone)
		if len(results[i].Ready) > 0 {
			require.Equal(t, []string{"b.0000"}, results[i].Ready)
			unlocked++
		}
	}
	require.Equal(t, 1, unlocked)
	join := getNode(t, s, "r", "b.0000")
	require.Equal(t, run.NodeReady, join.State)
	require.Equal(t, 0, join.PendingUpstream)

	_, res, err := s.NodeFinish(ctx, claimAndFinishParams(t, ctx, s, "r", "b.0000", run.NodeSucceeded))
	require.NoError(t, err)
	require.True(t, res.RunDone)
}
