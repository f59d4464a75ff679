package storetest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/store"
)

func (h *harness) inbound(t *testing.T) {
	h.test(t, "ANonceIsClaimedOnceUntilItExpires", func(t *testing.T, ctx context.Context, s store.Store) {
		require.NoError(t, s.NonceClaim(ctx, "slack:v0=abc", t0, at(5*time.Minute)))
		require.ErrorIs(t, s.NonceClaim(ctx, "slack:v0=abc", at(time.Minute), at(6*time.Minute)), store.ErrConflict, "a replay")
		require.NoError(t, s.NonceClaim(ctx, "slack:v0=other", at(time.Minute), at(6*time.Minute)), "another key")
		require.NoError(t, s.NonceClaim(ctx, "slack:v0=abc", at(5*time.Minute), at(10*time.Minute)), "an expired claim is replaced")
		require.ErrorIs(t, s.NonceClaim(ctx, "slack:v0=abc", at(6*time.Minute), at(11*time.Minute)), store.ErrConflict)
		require.NoError(t, s.NonceClaim(ctx, "keys/with/slashes", t0, at(time.Minute)))
	})

	h.test(t, "ConcurrentClaimsOfOneNonceHaveOneWinner", func(t *testing.T, ctx context.Context, s store.Store) {
		errs := concurrently(8, func(int) error { return s.NonceClaim(ctx, "k", t0, at(time.Minute)) })
		requireOneWinner(t, errs)
	})

	h.test(t, "ConcurrentRunCreatesOfOneIDHaveOneWinner", func(t *testing.T, ctx context.Context, s store.Store) {
		// A trigger's idempotency key names its run: of duplicate deliveries one creates it.
		errs := concurrently(8, func(i int) error {
			r := newRun("r-trg-dup", 0, 0)
			r.CreatedBy = fmt.Sprint("delivery ", i)
			return s.RunCreate(ctx, r, graph(r.ID, deps{"a.x": nil}))
		})
		won := requireOneWinner(t, errs)
		r, err := s.RunGet(ctx, "r-trg-dup")
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint("delivery ", won), r.CreatedBy)
		nodes, err := s.NodeList(ctx, "r-trg-dup")
		require.NoError(t, err)
		require.Len(t, nodes, 1)
	})

	h.test(t, "MutesArePutReplacedListedAndDeleted", func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := s.MuteGet(ctx, "sales.orders")
		require.ErrorIs(t, err, store.ErrNotFound)
		m := &store.Mute{Table: "sales.orders", Until: at(24 * time.Hour), By: "slack:U1 (ana@example.com)", CreatedAt: t0}
		require.NoError(t, s.MutePut(ctx, m))
		require.NoError(t, s.MutePut(ctx, &store.Mute{Table: "a.b", Until: at(time.Hour), By: "bob@example.com", CreatedAt: t0}))
		got, err := s.MuteGet(ctx, "sales.orders")
		require.NoError(t, err)
		require.Equal(t, m, got)
		require.True(t, got.Active(at(time.Hour)))
		require.False(t, got.Active(at(24*time.Hour)))

		later := &store.Mute{Table: "sales.orders", Until: at(48 * time.Hour), By: "carl@example.com", CreatedAt: at(time.Hour)}
		require.NoError(t, s.MutePut(ctx, later))
		list, err := s.MuteList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.Mute{{Table: "a.b", Until: at(time.Hour), By: "bob@example.com", CreatedAt: t0}, later}, list)

		require.NoError(t, s.MuteDelete(ctx, "sales.orders"))
		require.ErrorIs(t, s.MuteDelete(ctx, "sales.orders"), store.ErrNotFound)
		list, err = s.MuteList(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
	})

	h.test(t, "TriggersAreCreatedOnceListedAndDeleted", func(t *testing.T, ctx context.Context, s store.Store) {
		a := &store.Trigger{ID: "t-a", Table: "sales.orders", Downstream: true, Group: "sales", Generation: 1, CreatedBy: "ana@example.com", CreatedAt: t0}
		b := &store.Trigger{ID: "t-b", Schedule: "daily", Generation: 1, CreatedBy: "admin@example.com", CreatedAt: at(time.Second)}
		require.NoError(t, s.TriggerCreate(ctx, b))
		require.NoError(t, s.TriggerCreate(ctx, a))
		require.ErrorIs(t, s.TriggerCreate(ctx, &store.Trigger{ID: "t-a", Table: "x.y"}), store.ErrConflict)
		got, err := s.TriggerGet(ctx, "t-a")
		require.NoError(t, err)
		require.Equal(t, a, got)
		list, err := s.TriggerList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.Trigger{a, b}, list)
		require.NoError(t, s.TriggerDelete(ctx, "t-a"))
		require.ErrorIs(t, s.TriggerDelete(ctx, "t-a"), store.ErrNotFound)
		_, err = s.TriggerGet(ctx, "t-a")
		require.ErrorIs(t, err, store.ErrNotFound)
	})

	h.test(t, "ConcurrentRotationsEachGetTheirOwnGeneration", func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := s.TriggerRotate(ctx, "t-none")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, s.TriggerCreate(ctx, &store.Trigger{ID: "t-a", Table: "a.b", Generation: 1, CreatedBy: "ana", CreatedAt: t0}))
		gens := make([]int, 6)
		errs := concurrently(len(gens), func(i int) error {
			tr, err := s.TriggerRotate(ctx, "t-a")
			if err == nil {
				gens[i] = tr.Generation
			}
			return err
		})
		for _, err := range errs {
			require.NoError(t, err)
		}
		sort.Ints(gens)
		require.Equal(t, []int{2, 3, 4, 5, 6, 7}, gens, "no rotation is lost")
		tr, err := s.TriggerGet(ctx, "t-a")
		require.NoError(t, err)
		require.Equal(t, &store.Trigger{ID: "t-a", Table: "a.b", Generation: 7, CreatedBy: "ana", CreatedAt: t0}, tr)
	})

	h.test(t, "TriggerDeliveriesAreListedNewestFirst", func(t *testing.T, ctx context.Context, s store.Store) {
		require.NoError(t, s.TriggerCreate(ctx, &store.Trigger{ID: "t-a", Table: "a.b", Generation: 1, CreatedAt: t0}))
		d1 := &store.TriggerDelivery{TriggerID: "t-a", ID: "d1", At: t0, IdempotencyKey: "k1", Outcome: store.DeliveryAccepted, RunID: "r1", Remote: "10.0.0.1"}
		d2 := &store.TriggerDelivery{TriggerID: "t-a", ID: "d2", At: at(time.Second), IdempotencyKey: "k1", Outcome: store.DeliveryDuplicate, Reason: "key k1 started run r1", RunID: "r1", Remote: "10.0.0.1"}
		d3 := &store.TriggerDelivery{TriggerID: "t-a", ID: "d3", At: at(time.Second), Outcome: store.DeliveryRefused, Reason: "bad signature", Remote: "10.0.0.2"}
		for _, d := range []*store.TriggerDelivery{d1, d2, d3, d1} {
			require.NoError(t, s.TriggerDeliveryRecord(ctx, d))
		}
		list, err := s.TriggerDeliveryList(ctx, "t-a", 0)
		require.NoError(t, err)
		require.Equal(t, []*store.TriggerDelivery{d2, d3, d1}, list, "newest first, ties by id, a repeated record kept once")
		list, err = s.TriggerDeliveryList(ctx, "t-a", 2)
		require.NoError(t, err)
		require.Equal(t, []*store.TriggerDelivery{d2, d3}, list)
		require.NoError(t, s.TriggerDelete(ctx, "t-a"))
		list, err = s.TriggerDeliveryList(ctx, "t-a", 0)
		require.NoError(t, err)
		require.Len(t, list, 3, "a deleted trigger's deliveries stay")
		list, err = s.TriggerDeliveryList(ctx, "t-none", 0)
		require.NoError(t, err)
		require.Empty(t, list)
	})
}
