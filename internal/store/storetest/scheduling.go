package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// diamond: a feeds b and c, which both feed d.
var diamond = deps{"a": nil, "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}

func (h *harness) nodePropagate(t *testing.T) {
	h.test(t, "UnlocksADiamondsJoinOnlyAfterBothBranchesSucceeded", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, diamond)
		res := finishAndPropagate(t, ctx, s, "r1", "a", run.NodeSucceeded)
		require.ElementsMatch(t, []string{"b", "c"}, res.Ready)
		require.Empty(t, res.Skipped)
		require.False(t, res.RunDone)
		require.Equal(t, 2, getNode(t, ctx, s, "r1", "d").PendingUpstream)

		res = finishAndPropagate(t, ctx, s, "r1", "b", run.NodeSucceeded)
		require.Empty(t, res.Ready)
		d := getNode(t, ctx, s, "r1", "d")
		require.Equal(t, run.NodePending, d.State)
		require.Equal(t, 1, d.PendingUpstream)

		res = finishAndPropagate(t, ctx, s, "r1", "c", run.NodeSucceeded)
		require.Equal(t, []string{"d"}, res.Ready)
		require.False(t, res.RunDone)
		d = getNode(t, ctx, s, "r1", "d")
		require.Equal(t, run.NodeReady, d.State)
		require.Equal(t, 0, d.PendingUpstream)
		require.True(t, d.DispatchedAt.IsZero())

		res = finishAndPropagate(t, ctx, s, "r1", "d", run.NodeSucceeded)
		require.Empty(t, res.Ready)
		require.True(t, res.RunDone)
		for _, n := range listNodes(t, ctx, s, "r1") {
			require.True(t, n.Propagated, n.Name)
		}
	})

	h.test(t, "AFailureSkipsThePendingDownstreamTransitively", func(t *testing.T, ctx context.Context, s store.Store) {
		// a and b are roots; c needs both; d needs c; e needs b only; f needs d and e.
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": {"a", "b"}, "d": {"c"}, "e": {"b"}, "f": {"d", "e"}})
		finishAndPropagate(t, ctx, s, "r1", "b", run.NodeSucceeded)
		finishAndPropagate(t, ctx, s, "r1", "e", run.NodeSucceeded)

		failed := finish(t, ctx, s, "r1", "a", run.NodeFailed, time.Minute)
		res := propagate(t, ctx, s, "r1", "a")
		require.ElementsMatch(t, []string{"c", "d", "f"}, res.Skipped)
		require.Empty(t, res.Ready)
		require.True(t, res.RunDone, "every node is terminal and propagated")
		require.Equal(t, map[string]run.NodeState{
			"a": run.NodeFailed, "b": run.NodeSucceeded, "c": run.NodeSkipped, "d": run.NodeSkipped,
			"e": run.NodeSucceeded, "f": run.NodeSkipped,
		}, states(t, ctx, s, "r1"))
		for _, name := range []string{"c", "d", "f"} {
			n := getNode(t, ctx, s, "r1", name)
			require.True(t, n.Propagated, "a node skipped with its downstream needs no propagation of its own")
			require.Equal(t, failed.FinishedAt, n.FinishedAt)
		}
	})

	h.test(t, "AFailureLeavesDownstreamNodesThatAlreadySucceeded", func(t *testing.T, ctx context.Context, s store.Store) {
		// A resumed run: x succeeded in the earlier run; a is re-run and fails.
		nodes := graph("r1", deps{"a": nil, "x": {"a"}, "y": {"x"}, "z": {"a"}})
		for _, n := range nodes {
			if n.Name == "x" {
				n.State, n.PendingUpstream, n.Propagated, n.FinishedAt = run.NodeSucceeded, 0, true, at(-time.Hour)
			}
			if n.Name == "y" {
				n.State, n.PendingUpstream = run.NodeReady, 0
			}
		}
		require.NoError(t, s.RunCreate(ctx, newRun("r1", 0, 0), nodes))
		x := getNode(t, ctx, s, "r1", "x")

		finish(t, ctx, s, "r1", "a", run.NodeFailed, time.Minute)
		res := propagate(t, ctx, s, "r1", "a")
		require.Equal(t, []string{"z"}, res.Skipped)
		require.False(t, res.RunDone, "y is still ready")
		require.Equal(t, x, getNode(t, ctx, s, "r1", "x"))
		require.Equal(t, run.NodeReady, getNode(t, ctx, s, "r1", "y").State)
	})

	h.test(t, "ASecondCallChangesNothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, diamond)
		finishAndPropagate(t, ctx, s, "r1", "a", run.NodeSucceeded)
		finishAndPropagate(t, ctx, s, "r1", "b", run.NodeSucceeded)
		before := listNodes(t, ctx, s, "r1")

		res := propagate(t, ctx, s, "r1", "b")
		require.Empty(t, res.Ready)
		require.Empty(t, res.Skipped)
		require.False(t, res.RunDone)
		require.Equal(t, before, listNodes(t, ctx, s, "r1"), "d must not be decremented twice")

		finish(t, ctx, s, "r1", "c", run.NodeFailed, time.Minute)
		require.Equal(t, []string{"d"}, propagate(t, ctx, s, "r1", "c").Skipped)
		before = listNodes(t, ctx, s, "r1")
		res = propagate(t, ctx, s, "r1", "c")
		require.Empty(t, res.Skipped)
		require.Equal(t, before, listNodes(t, ctx, s, "r1"))
	})

	h.test(t, "ConcurrentCallsApplyTheOutcomeOnce", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, diamond)
		finishAndPropagate(t, ctx, s, "r1", "a", run.NodeSucceeded)
		finish(t, ctx, s, "r1", "b", run.NodeSucceeded, time.Minute)
		results := make([]*store.PropagateResult, 6)
		errs := concurrently(len(results), func(i int) error {
			var err error
			results[i], err = s.NodePropagate(ctx, "r1", "b")
			return err
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, 1, getNode(t, ctx, s, "r1", "d").PendingUpstream)
	})

	h.test(t, "ANodeThatIsNotTerminalChangesNothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, diamond)
		claim(t, ctx, s, "r1", "a")
		before := listNodes(t, ctx, s, "r1")
		for _, name := range []string{"a", "b"} { // running, pending
			res := propagate(t, ctx, s, "r1", name)
			require.Equal(t, &store.PropagateResult{}, emptied(res))
		}
		require.Equal(t, before, listNodes(t, ctx, s, "r1"))
		_, err := s.NodePropagate(ctx, "r1", "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	h.test(t, "RunDoneWaitsForEveryNodeToBePropagated", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil})
		finish(t, ctx, s, "r1", "a", run.NodeSucceeded, time.Second)
		finish(t, ctx, s, "r1", "b", run.NodeSucceeded, time.Second)
		require.False(t, propagate(t, ctx, s, "r1", "a").RunDone, "b is terminal but not propagated")
		require.True(t, propagate(t, ctx, s, "r1", "b").RunDone)
	})

	h.test(t, "ACancelledNodeSkipsItsDownstream", func(t *testing.T, ctx context.Context, s store.Store) {
		// A resumed run may carry a node cancelled in the earlier run.
		nodes := graph("r1", deps{"a": nil, "b": {"a"}})
		nodes[0].State, nodes[0].FinishedAt = run.NodeCancelled, t0
		require.NoError(t, s.RunCreate(ctx, newRun("r1", 0, 0), nodes))
		res := propagate(t, ctx, s, "r1", "a")
		require.Equal(t, []string{"b"}, res.Skipped)
		require.True(t, res.RunDone)
	})
}

// emptied normalises an empty result so that nil and empty slices compare equal.
func emptied(r *store.PropagateResult) *store.PropagateResult {
	out := *r
	if len(out.Ready) == 0 {
		out.Ready = nil
	}
	if len(out.Skipped) == 0 {
		out.Skipped = nil
	}
	return &out
}

func (h *harness) nodesDispatch(t *testing.T) {
	h.test(t, "ReturnsReadyNodesOnceAndMarksThemDispatched", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": {"a"}})
		nodes, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{"r1/a", "r1/b"}, nodeKeys(nodes))
		for _, n := range nodes {
			require.Equal(t, t0, n.DispatchedAt)
			require.Equal(t, run.NodeReady, n.State)
			require.Equal(t, n, getNode(t, ctx, s, "r1", n.Name))
		}
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: at(time.Second)}), "dispatched already")

		finishAndPropagate(t, ctx, s, "r1", "a", run.NodeSucceeded)
		require.Equal(t, []string{"r1/c"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: at(time.Second)}))
	})

	h.test(t, "RespectsTheRunsMaxParallel", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 2, deps{"a": nil, "b": nil, "c": nil, "d": nil, "e": nil})
		first := dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0})
		require.Len(t, first, 2)
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}), "two dispatched")

		name := first[0][len("r1/"):]
		claim(t, ctx, s, "r1", name)
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}), "one running, one dispatched")

		running := getNode(t, ctx, s, "r1", name)
		_, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: name, Attempt: 1,
			Lease: running.Lease, State: run.NodeSucceeded, Now: t0})
		require.NoError(t, err)
		require.Len(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}), 1, "a slot freed")
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}))
	})

	h.test(t, "DispatchesNothingWhileARunIsOverItsMaxParallel", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 1, deps{"a": nil, "b": nil, "c": nil, "d": nil})
		require.Equal(t, []string{"r1/a"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}))
		// A redelivered message can let a worker claim a node that was never dispatched.
		claim(t, ctx, s, "r1", "b")
		claim(t, ctx, s, "r1", "c")
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}), "three busy, one allowed")
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, GlobalLimit: 1}))
	})

	h.test(t, "RespectsTheGlobalLimitAcrossRunsOldestRunFirst", func(t *testing.T, ctx context.Context, s store.Store) {
		// r2 is created first but is the newer run.
		createRun(t, ctx, s, "r2", time.Minute, 0, deps{"a": nil, "b": nil, "c": nil})
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": nil})
		got := dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, GlobalLimit: 4})
		require.Len(t, got, 4)
		require.ElementsMatch(t, []string{"r1/a", "r1/b", "r1/c"}, got[:3], "the oldest run goes first")
		require.Contains(t, []string{"r2/a", "r2/b", "r2/c"}, got[3])
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, GlobalLimit: 4}))

		claim(t, ctx, s, "r1", "a")
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, GlobalLimit: 4}), "running nodes count too")
		running := getNode(t, ctx, s, "r1", "a")
		_, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a", Attempt: 1,
			Lease: running.Lease, State: run.NodeFailed, Now: t0})
		require.NoError(t, err)
		require.Len(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, GlobalLimit: 4}), 1)
		require.Len(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}), 1, "no limit: the rest")
	})

	h.test(t, "PicksTheDeepestReadyNodesFirst", func(t *testing.T, ctx context.Context, s store.Store) {
		// Depth is the scheduler's to set; the store orders by it and keeps it.
		r := newRun("r1", 0, 0)
		nodes := []*run.Node{}
		for name, depth := range map[string]int{"a": 0, "b": 3, "c": 1, "d": 3, "e": 0} {
			nodes = append(nodes, &run.Node{RunID: "r1", Name: name, Kind: "query", State: run.NodeReady,
				Attempt: 1, MaxAttempts: 1, Depth: depth})
		}
		require.NoError(t, s.RunCreate(ctx, r, nodes))
		require.Equal(t, 3, getNode(t, ctx, s, "r1", "b").Depth)
		require.Equal(t, []string{"r1/b", "r1/d"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, GlobalLimit: 2}),
			"with room for two, the two deepest, by name")
		require.Equal(t, []string{"r1/c", "r1/a", "r1/e"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}),
			"the rest, deepest first")
	})

	h.test(t, "ReturnsAtMostMax", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": nil})
		createRun(t, ctx, s, "r2", time.Second, 0, deps{"a": nil, "b": nil, "c": nil})
		require.Len(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, Max: 2}), 2)
		require.Len(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, Max: 2}), 2)
		require.Len(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, Max: 5}), 2)
	})

	h.test(t, "NeverReturnsNodesOfFinishedOrCancelledRuns", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil})
		createRun(t, ctx, s, "r2", 0, 0, deps{"a": nil})
		createRun(t, ctx, s, "r3", 0, 0, deps{"a": nil})
		require.NoError(t, s.RunFinish(ctx, &store.RunFinishParams{ID: "r1", State: run.RunFailed, FinishedAt: t0}))
		require.NoError(t, s.RunCancel(ctx, "r2", t0))
		require.Equal(t, []string{"r3/a"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}))
	})
}

func (h *harness) nodesStale(t *testing.T) {
	stale := func(t *testing.T, ctx context.Context, s store.Store, p store.NodesStaleParams) *store.StaleNodes {
		t.Helper()
		out, err := s.NodesStale(ctx, &p)
		require.NoError(t, err)
		return out
	}

	h.test(t, "FindsRunningNodesWhoseLeaseExpired", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil})
		claim(t, ctx, s, "r1", "a") // lease until t0+1m
		require.Empty(t, stale(t, ctx, s, store.NodesStaleParams{Now: at(30 * time.Second)}).ExpiredLeases)
		got := stale(t, ctx, s, store.NodesStaleParams{Now: at(2 * time.Minute)})
		require.Equal(t, []string{"r1/a"}, nodeKeys(got.ExpiredLeases))
		require.Equal(t, getNode(t, ctx, s, "r1", "a"), got.ExpiredLeases[0])
		require.Empty(t, got.Undelivered)
		require.Empty(t, got.Unpropagated)
		require.Empty(t, got.Done)
	})

	h.test(t, "FindsDispatchedNodesNobodyClaimed", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": nil})
		dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, Max: 2})
		claim(t, ctx, s, "r1", "a")
		require.Empty(t, stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Second), DispatchedBefore: t0}).Undelivered)
		got := stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Second), DispatchedBefore: at(time.Second)})
		require.Equal(t, []string{"r1/b"}, nodeKeys(got.Undelivered), "c was never dispatched, a was claimed")
	})

	h.test(t, "RedispatchingALostTaskWaitsAWholeThresholdAgainAndOnlyOneSweeperWins", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil})
		dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0})
		lost := stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Minute), DispatchedBefore: at(30 * time.Second)}).Undelivered
		require.Len(t, lost, 1)
		p := &store.NodeRedispatchParams{RunID: "r1", Name: "a", Attempt: 1, DispatchedAt: lost[0].DispatchedAt, Now: at(time.Minute)}
		errs := concurrently(4, func(int) error { return s.NodeRedispatch(ctx, p) })
		requireOneWinner(t, errs)
		require.Equal(t, at(time.Minute), getNode(t, ctx, s, "r1", "a").DispatchedAt)
		require.Empty(t, stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Minute), DispatchedBefore: at(30 * time.Second)}).Undelivered,
			"just republished: not lost again until the threshold passes once more")

		claim(t, ctx, s, "r1", "a")
		p.DispatchedAt = at(time.Minute)
		require.ErrorIs(t, s.NodeRedispatch(ctx, p), store.ErrConflict, "a claimed node is not redispatched")
		p.Name = "nope"
		require.ErrorIs(t, s.NodeRedispatch(ctx, p), store.ErrNotFound)
	})

	h.test(t, "FindsTerminalNodesNotPropagated", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": {"a"}})
		finish(t, ctx, s, "r1", "a", run.NodeSucceeded, time.Minute)
		require.Empty(t, stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Hour), FinishedBefore: at(time.Minute)}).Unpropagated)
		got := stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Hour), FinishedBefore: at(2 * time.Minute)})
		require.Equal(t, []string{"r1/a"}, nodeKeys(got.Unpropagated))
		require.Empty(t, got.Done)

		propagate(t, ctx, s, "r1", "a")
		require.Empty(t, stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Hour), FinishedBefore: at(time.Hour)}).Unpropagated)
	})

	h.test(t, "FindsRunningRunsWhoseNodesAreAllDone", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil})
		createRun(t, ctx, s, "r2", 0, 0, deps{"a": nil, "b": nil})
		finishAndPropagate(t, ctx, s, "r1", "a", run.NodeSucceeded)
		finishAndPropagate(t, ctx, s, "r2", "a", run.NodeSucceeded)
		finish(t, ctx, s, "r2", "b", run.NodeSucceeded, time.Second)
		require.Equal(t, []string{"r1"}, stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Hour)}).Done,
			"r2/b is terminal but not propagated")
		require.NoError(t, s.RunFinish(ctx, &store.RunFinishParams{ID: "r1", State: run.RunSucceeded, FinishedAt: at(time.Hour)}))
		require.Empty(t, stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Hour)}).Done)
	})

	h.test(t, "IgnoresRunsThatAreNotRunning", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": nil})
		dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0})
		claim(t, ctx, s, "r1", "a")
		finish(t, ctx, s, "r1", "b", run.NodeSucceeded, time.Second)
		// Finishing a run with work in flight is the caller's mistake, but the sweeper must
		// still leave the run alone.
		require.NoError(t, s.RunFinish(ctx, &store.RunFinishParams{ID: "r1", State: run.RunFailed, FinishedAt: t0}))
		got := stale(t, ctx, s, store.NodesStaleParams{Now: at(time.Hour), DispatchedBefore: at(time.Hour),
			FinishedBefore: at(time.Hour)})
		require.Equal(t, &store.StaleNodes{}, emptiedStale(got))
	})

	h.test(t, "ReturnsAtMostLimitPerList", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": nil, "d": nil, "e": nil, "f": nil})
		createRun(t, ctx, s, "r2", 0, 0, nil)
		createRun(t, ctx, s, "r3", 0, 0, nil)
		dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0, Max: 2}) // a, b
		claim(t, ctx, s, "r1", "c")
		claim(t, ctx, s, "r1", "d")
		finish(t, ctx, s, "r1", "e", run.NodeSucceeded, time.Second)
		finish(t, ctx, s, "r1", "f", run.NodeSucceeded, time.Second)
		p := store.NodesStaleParams{Now: at(time.Hour), DispatchedBefore: at(time.Hour), FinishedBefore: at(time.Hour)}
		got := stale(t, ctx, s, p)
		require.Len(t, got.ExpiredLeases, 2)
		require.Len(t, got.Undelivered, 2)
		require.Len(t, got.Unpropagated, 2)
		require.ElementsMatch(t, []string{"r2", "r3"}, got.Done, "a run without nodes has nothing unfinished")
		p.Limit = 1
		got = stale(t, ctx, s, p)
		require.Len(t, got.ExpiredLeases, 1)
		require.Len(t, got.Undelivered, 1)
		require.Len(t, got.Unpropagated, 1)
		require.Len(t, got.Done, 1)
	})
}

// emptiedStale normalises empty lists so that nil and empty slices compare equal.
func emptiedStale(s *store.StaleNodes) *store.StaleNodes {
	out := *s
	if len(out.ExpiredLeases) == 0 {
		out.ExpiredLeases = nil
	}
	if len(out.Undelivered) == 0 {
		out.Undelivered = nil
	}
	if len(out.Unpropagated) == 0 {
		out.Unpropagated = nil
	}
	if len(out.Done) == 0 {
		out.Done = nil
	}
	return &out
}
