// Package queuetest is the conformance suite every queue backend passes: the at-least-once
// contract documented in package queue, tested through the queue.Topic and queue.Subscription
// interfaces only.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/queue"
)

// Harness gives the suite one fresh, empty queue. Methods fail the test on error.
type Harness interface {
	// Topic returns a topic, creating it if needed.
	Topic(name string) queue.Topic
	// Subscription creates a subscription with cfg (cfg.Topic names its topic, created if needed)
	// and returns it.
	Subscription(name string, cfg queue.SubscriptionConfig) queue.Subscription
	// Capabilities reports the backend's limits.
	Capabilities() Capabilities
}

// Capabilities describes what a backend can honour, so that the suite can fit its timings.
type Capabilities struct {
	// AckDeadline is the ack deadline (and extension limit) the suite uses in tests that wait for
	// a lease to run out: the shortest one the backend honours. Defaults to 100ms.
	AckDeadline time.Duration
	// MinMaxDeliveries is the smallest MaxDeliveries the backend accepts (Pub/Sub: 5). Defaults
	// to 3.
	MinMaxDeliveries int
}

// waitFor bounds every wait for something that should happen.
const waitFor = 10 * time.Second

const tick = 2 * time.Millisecond

// Run runs the suite. newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	setup := func(t *testing.T) (Harness, Capabilities) {
		t.Helper()
		h := newHarness(t)
		caps := h.Capabilities()
		if caps.AckDeadline <= 0 {
			caps.AckDeadline = 100 * time.Millisecond
		}
		if caps.MinMaxDeliveries <= 0 {
			caps.MinMaxDeliveries = 3
		}
		return h, caps
	}

	t.Run("DeliversPublishedMessage", func(t *testing.T) {
		t.Parallel()
		h, _ := setup(t)
		sub := h.Subscription("tasks-sub", queue.SubscriptionConfig{Topic: "tasks"})
		topic := h.Topic("tasks")

		sent := &queue.Message{Data: []byte("hello"), Attributes: map[string]string{"run": "r1", "node": "a.b"}}
		require.NoError(t, topic.Publish(context.Background(), sent))
		require.NotEmpty(t, sent.ID, "Publish sets the message ID")

		got := make(chan *queue.Message, 10)
		startReceive(t, sub, func(_ context.Context, m *queue.Message) error {
			got <- m
			return nil
		})
		m := recv(t, got)
		require.Equal(t, sent.ID, m.ID)
		require.Equal(t, []byte("hello"), m.Data)
		require.Equal(t, map[string]string{"run": "r1", "node": "a.b"}, m.Attributes)
		require.Equal(t, 1, m.DeliveryAttempt)
	})

	t.Run("DoesNotDeliverAckedMessageAgain", func(t *testing.T) {
		t.Parallel()
		h, caps := setup(t)
		d := caps.AckDeadline
		sub := h.Subscription("acks-sub", queue.SubscriptionConfig{Topic: "acks", AckDeadline: d, MaxExtension: d})
		publish(t, h.Topic("acks"), "one")

		var deliveries atomic.Int32
		startReceive(t, sub, func(context.Context, *queue.Message) error {
			deliveries.Add(1)
			return nil
		})
		require.Eventually(t, func() bool { return deliveries.Load() == 1 }, waitFor, tick)
		require.Never(t, func() bool { return deliveries.Load() > 1 }, 4*d, tick,
			"an acked message came back after its ack deadline")
	})

	t.Run("DeliversNackedMessageAgain", func(t *testing.T) {
		t.Parallel()
		h, caps := setup(t)
		sub := h.Subscription("nacks-sub", queue.SubscriptionConfig{Topic: "nacks", AckDeadline: caps.AckDeadline})
		id := publish(t, h.Topic("nacks"), "payload")

		got := make(chan *queue.Message, 10)
		startReceive(t, sub, func(_ context.Context, m *queue.Message) error {
			got <- m
			if m.DeliveryAttempt == 1 {
				return errors.New("transient failure")
			}
			return nil
		})
		first, second := recv(t, got), recv(t, got)
		require.Equal(t, 1, first.DeliveryAttempt)
		require.Equal(t, id, second.ID)
		require.Equal(t, 2, second.DeliveryAttempt)
		require.Equal(t, []byte("payload"), second.Data)
		requireNothing(t, got, 4*caps.AckDeadline)
	})

	t.Run("ExtendsLeaseWhileHandlerRuns", func(t *testing.T) {
		t.Parallel()
		h, caps := setup(t)
		d := caps.AckDeadline
		sub := h.Subscription("long-sub", queue.SubscriptionConfig{Topic: "long", AckDeadline: d, MaxExtension: time.Minute})
		publish(t, h.Topic("long"), "slow work")

		var deliveries atomic.Int32
		done := make(chan struct{})
		startReceive(t, sub, func(ctx context.Context, _ *queue.Message) error {
			if deliveries.Add(1) == 1 {
				// The work outlasts several ack deadlines.
				select {
				case <-time.After(4 * d):
				case <-ctx.Done():
				}
				close(done)
			}
			return nil
		})
		<-done
		require.Equal(t, int32(1), deliveries.Load(), "the message was delivered again while its handler ran within MaxExtension")
		require.Never(t, func() bool { return deliveries.Load() > 1 }, 3*d, tick)
	})

	t.Run("DeliversAgainWhenHandlerOutlivesMaxExtension", func(t *testing.T) {
		t.Parallel()
		h, caps := setup(t)
		d := caps.AckDeadline
		sub := h.Subscription("stuck-sub", queue.SubscriptionConfig{Topic: "stuck", AckDeadline: d, MaxExtension: d})
		id := publish(t, h.Topic("stuck"), "stuck work")

		got := make(chan *queue.Message, 10)
		release := make(chan struct{})
		startReceive(t, sub, func(ctx context.Context, m *queue.Message) error {
			got <- m
			if m.DeliveryAttempt == 1 {
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return nil
		})
		t.Cleanup(func() { closeOnce(release) })
		first := recv(t, got)
		require.Equal(t, 1, first.DeliveryAttempt)
		second := recv(t, got) // while the first handler is still blocked
		require.Equal(t, id, second.ID)
		require.GreaterOrEqual(t, second.DeliveryAttempt, 2)
	})

	t.Run("DeliversAgainAfterSubscriberStops", func(t *testing.T) {
		t.Parallel()
		h, caps := setup(t)
		d := caps.AckDeadline
		cfg := queue.SubscriptionConfig{Topic: "crash", AckDeadline: d, MaxExtension: time.Minute}
		sub := h.Subscription("crash-sub", cfg)
		id := publish(t, h.Topic("crash"), "interrupted work")

		started := make(chan struct{})
		first := startReceive(t, sub, func(ctx context.Context, _ *queue.Message) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
		<-started
		require.ErrorIs(t, first.stop(), context.Canceled)

		got := make(chan *queue.Message, 10)
		startReceive(t, sub, func(_ context.Context, m *queue.Message) error {
			got <- m
			return nil
		})
		// The stopped subscriber's lease must run out first: that is the ack deadline, on top of
		// the usual wait (on the emulator both are 10 s, and waiting only one made this flaky).
		m := recvWithin(t, got, d+waitFor)
		require.Equal(t, id, m.ID)
		// At least the second: on a loaded machine a delivery may also go to the stopping
		// subscriber's stream and be abandoned there, which counts as an attempt too.
		require.GreaterOrEqual(t, m.DeliveryAttempt, 2)
		require.Equal(t, []byte("interrupted work"), m.Data)
	})

	t.Run("ForwardsToDeadLetterTopicAfterMaxDeliveries", func(t *testing.T) {
		t.Parallel()
		h, caps := setup(t)
		maxDeliveries := caps.MinMaxDeliveries
		deadSub := h.Subscription("dead-sub", queue.SubscriptionConfig{Topic: "dead"})
		sub := h.Subscription("poison-sub", queue.SubscriptionConfig{
			Topic: "poison", AckDeadline: caps.AckDeadline, MaxDeliveries: maxDeliveries, DeadLetterTopic: "dead",
		})
		sent := &queue.Message{Data: []byte("poison pill"), Attributes: map[string]string{"run": "r9"}}
		require.NoError(t, h.Topic("poison").Publish(context.Background(), sent))

		var deliveries atomic.Int32
		startReceive(t, sub, func(context.Context, *queue.Message) error {
			deliveries.Add(1)
			return errors.New("always fails")
		})
		dead := make(chan *queue.Message, 10)
		var deadCount atomic.Int32
		startReceive(t, deadSub, func(_ context.Context, m *queue.Message) error {
			deadCount.Add(1)
			select {
			case dead <- m:
			default: // a flood must fail the test below, not block the handler
			}
			return nil
		})
		m := recv(t, dead)
		require.Equal(t, []byte("poison pill"), m.Data)
		require.Equal(t, "r9", m.Attributes["run"])
		require.Equal(t, int32(maxDeliveries), deliveries.Load())
		require.Never(t, func() bool { return deliveries.Load() > int32(maxDeliveries) }, 4*caps.AckDeadline, tick,
			"a dead-lettered message was delivered again on its original subscription")
		// At least once allows a rare duplicate on the dead-letter topic too, not a stream of them.
		require.Less(t, deadCount.Load(), int32(maxDeliveries), "the dead-letter topic keeps receiving the message")
	})

	t.Run("BoundsConcurrentHandlersByMaxOutstanding", func(t *testing.T) {
		t.Parallel()
		h, _ := setup(t)
		const bound, total = 3, 30
		sub := h.Subscription("bound-sub", queue.SubscriptionConfig{Topic: "bound", MaxOutstanding: bound})
		topic := h.Topic("bound")
		for i := range total {
			publish(t, topic, fmt.Sprint("m", i))
		}

		var inFlight, peak atomic.Int32
		full := make(chan struct{})
		var fullOnce sync.Once
		var mu sync.Mutex
		seen := map[string]bool{}
		startReceive(t, sub, func(ctx context.Context, m *queue.Message) error {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if n == bound {
				fullOnce.Do(func() { close(full) })
			}
			// The first handlers hold their slots until the bound is reached, which proves that
			// the backend runs that many at once.
			select {
			case <-full:
			case <-time.After(waitFor / 2):
			case <-ctx.Done():
			}
			// Every handler then holds its slot a little, so that a backend running more than
			// the bound at once gets caught.
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
			}
			mu.Lock()
			seen[string(m.Data)] = true
			mu.Unlock()
			return nil
		})
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == total
		}, waitFor, tick)
		require.Equal(t, int32(bound), peak.Load(), "handlers running at once")
	})

	t.Run("ReceiveReturnsAfterRunningHandlersReturn", func(t *testing.T) {
		t.Parallel()
		h, _ := setup(t)
		sub := h.Subscription("stop-sub", queue.SubscriptionConfig{Topic: "stop"})
		publish(t, h.Topic("stop"), "x")

		started, release := make(chan struct{}), make(chan struct{})
		var handlerCancelled atomic.Bool
		r := startReceive(t, sub, func(ctx context.Context, _ *queue.Message) error {
			close(started)
			select {
			case <-ctx.Done():
				handlerCancelled.Store(true)
			case <-time.After(waitFor):
			}
			<-release
			return nil
		})
		t.Cleanup(func() { closeOnce(release) })
		<-started
		r.cancel()
		require.Eventually(t, handlerCancelled.Load, waitFor, tick, "the handler's context was not cancelled with Receive's")
		require.Never(t, func() bool {
			select {
			case <-r.done:
				return true
			default:
				return false
			}
		}, 200*time.Millisecond, tick, "Receive returned while a handler was running")
		close(release)
		require.ErrorIs(t, r.stop(), context.Canceled)
	})

	t.Run("DeliversToEverySubscription", func(t *testing.T) {
		t.Parallel()
		h, _ := setup(t)
		subA := h.Subscription("fan-a", queue.SubscriptionConfig{Topic: "fan"})
		subB := h.Subscription("fan-b", queue.SubscriptionConfig{Topic: "fan"})
		id := publish(t, h.Topic("fan"), "both")

		gotA, gotB := make(chan *queue.Message, 10), make(chan *queue.Message, 10)
		startReceive(t, subA, func(_ context.Context, m *queue.Message) error { gotA <- m; return nil })
		startReceive(t, subB, func(_ context.Context, m *queue.Message) error { gotB <- m; return nil })
		require.Equal(t, id, recv(t, gotA).ID)
		require.Equal(t, id, recv(t, gotB).ID)
	})

	t.Run("DoesNotDeliverMessagesPublishedBeforeSubscriptionExisted", func(t *testing.T) {
		t.Parallel()
		h, caps := setup(t)
		topic := h.Topic("late")
		publish(t, topic, "before")
		sub := h.Subscription("late-sub", queue.SubscriptionConfig{Topic: "late"})
		publish(t, topic, "after")

		got := make(chan *queue.Message, 10)
		startReceive(t, sub, func(_ context.Context, m *queue.Message) error { got <- m; return nil })
		require.Equal(t, []byte("after"), recv(t, got).Data)
		requireNothing(t, got, 3*caps.AckDeadline)
	})

	t.Run("DeliversEveryMessageFromConcurrentPublishers", func(t *testing.T) {
		t.Parallel()
		h, _ := setup(t)
		const publishers, each = 4, 50
		sub := h.Subscription("many-sub", queue.SubscriptionConfig{Topic: "many", MaxOutstanding: 8})
		topic := h.Topic("many")

		var mu sync.Mutex
		seen := map[string]int{}
		startReceive(t, sub, func(_ context.Context, m *queue.Message) error {
			mu.Lock()
			seen[string(m.Data)]++
			mu.Unlock()
			return nil
		})
		ids := make(chan string, publishers*each)
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					m := &queue.Message{Data: fmt.Appendf(nil, "p%d-%d", p, i)}
					if err := topic.Publish(context.Background(), m); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
					ids <- m.ID
				}
			})
		}
		wg.Wait()
		close(ids)
		unique := map[string]bool{}
		for id := range ids {
			unique[id] = true
		}
		require.Len(t, unique, publishers*each, "message IDs are unique")
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == publishers*each
		}, waitFor, tick)
	})
}

// receiver is one running Receive call.
type receiver struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// stop cancels Receive and returns its error once it returned.
func (r *receiver) stop() error {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(waitFor):
		return errors.New("Receive did not return after its context was cancelled")
	}
	return r.err
}

// startReceive runs sub.Receive until the test ends (or stop is called); cleanup checks that it
// returned the context's error.
func startReceive(t *testing.T, sub queue.Subscription, h queue.Handler) *receiver {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &receiver{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = sub.Receive(ctx, h)
	}()
	t.Cleanup(func() {
		err := r.stop()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Receive returned %v, want context.Canceled", err)
		}
	})
	return r
}

func publish(t *testing.T, topic queue.Topic, data string) string {
	t.Helper()
	m := &queue.Message{Data: []byte(data)}
	require.NoError(t, topic.Publish(context.Background(), m))
	require.NotEmpty(t, m.ID)
	return m.ID
}

func recv(t *testing.T, ch <-chan *queue.Message) *queue.Message {
	t.Helper()
	return recvWithin(t, ch, waitFor)
}

// recvWithin is recv waiting up to d.
func recvWithin(t *testing.T, ch <-chan *queue.Message, d time.Duration) *queue.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(d):
		t.Fatal("no message delivered")
		return nil
	}
}

// requireNothing fails if a message arrives on ch within d.
func requireNothing(t *testing.T, ch <-chan *queue.Message, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected delivery: id %s attempt %d data %q", m.ID, m.DeliveryAttempt, m.Data)
	case <-time.After(d):
	}
}

func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}
