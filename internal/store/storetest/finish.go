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
