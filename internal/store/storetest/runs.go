package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

func (h *harness) runs(t *testing.T) {
	h.test(t, "CreateStoresTheRunAndItsNodesExactly", func(t *testing.T, ctx context.Context, s store.Store) {
		r := newRun("r1", 0, 4)
		r.ResumedFrom = "r0"
		r.Trigger = run.TriggerResume
		nodes := graph("r1", deps{"a.x": nil, "a.y": {"a.x"}, "a.z": {"a.x", "a.y"}})
		// A resumed run carries finished nodes: every field must survive.
		nodes[0].State = run.NodeSucceeded
		nodes[0].Propagated = true
		nodes[0].JobID = "maestro_r0_a-x_a2"
		nodes[0].Attempt = 2
		nodes[0].Stats = run.Stats{BytesProcessed: 1 << 40, BytesBilled: 1 << 41, SlotMillis: 123456, Rows: 42,
			CacheHit: true, DurationMillis: 9876}
		nodes[0].Error = "first attempt: quota exceeded"
		nodes[0].StartedAt = at(-time.Hour)
		nodes[0].FinishedAt = at(-time.Minute)
		nodes[0].NotBefore = at(-2 * time.Hour)
		nodes[0].DispatchedAt = at(-90 * time.Minute)
		nodes[1].PendingUpstream = 0
		nodes[1].State = run.NodeReady
		require.NoError(t, s.RunCreate(ctx, r, nodes))

		got, err := s.RunGet(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, r, got)
		require.Equal(t, nodes, listNodes(t, ctx, s, "r1"))
		require.Equal(t, nodes[2], getNode(t, ctx, s, "r1", "a.z"))
	})

	h.test(t, "CreateConflictsOnADuplicateID", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		err := s.RunCreate(ctx, newRun("r1", time.Hour, 0), graph("r1", deps{"a.other": nil}))
		require.ErrorIs(t, err, store.ErrConflict)
		require.Equal(t, graph("r1", deps{"a.x": nil}), listNodes(t, ctx, s, "r1"), "the losing create must add nothing")
		got, err := s.RunGet(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, t0, got.CreatedAt)
	})

	h.test(t, "UnknownRunsAndNodesAreNotFound", func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := s.RunGet(ctx, "nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		_, err = s.NodeGet(ctx, "r1", "a.nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = s.NodeGet(ctx, "nope", "a.x")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.RunFinish(ctx, &store.RunFinishParams{ID: "nope", State: run.RunSucceeded, FinishedAt: t0}),
			store.ErrNotFound)
		require.ErrorIs(t, s.RunCancel(ctx, "nope", t0), store.ErrNotFound)
	})

	h.test(t, "ListIsNewestFirstAndFiltersByState", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		createRun(t, ctx, s, "r3", 2*time.Hour, 0, deps{"a.x": nil})
		createRun(t, ctx, s, "r2", time.Hour, 0, deps{"a.x": nil})
		require.NoError(t, s.RunCancel(ctx, "r2", at(time.Hour)))

		ids := func(p *store.RunListParams) []string {
			runs, err := s.RunList(ctx, p)
			require.NoError(t, err)
			out := []string{}
			for _, r := range runs {
				out = append(out, r.ID)
			}
			return out
		}
		require.Equal(t, []string{"r3", "r2", "r1"}, ids(&store.RunListParams{}))
		require.Equal(t, []string{"r3", "r2"}, ids(&store.RunListParams{Limit: 2}))
		require.Equal(t, []string{"r3", "r1"}, ids(&store.RunListParams{State: run.RunRunning}))
		require.Equal(t, []string{"r2"}, ids(&store.RunListParams{State: run.RunCancelled}))
	})

	h.test(t, "FinishHappensExactlyOnce", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		first := &store.RunFinishParams{ID: "r1", State: run.RunFailed, FinishedAt: at(time.Hour),
			Stats:  run.Stats{BytesProcessed: 10, BytesBilled: 20, SlotMillis: 30, Rows: 40, DurationMillis: 50},
			Counts: map[run.NodeState]int{run.NodeSucceeded: 3, run.NodeFailed: 1, run.NodeSkipped: 2}}
		require.NoError(t, s.RunFinish(ctx, first))
		second := &store.RunFinishParams{ID: "r1", State: run.RunSucceeded, FinishedAt: at(2 * time.Hour)}
		require.ErrorIs(t, s.RunFinish(ctx, second), store.ErrConflict)

		got, err := s.RunGet(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, run.RunFailed, got.State)
		require.Equal(t, at(time.Hour), got.FinishedAt)
		require.Equal(t, first.Stats, got.Stats)
		require.Equal(t, first.Counts, got.Counts)
		require.ErrorIs(t, s.RunCancel(ctx, "r1", at(3*time.Hour)), store.ErrConflict, "cancelling a finished run")
	})

	h.test(t, "ConcurrentFinishesHaveOneWinner", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		errs := concurrently(8, func(i int) error {
			return s.RunFinish(ctx, &store.RunFinishParams{ID: "r1", State: run.RunSucceeded, FinishedAt: at(time.Duration(i) * time.Second)})
		})
		requireOneWinner(t, errs)
	})

	h.test(t, "CancelCancelsEveryUnfinishedNodeAndLeavesFinishedOnes", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{
			"a.ok": nil, "a.bad": nil, "a.busy": nil, "a.ready": nil, "a.wait": {"a.ok", "a.busy"},
		})
		finish(t, ctx, s, "r1", "a.ok", run.NodeSucceeded, time.Second)
		finish(t, ctx, s, "r1", "a.bad", run.NodeFailed, time.Second)
		busy := claim(t, ctx, s, "r1", "a.busy")
		okBefore := getNode(t, ctx, s, "r1", "a.ok")
		badBefore := getNode(t, ctx, s, "r1", "a.bad")

		require.NoError(t, s.RunCancel(ctx, "r1", at(time.Hour)))
		got, err := s.RunGet(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, run.RunCancelled, got.State)
		require.Equal(t, at(time.Hour), got.FinishedAt)
		require.Equal(t, map[string]run.NodeState{
			"a.ok": run.NodeSucceeded, "a.bad": run.NodeFailed, "a.busy": run.NodeCancelled,
			"a.ready": run.NodeCancelled, "a.wait": run.NodeCancelled,
		}, states(t, ctx, s, "r1"))
		require.Equal(t, okBefore, getNode(t, ctx, s, "r1", "a.ok"))
		require.Equal(t, badBefore, getNode(t, ctx, s, "r1", "a.bad"))

		// The worker that held a.busy is told its lease is gone.
		err = s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "a.busy", Attempt: 1,
			Lease: busy.Lease, LeaseExpiresAt: at(2 * time.Hour)})
		require.ErrorIs(t, err, store.ErrConflict)
		require.ErrorIs(t, s.RunCancel(ctx, "r1", at(2*time.Hour)), store.ErrConflict, "cancelling twice")
		require.ErrorIs(t, s.RunFinish(ctx, &store.RunFinishParams{ID: "r1", State: run.RunSucceeded, FinishedAt: t0}),
			store.ErrConflict, "finishing a cancelled run")
	})
}
