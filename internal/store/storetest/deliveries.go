package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/store"
)

func (h *harness) deliveries(t *testing.T) {
	h.test(t, "ListsEveryAttemptOfARunInOrderExactly", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil, "a.y": nil})
		createRun(t, ctx, s, "r2", 0, 0, deps{"a.x": nil})
		failed := &store.Delivery{RunID: "r1", Table: "a.x", DeliveryID: "maestro_r1_a-x_a1-export1",
			URL: "https://hooks.example/maestro", Event: "export.completed", Attempt: 1,
			Started: at(time.Minute), Duration: 1500 * time.Millisecond, StatusCode: 500,
			Error: "callback answered 500 Internal Server Error"}
		ok := &store.Delivery{RunID: "r1", Table: "a.x", DeliveryID: "maestro_r1_a-x_a1-export1",
			URL: "https://hooks.example/maestro", Event: "export.completed", Attempt: 2,
			Started: at(time.Minute + 2*time.Second), Duration: 20 * time.Millisecond, StatusCode: 200}
		// Same start as ok: ties go by delivery id.
		other := &store.Delivery{RunID: "r1", Table: "a.y", DeliveryID: "maestro_r1_a-y_a1-export1",
			URL: "http://10.0.0.7/hook", Event: "export.completed", Attempt: 1,
			Started: at(time.Minute + 2*time.Second), Error: "dial tcp 10.0.0.7:80: connection refused"}
		elsewhere := &store.Delivery{RunID: "r2", Table: "a.x", DeliveryID: "maestro_r2_a-x_a1-export1",
			URL: "https://hooks.example/maestro", Event: "export.completed", Attempt: 1, Started: t0, StatusCode: 204}
		for _, d := range []*store.Delivery{other, ok, elsewhere, failed} {
			require.NoError(t, s.DeliveryRecord(ctx, d))
		}

		got, err := s.DeliveryList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, []*store.Delivery{failed, ok, other}, got)
		got, err = s.DeliveryList(ctx, "r2")
		require.NoError(t, err)
		require.Equal(t, []*store.Delivery{elsewhere}, got)
	})

	h.test(t, "RecordingTheSameAttemptAgainChangesNothing", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		d := &store.Delivery{RunID: "r1", Table: "a.x", DeliveryID: "d1", URL: "https://h.example/x",
			Event: "export.completed", Attempt: 1, Started: t0, StatusCode: 200}
		require.NoError(t, s.DeliveryRecord(ctx, d))
		require.NoError(t, s.DeliveryRecord(ctx, d))
		// A redelivered task that sends again makes a real new attempt: it is kept.
		again := *d
		again.Started = at(time.Hour)
		require.NoError(t, s.DeliveryRecord(ctx, &again))
		got, err := s.DeliveryList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, []*store.Delivery{d, &again}, got)
	})

	h.test(t, "ARunWithoutAnyListsNone", func(t *testing.T, ctx context.Context, s store.Store) {
		createRun(t, ctx, s, "r1", 0, 0, deps{"a.x": nil})
		got, err := s.DeliveryList(ctx, "r1")
		require.NoError(t, err)
		require.Empty(t, got)
		got, err = s.DeliveryList(ctx, "nope")
		require.NoError(t, err)
		require.Empty(t, got)
	})

	h.test(t, "ADeliveryNeedsARunAndAnID", func(t *testing.T, ctx context.Context, s store.Store) {
		require.Error(t, s.DeliveryRecord(ctx, &store.Delivery{DeliveryID: "d1", Attempt: 1, Started: t0}))
		require.Error(t, s.DeliveryRecord(ctx, &store.Delivery{RunID: "r1", Attempt: 1, Started: t0}))
	})
}
