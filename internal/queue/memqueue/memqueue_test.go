package memqueue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
)

// collector records from sub until the test ends and records every delivery.
type collector struct {
	mu  sync.Mutex
	got []*queue.Message
}

func (c *collector) messages() []*queue.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*queue.Message(nil), c.got...)
}

func collect(t *testing.T, sub queue.Subscription) *collector {
	t.Helper()
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sub.Receive(ctx, func(_ context.Context, m *queue.Message) error {
			c.mu.Lock()
			c.got = append(c.got, m)
			c.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
	})
	return c
}

func publishN(t *testing.T, q *memqueue.Queue, topic string, n int) {
	t.Helper()
	for i := range n {
		require.NoError(t, q.Topic(topic).Publish(context.Background(), &queue.Message{Data: fmt.Append(nil, i)}))
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()

	t.Run("DuplicatesEveryMessage", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(&memqueue.Options{Faults: &memqueue.Faults{Seed: 1, Duplicate: 1}})
		t.Cleanup(func() { _ = q.Close() })
		sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t"})
		require.NoError(t, err)
		publishN(t, q, "t", 5)
		c := collect(t, sub)
		require.Eventually(t, func() bool { return len(c.messages()) == 10 }, 5*time.Second, time.Millisecond)
		perID := map[string]int{}
		for _, m := range c.messages() {
			perID[m.ID]++
			require.Equal(t, 1, m.DeliveryAttempt, "a duplicate is an independent first delivery")
		}
		require.Len(t, perID, 5)
		for id, n := range perID {
			require.Equal(t, 2, n, "deliveries of %s", id)
		}
	})

	t.Run("DelaysDeliveries", func(t *testing.T) {
		t.Parallel()
		const maxDelay = 80 * time.Millisecond
		q := memqueue.New(&memqueue.Options{Faults: &memqueue.Faults{Seed: 2, Delay: 1, MaxDelay: maxDelay}})
		t.Cleanup(func() { _ = q.Close() })
		sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t"})
		require.NoError(t, err)
		got := make(chan time.Time, 20)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() {
			_ = sub.Receive(ctx, func(context.Context, *queue.Message) error { got <- time.Now(); return nil })
		}()
		start := time.Now()
		publishN(t, q, "t", 20)
		var latest time.Duration
		for range 20 {
			select {
			case at := <-got:
				latest = max(latest, at.Sub(start))
			case <-time.After(5 * time.Second):
				t.Fatal("a delayed message never arrived")
			}
		}
		// With 20 uniform delays up to 80ms, the largest is below 20ms with probability 0.25^20.
		require.Greater(t, latest, 20*time.Millisecond, "messages were not delayed")
	})

	t.Run("ReordersMessages", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(&memqueue.Options{Faults: &memqueue.Faults{Seed: 3, Reorder: 0.5}})
		t.Cleanup(func() { _ = q.Close() })
		sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t", MaxOutstanding: 1})
		require.NoError(t, err)
		publishN(t, q, "t", 50) // all queued before anyone receives, so reordering shows
		c := collect(t, sub)
		require.Eventually(t, func() bool { return len(c.messages()) == 50 }, 5*time.Second, time.Millisecond)
		inOrder := true
		for i, m := range c.messages() {
			if string(m.Data) != fmt.Sprint(i) {
				inOrder = false
			}
		}
		require.False(t, inOrder, "50 messages arrived in publish order despite Reorder 0.5")
	})

	t.Run("DropsMessages", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(&memqueue.Options{Faults: &memqueue.Faults{Seed: 4, Drop: 1}})
		t.Cleanup(func() { _ = q.Close() })
		sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t"})
		require.NoError(t, err)
		publishN(t, q, "t", 5)
		c := collect(t, sub)
		require.Never(t, func() bool { return len(c.messages()) > 0 }, 50*time.Millisecond, time.Millisecond)
	})

	t.Run("SameSeedSameFaults", func(t *testing.T) {
		t.Parallel()
		order := func() []string {
			q := memqueue.New(&memqueue.Options{Faults: &memqueue.Faults{Seed: 42, Reorder: 0.5, Duplicate: 0.3, Drop: 0.1}})
			t.Cleanup(func() { _ = q.Close() })
			sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t", MaxOutstanding: 1})
			require.NoError(t, err)
			publishN(t, q, "t", 30)
			var out []string
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err = sub.Receive(ctx, func(_ context.Context, m *queue.Message) error {
				out = append(out, string(m.Data))
				if len(out) == 25 {
					cancel()
				}
				return nil
			})
			require.ErrorIs(t, err, context.Canceled)
			return out
		}
		require.Equal(t, order(), order())
	})
}

func TestQueue(t *testing.T) {
	t.Parallel()

	t.Run("RejectsInvalidSubscriptionConfig", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(nil)
		t.Cleanup(func() { _ = q.Close() })
		for name, cfg := range map[string]queue.SubscriptionConfig{
			"no topic":               {},
			"negative deadline":      {Topic: "t", AckDeadline: -time.Second},
			"dead letters nowhere":   {Topic: "t", MaxDeliveries: 5},
			"dead letters to itself": {Topic: "t", MaxDeliveries: 5, DeadLetterTopic: "t"},
		} {
			_, err := q.CreateSubscription("s", cfg)
			require.Error(t, err, name)
			require.Contains(t, err.Error(), `subscription "s"`, name)
		}
	})

	t.Run("CreateSubscriptionIsIdempotentForTheSameConfig", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(nil)
		t.Cleanup(func() { _ = q.Close() })
		_, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t"})
		require.NoError(t, err)
		_, err = q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t", AckDeadline: memqueue.AckDeadlineDefault})
		require.NoError(t, err, "explicit defaults are the same configuration")
		_, err = q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "other"})
		require.Error(t, err)
	})

	t.Run("ReceiveOnUnknownSubscriptionFails", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(nil)
		t.Cleanup(func() { _ = q.Close() })
		err := q.Subscription("nope").Receive(context.Background(), func(context.Context, *queue.Message) error { return nil })
		require.ErrorIs(t, err, memqueue.ErrSubscriptionNotFound)
	})

	t.Run("SubscriptionHandleResolvesAfterCreation", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(nil)
		t.Cleanup(func() { _ = q.Close() })
		handle := q.Subscription("s")
		_, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t"})
		require.NoError(t, err)
		publishN(t, q, "t", 1)
		c := collect(t, handle)
		require.Eventually(t, func() bool { return len(c.messages()) == 1 }, 5*time.Second, time.Millisecond)
	})

	t.Run("CloseEndsReceiveAndPublish", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(nil)
		sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t"})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			done <- sub.Receive(context.Background(), func(context.Context, *queue.Message) error { return nil })
		}()
		require.NoError(t, q.Close())
		select {
		case err := <-done:
			require.ErrorIs(t, err, memqueue.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Receive did not return after Close")
		}
		err = q.Topic("t").Publish(context.Background(), &queue.Message{})
		require.ErrorIs(t, err, memqueue.ErrClosed)
	})

	t.Run("WaitsMinBackoffBeforeRedeliveringANack", func(t *testing.T) {
		t.Parallel()
		const backoff = 60 * time.Millisecond
		q := memqueue.New(nil)
		t.Cleanup(func() { _ = q.Close() })
		sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t", MinBackoff: backoff})
		require.NoError(t, err)
		publishN(t, q, "t", 1)
		at := make(chan time.Time, 2)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() {
			_ = sub.Receive(ctx, func(_ context.Context, m *queue.Message) error {
				at <- time.Now()
				if m.DeliveryAttempt == 1 {
					return errors.New("nack")
				}
				return nil
			})
		}()
		first, second := <-at, <-at
		require.GreaterOrEqual(t, second.Sub(first), backoff)
	})

	t.Run("DoesNotShareMessageBuffersWithThePublisher", func(t *testing.T) {
		t.Parallel()
		q := memqueue.New(nil)
		t.Cleanup(func() { _ = q.Close() })
		sub, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "t"})
		require.NoError(t, err)
		m := &queue.Message{Data: []byte("abc"), Attributes: map[string]string{"k": "v"}}
		require.NoError(t, q.Topic("t").Publish(context.Background(), m))
		m.Data[0] = 'X'
		m.Attributes["k"] = "changed"
		c := collect(t, sub)
		require.Eventually(t, func() bool { return len(c.messages()) == 1 }, 5*time.Second, time.Millisecond)
		require.Equal(t, "abc", string(c.messages()[0].Data))
		require.Equal(t, "v", c.messages()[0].Attributes["k"])
	})
}
