package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// concurrently calls fn(0..n-1) in n goroutines released at once and returns their errors.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// requireOneWinner checks that exactly one call succeeded and every other lost with ErrConflict;
// it returns the winner.
func requireOneWinner(t *testing.T, errs []error) int {
	t.Helper()
	won := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, won, "calls %d and %d both won", won, i)
			won = i
			continue
		}
		require.ErrorIs(t, err, store.ErrConflict)
	}
	require.NotEqual(t, -1, won, "no call won")
	return won
}

func (h *harness) nodeClaim(t *testing.T) {
	h.test(t, "MovesAReadyNodeToRunningUnderTheLease", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		n, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r1", Name: "a.x", Attempt: 1, Lease: "w1",
			LeaseExpiresAt: at(time.Minute), JobID: "maestro_r1_a-x_a1", Now: t0})
		require.NoError(t, err)
		require.Equal(t, run.NodeRunning, n.State)
		require.Equal(t, n, getNode(t, ctx, s, "r1", "a.x"), "the returned node is the stored one")
		require.Equal(t, 1, n.Attempt)
		require.Equal(t, "w1", n.Lease)
		require.Equal(t, at(time.Minute), n.LeaseExpiresAt)
		require.Equal(t, "maestro_r1_a-x_a1", n.JobID)
		require.Equal(t, t0, n.StartedAt)
	})

	h.test(t, "ConflictsUnlessTheNodeIsReadyWithTheAttemptInARunningRun", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil, "a.y": {"a.x"}})
		p := func(name string, attempt int) *store.NodeClaimParams {
			return &store.NodeClaimParams{RunID: "r1", Name: name, Attempt: attempt, Lease: "w-late",
				LeaseExpiresAt: at(time.Minute), Now: t0}
		}
		_, err := s.NodeClaim(ctx, p("a.y", 1))
		require.ErrorIs(t, err, store.ErrConflict, "a pending node")
		_, err = s.NodeClaim(ctx, p("a.x", 2))
		require.ErrorIs(t, err, store.ErrConflict, "another attempt")
		first := claim(t, ctx, s, "r1", "a.x")
		_, err = s.NodeClaim(ctx, p("a.x", 1))
		require.ErrorIs(t, err, store.ErrConflict, "a second claim")
		require.Equal(t, first, getNode(t, ctx, s, "r1", "a.x"), "a losing claim changes nothing")
		_, err = s.NodeClaim(ctx, p("a.nope", 1))
		require.ErrorIs(t, err, store.ErrNotFound)

		createRun(t, ctx, s, "r2", 0, 0, deps{"a.x": nil})
		require.NoError(t, s.RunFinish(ctx, &store.RunFinishParams{ID: "r2", State: run.RunFailed, FinishedAt: t0}))
		_, err = s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r2", Name: "a.x", Attempt: 1, Lease: "w", Now: t0})
		require.ErrorIs(t, err, store.ErrConflict, "a ready node of a finished run")
		require.Equal(t, run.NodeReady, getNode(t, ctx, s, "r2", "a.x").State)

		createRun(t, ctx, s, "r3", 0, 0, deps{"a.x": nil})
		require.NoError(t, s.RunCancel(ctx, "r3", t0))
		_, err = s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r3", Name: "a.x", Attempt: 1, Lease: "w", Now: t0})
		require.ErrorIs(t, err, store.ErrConflict, "a node of a cancelled run")
	})

	h.test(t, "ConcurrentClaimsHaveOneWinner", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		leases := []string{"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"}
		errs := concurrently(len(leases), func(i int) error {
			_, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r1", Name: "a.x", Attempt: 1, Lease: leases[i],
				LeaseExpiresAt: at(time.Minute), Now: t0})
			return err
		})
		won := requireOneWinner(t, errs)
		require.Equal(t, leases[won], getNode(t, ctx, s, "r1", "a.x").Lease)
	})
}

func (h *harness) nodeHeartbeat(t *testing.T) {
	h.test(t, "ExtendsTheLeaseOnlyUnderTheSameLease", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		c := claim(t, ctx, s, "r1", "a.x")
		require.NoError(t, s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, LeaseExpiresAt: at(5 * time.Minute)}))
		require.Equal(t, at(5*time.Minute), getNode(t, ctx, s, "r1", "a.x").LeaseExpiresAt)

		err := s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: "someone-else", LeaseExpiresAt: at(time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict)
		err = s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "a.x", Attempt: 2,
			Lease: c.Lease, LeaseExpiresAt: at(time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict)
		require.Equal(t, at(5*time.Minute), getNode(t, ctx, s, "r1", "a.x").LeaseExpiresAt)

		require.NoError(t, s.NodeReclaim(ctx, &store.NodeReclaimParams{RunID: "r1", Name: "a.x", Attempt: 1, Lease: c.Lease}))
		err = s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, LeaseExpiresAt: at(time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict, "after the sweeper reclaimed the node")
		err = s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "a.nope", Attempt: 1, Lease: c.Lease})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func (h *harness) nodeRecordOutcome(t *testing.T) {
	stats := run.Stats{BytesProcessed: 1000, BytesBilled: 10485760, SlotMillis: 2500, Rows: 17, DurationMillis: 1200}

	h.test(t, "RecordsASuccessWithItsStats", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		c := claim(t, ctx, s, "r1", "a.x")
		n, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, State: run.NodeSucceeded, Stats: stats, Now: at(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, n, getNode(t, ctx, s, "r1", "a.x"), "the returned node is the stored one")
		require.Equal(t, run.NodeSucceeded, n.State)
		require.Equal(t, stats, n.Stats)
		require.Equal(t, at(time.Minute), n.FinishedAt)
		require.Equal(t, 1, n.Attempt)
		require.Empty(t, n.Error)
		require.False(t, n.Propagated)
	})

	h.test(t, "RecordsAFinalFailureWithItsError", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		c := claim(t, ctx, s, "r1", "a.x")
		n, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, State: run.NodeFailed, Error: "Not found: Table p:a.y", Now: at(time.Minute)})
		require.NoError(t, err)
		require.Equal(t, run.NodeFailed, n.State)
		require.Equal(t, "Not found: Table p:a.y", getNode(t, ctx, s, "r1", "a.x").Error)
		require.Equal(t, at(time.Minute), n.FinishedAt)
	})

	h.test(t, "ARetryMakesTheNextAttemptReadyAfterNotBefore", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		require.Equal(t, []string{"r1/a.x"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}))
		c := claim(t, ctx, s, "r1", "a.x")
		n, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, State: run.NodeReady, Error: "rateLimitExceeded", Stats: stats,
			Now: at(time.Minute), NotBefore: at(2 * time.Minute)})
		require.NoError(t, err)
		require.Equal(t, n, getNode(t, ctx, s, "r1", "a.x"))
		require.Equal(t, run.NodeReady, n.State)
		require.Equal(t, 2, n.Attempt)
		require.Equal(t, at(2*time.Minute), n.NotBefore)
		require.True(t, n.DispatchedAt.IsZero(), "the new attempt is not dispatched yet")
		require.Equal(t, "rateLimitExceeded", n.Error)

		_, err = s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r1", Name: "a.x", Attempt: 1, Lease: "late", Now: t0})
		require.ErrorIs(t, err, store.ErrConflict, "a redelivered task of the first attempt")
		require.Empty(t, dispatch(t, ctx, s, store.NodesDispatchParams{Now: at(time.Minute)}), "before NotBefore")
		require.Equal(t, []string{"r1/a.x"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: at(2 * time.Minute)}))
		require.Equal(t, 2, claim(t, ctx, s, "r1", "a.x").Attempt)
	})

	h.test(t, "AStaleLeaseOrAttemptChangesNothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil, "a.y": nil})
		c := claim(t, ctx, s, "r1", "a.x")
		before := getNode(t, ctx, s, "r1", "a.x")
		for _, p := range []store.NodeRecordOutcomeParams{
			{Attempt: 1, Lease: "other", State: run.NodeSucceeded},
			{Attempt: 2, Lease: c.Lease, State: run.NodeSucceeded},
			{Attempt: 1, Lease: "other", State: run.NodeReady, NotBefore: at(time.Hour)},
			{Attempt: 0, Lease: c.Lease, State: run.NodeFailed},
		} {
			p.RunID, p.Name, p.Now, p.Stats = "r1", "a.x", at(time.Minute), stats
			_, err := s.NodeRecordOutcome(ctx, &p)
			require.ErrorIs(t, err, store.ErrConflict, "%+v", p)
		}
		require.Equal(t, before, getNode(t, ctx, s, "r1", "a.x"))

		// A node that is not running: ready, and finished.
		_, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.y", Attempt: 1,
			Lease: "", State: run.NodeSucceeded, Now: t0})
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, State: run.NodeSucceeded, Now: t0})
		require.NoError(t, err)
		done := getNode(t, ctx, s, "r1", "a.x")
		_, err = s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, State: run.NodeFailed, Now: at(time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict, "a replayed outcome")
		require.Equal(t, done, getNode(t, ctx, s, "r1", "a.x"))
	})

	h.test(t, "ConcurrentOutcomesHaveOneWinner", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		c := claim(t, ctx, s, "r1", "a.x")
		outcomes := []run.NodeState{run.NodeSucceeded, run.NodeFailed, run.NodeReady, run.NodeSucceeded}
		errs := concurrently(len(outcomes), func(i int) error {
			_, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.x", Attempt: 1,
				Lease: c.Lease, State: outcomes[i], Now: t0, NotBefore: t0})
			return err
		})
		won := requireOneWinner(t, errs)
		require.Equal(t, outcomes[won], getNode(t, ctx, s, "r1", "a.x").State)
	})
}

func (h *harness) nodeReclaim(t *testing.T) {
	h.test(t, "ReturnsTheSameAttemptToReadyUndispatched", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		require.Equal(t, []string{"r1/a.x"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: t0}))
		c := claim(t, ctx, s, "r1", "a.x")
		require.NoError(t, s.NodeReclaim(ctx, &store.NodeReclaimParams{RunID: "r1", Name: "a.x", Attempt: 1, Lease: c.Lease}))

		n := getNode(t, ctx, s, "r1", "a.x")
		require.Equal(t, run.NodeReady, n.State)
		require.Equal(t, 1, n.Attempt, "the same attempt re-attaches to the same warehouse job")
		require.Equal(t, c.JobID, n.JobID)
		require.Empty(t, n.Lease)
		require.True(t, n.DispatchedAt.IsZero())

		_, err := s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r1", Name: "a.x", Attempt: 1,
			Lease: c.Lease, State: run.NodeSucceeded, Now: t0})
		require.ErrorIs(t, err, store.ErrConflict, "the worker that lost the lease")
		require.ErrorIs(t, s.NodeReclaim(ctx, &store.NodeReclaimParams{RunID: "r1", Name: "a.x", Attempt: 1, Lease: c.Lease}),
			store.ErrConflict, "reclaiming twice")
		require.Equal(t, []string{"r1/a.x"}, dispatch(t, ctx, s, store.NodesDispatchParams{Now: at(time.Minute)}))
		require.Equal(t, 1, claim(t, ctx, s, "r1", "a.x").Attempt)
	})

	h.test(t, "ConflictsUnderAnotherLeaseOrAttempt", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		c := claim(t, ctx, s, "r1", "a.x")
		before := getNode(t, ctx, s, "r1", "a.x")
		require.ErrorIs(t, s.NodeReclaim(ctx, &store.NodeReclaimParams{RunID: "r1", Name: "a.x", Attempt: 1, Lease: "other"}),
			store.ErrConflict)
		require.ErrorIs(t, s.NodeReclaim(ctx, &store.NodeReclaimParams{RunID: "r1", Name: "a.x", Attempt: 2, Lease: c.Lease}),
			store.ErrConflict)
		require.Equal(t, before, getNode(t, ctx, s, "r1", "a.x"))
	})
}
