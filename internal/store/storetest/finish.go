package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// finishParams claims a node and returns the params that record state for that claim.
func finishParams(t *testing.T, ctx context.Context, s store.Store, runID, name string, state run.NodeState) *store.NodeRecordOutcomeParams {
	t.Helper()
	c := claim(t, ctx, s, runID, name)
	return &store.NodeRecordOutcomeParams{RunID: runID, Name: name, Attempt: c.Attempt, Lease: c.Lease,
		State: state, Now: at(time.Second), Stats: run.Stats{Rows: 7}}
}

func (h *harness) nodeFinish(t *testing.T) {
	h.test(t, "RecordsASuccessAndUnlocksTheDownstreamInOneCall", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, diamond)
		n, res, err := s.NodeFinish(ctx, finishParams(t, ctx, s, "r1", "a", run.NodeSucceeded))
		require.NoError(t, err)
		require.Equal(t, run.NodeSucceeded, n.State)
		require.True(t, n.Propagated)
		require.EqualValues(t, 7, n.Stats.Rows)
		require.ElementsMatch(t, []string{"b", "c"}, res.Ready)
		require.False(t, res.RunDone)
		require.True(t, getNode(t, ctx, s, "r1", "a").Propagated)

		empty, err := s.NodePropagate(ctx, "r1", "a")
		require.NoError(t, err)
		require.Empty(t, empty.Ready, "a finished node is not propagated twice")

		for _, name := range []string{"b", "c", "d"} {
			_, res, err = s.NodeFinish(ctx, finishParams(t, ctx, s, "r1", name, run.NodeSucceeded))
			require.NoError(t, err)
		}
		require.True(t, res.RunDone, "the last node's finish says the run is done")
	})

	h.test(t, "AFinalFailureSkipsTheDownstream", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": {"a"}, "c": {"b"}})
		_, res, err := s.NodeFinish(ctx, finishParams(t, ctx, s, "r1", "a", run.NodeFailed))
		require.NoError(t, err)
		require.Equal(t, []string{"b", "c"}, res.Skipped)
		require.True(t, res.RunDone)
	})

	h.test(t, "ARetryPropagatesNothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": {"a"}})
		p := finishParams(t, ctx, s, "r1", "a", run.NodeReady)
		p.NotBefore = at(time.Minute)
		n, res, err := s.NodeFinish(ctx, p)
		require.NoError(t, err)
		require.Equal(t, run.NodeReady, n.State)
		require.Equal(t, 2, n.Attempt)
		require.False(t, n.Propagated)
		require.Empty(t, res.Ready)
		require.Empty(t, res.Skipped)
		require.False(t, res.RunDone)
		require.Equal(t, run.NodePending, getNode(t, ctx, s, "r1", "b").State)
	})

	h.test(t, "HandsOffToTheFirstNodeItUnlocked", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, diamond)
		p := finishParams(t, ctx, s, "r1", "a", run.NodeSucceeded)
		p.Handoff = &store.Handoff{Lease: "next-lease", LeaseExpiresAt: at(time.Minute)}
		_, res, err := s.NodeFinish(ctx, p)
		require.NoError(t, err)
		require.NotNil(t, res.Claimed)
		require.Equal(t, []string{"c"}, res.Ready, "the claimed node is not also left to dispatch")

		b := res.Claimed
		require.Equal(t, "b", b.Name)
		require.Equal(t, run.NodeRunning, b.State)
		require.Equal(t, 1, b.Attempt)
		require.Equal(t, "next-lease", b.Lease)
		require.Equal(t, run.JobID("r1", "b", 1), b.JobID)
		require.True(t, b.StartedAt.Equal(p.Now), "started at %s", b.StartedAt)
		stored := getNode(t, ctx, s, "r1", "b")
		require.Equal(t, run.NodeRunning, stored.State)
		require.Equal(t, "next-lease", stored.Lease)
		require.True(t, stored.LeaseExpiresAt.Equal(at(time.Minute)))
		require.Equal(t, run.NodeReady, getNode(t, ctx, s, "r1", "c").State)

		// A task for b that arrives anyway finds it taken.
		_, err = s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r1", Name: "b", Attempt: 1, Lease: "other",
			LeaseExpiresAt: at(time.Minute), Now: at(2 * time.Second)})
		require.True(t, errors.Is(err, store.ErrConflict), "got %v", err)
		// The claimant heartbeats and finishes it like any claimed node.
		require.NoError(t, s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "b", Attempt: 1,
			Lease: "next-lease", LeaseExpiresAt: at(2 * time.Minute)}))
		_, _, err = s.NodeFinish(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "b", Attempt: 1,
			Lease: "next-lease", State: run.NodeSucceeded, Now: at(3 * time.Second)})
		require.NoError(t, err)
		// The global count of busy nodes saw one node end and one start: c can be dispatched
		// within a limit of one.
		got, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: at(4 * time.Second), GlobalLimit: 1})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "c", got[0].Name)
	})

	h.test(t, "AHandedOffNodeNeverStartsBeforeItsLastUpstreamFinished", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"b": nil, "c": nil, "d": {"b", "c"}})
		pb := finishParams(t, ctx, s, "r1", "b", run.NodeSucceeded)
		pc := finishParams(t, ctx, s, "r1", "c", run.NodeSucceeded)
		// c's worker read its clock later but committed first, as when b's commit was retried.
		pb.Now, pc.Now = at(5*time.Second), at(10*time.Second)
		_, _, err := s.NodeFinish(ctx, pc)
		require.NoError(t, err)
		pb.Handoff = &store.Handoff{Lease: "next", LeaseExpiresAt: at(time.Minute)}
		_, res, err := s.NodeFinish(ctx, pb)
		require.NoError(t, err)
		require.NotNil(t, res.Claimed)
		require.True(t, res.Claimed.StartedAt.Equal(at(10*time.Second)), "d started at %s, before c finished", res.Claimed.StartedAt)
		require.True(t, getNode(t, ctx, s, "r1", "d").StartedAt.Equal(at(10*time.Second)))
	})

	h.test(t, "HandsOffNothingWithoutANodeUnlocked", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": nil, "c": {"a", "b"}, "d": {"a"}})
		handoff := &store.Handoff{Lease: "next", LeaseExpiresAt: at(time.Minute)}

		p := finishParams(t, ctx, s, "r1", "b", run.NodeSucceeded)
		p.Handoff = handoff
		_, res, err := s.NodeFinish(ctx, p)
		require.NoError(t, err)
		require.Nil(t, res.Claimed, "c still waits for a")
		require.Equal(t, run.NodePending, getNode(t, ctx, s, "r1", "c").State)

		p = finishParams(t, ctx, s, "r1", "a", run.NodeFailed)
		p.Handoff = handoff
		_, res, err = s.NodeFinish(ctx, p)
		require.NoError(t, err)
		require.Nil(t, res.Claimed, "a failure unlocks nothing")
		require.Equal(t, []string{"c", "d"}, res.Skipped)
	})

	h.test(t, "HandsOffNothingOnARetry", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": {"a"}})
		p := finishParams(t, ctx, s, "r1", "a", run.NodeReady)
		p.NotBefore = at(time.Minute)
		p.Handoff = &store.Handoff{Lease: "next", LeaseExpiresAt: at(time.Minute)}
		_, res, err := s.NodeFinish(ctx, p)
		require.NoError(t, err)
		require.Nil(t, res.Claimed)
		require.Equal(t, run.NodePending, getNode(t, ctx, s, "r1", "b").State)
	})

	h.test(t, "AStaleLeaseChangesNothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a": nil, "b": {"a"}})
		p := finishParams(t, ctx, s, "r1", "a", run.NodeSucceeded)
		p.Lease = "someone-else"
		_, _, err := s.NodeFinish(ctx, p)
		require.True(t, errors.Is(err, store.ErrConflict), "got %v", err)
		require.Equal(t, run.NodeRunning, getNode(t, ctx, s, "r1", "a").State)
		require.Equal(t, run.NodePending, getNode(t, ctx, s, "r1", "b").State)
	})
}
