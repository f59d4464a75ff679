package memqueue_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/queue/queuetest"
)

type harness struct {
	t *testing.T
	q *memqueue.Queue
}

func (h harness) Topic(name string) queue.Topic { return h.q.Topic(name) }

func (h harness) Subscription(name string, cfg queue.SubscriptionConfig) queue.Subscription {
	s, err := h.q.CreateSubscription(name, cfg)
	require.NoError(h.t, err)
	return s
}

func (h harness) Capabilities() queuetest.Capabilities {
	return queuetest.Capabilities{AckDeadline: 50 * time.Millisecond}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	queuetest.Run(t, func(t *testing.T) queuetest.Harness {
		q := memqueue.New(nil)
		t.Cleanup(func() { _ = q.Close() })
		return harness{t: t, q: q}
	})
}
