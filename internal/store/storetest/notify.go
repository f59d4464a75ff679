package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/store"
)

func (h *harness) notifyThreads(t *testing.T) {
	claim := func(t *testing.T, ctx context.Context, s store.Store, table, channel, runID string) (*store.NotifyThread, error) {
		return s.NotifyThreadClaim(ctx, &store.NotifyThreadClaimParams{Table: table, Channel: channel, RunID: runID, Now: t0})
	}

	h.test(t, "FirstFailureStartsAThreadLaterOnesReply", func(t *testing.T, ctx context.Context, s store.Store) {
		th, err := claim(t, ctx, s, "sales.orders", "#data", "r1")
		require.NoError(t, err)
		require.Empty(t, th.TS, "no thread yet: post a new message")
		require.NoError(t, s.NotifyThreadSetTS(ctx, "sales.orders", "#data", "1700000000.000100"))
		require.NoError(t, s.NotifyThreadSetTS(ctx, "sales.orders", "#data", "1700000099.000100"), "a thread keeps its first message")

		th, err = claim(t, ctx, s, "sales.orders", "#data", "r2")
		require.NoError(t, err)
		require.Equal(t, "1700000000.000100", th.TS)
		require.Equal(t, "r1", th.RunID, "the run told before")

		other, err := claim(t, ctx, s, "sales.orders", "#other", "r2")
		require.NoError(t, err)
		require.Empty(t, other.TS, "threads are per channel")

		list, err := s.NotifyThreadList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.NotifyThread{
			{Table: "sales.orders", Channel: "#data", TS: "1700000000.000100", RunID: "r2", UpdatedAt: t0},
			{Table: "sales.orders", Channel: "#other", RunID: "r2", UpdatedAt: t0},
		}, list)
	})

	h.test(t, "AFailureIsClaimedOnce", func(t *testing.T, ctx context.Context, s store.Store) {
		errs := concurrently(8, func(int) error {
			_, err := claim(t, ctx, s, "a.b", "#c", "r1")
			return err
		})
		requireOneWinner(t, errs)
		_, err := claim(t, ctx, s, "a.b", "#c", "r1")
		require.ErrorIs(t, err, store.ErrConflict)
	})

	h.test(t, "DeleteClosesTheThread", func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := claim(t, ctx, s, "a.b", "#c", "r1")
		require.NoError(t, err)
		require.NoError(t, s.NotifyThreadSetTS(ctx, "a.b", "#c", "1.1"))
		require.NoError(t, s.NotifyThreadDelete(ctx, "a.b", "#c"))
		require.NoError(t, s.NotifyThreadDelete(ctx, "a.b", "#c"), "closing nothing is fine")
		th, err := claim(t, ctx, s, "a.b", "#c", "r2")
		require.NoError(t, err)
		require.Empty(t, th.TS, "after a success the next failure starts a new thread")
		require.ErrorIs(t, s.NotifyThreadSetTS(ctx, "x.y", "#c", "1.1"), store.ErrNotFound)
		list, err := s.NotifyThreadList(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
	})
}
