package pubsubqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/maestro-sql/maestro/internal/queue"
)

// subscription receives from one Pub/Sub subscription. cfg holds the client-side settings; an
// AckDeadline of 0 means the subscription's own, read when Receive starts.
type subscription struct {
	q    *Queue
	name string
	cfg  queue.SubscriptionConfig
}

func (q *Queue) newSubscription(name string, cfg queue.SubscriptionConfig) *subscription {
	return &subscription{q: q, name: name, cfg: cfg}
}

// Receive implements queue.Subscription. Every call opens its own streams, so several Receive
// calls on one subscription (in one process or many) share its messages.
func (s *subscription) Receive(ctx context.Context, h queue.Handler) error {
	lease, err := s.lease(ctx)
	if err != nil {
		return err
	}
	sub := s.q.client.Subscriber(s.name)
	sub.ReceiveSettings.NumGoroutines = s.q.cfg.ReceiveStreams
	sub.ReceiveSettings.MaxOutstandingMessages = s.cfg.MaxOutstanding
	sub.ReceiveSettings.MaxExtension = s.cfg.MaxExtension
	// Pinning both bounds makes every extension (and the stream's ack deadline) exactly the
	// lease, instead of the library's guess from past processing times.
	sub.ReceiveSettings.MinDurationPerAckExtension = lease
	sub.ReceiveSettings.MaxDurationPerAckExtension = lease

	err = sub.Receive(ctx, func(mctx context.Context, m *pubsub.Message) {
		s.handle(mctx, m, h)
	})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if err != nil {
		return fmt.Errorf("error receiving from subscription %q: %w", s.name, err)
	}
	return fmt.Errorf("error receiving from subscription %q: %w", s.name, errStoppedEarly)
}

var errStoppedEarly = errors.New("the Pub/Sub client stopped receiving before the context was done")

// lease is how long a delivered message stays leased between extensions: the configured ack
// deadline in whole seconds (Pub/Sub's unit), at least MinAckDeadline.
func (s *subscription) lease(ctx context.Context) (time.Duration, error) {
	d := s.cfg.AckDeadline
	if d <= 0 {
		existing, err := s.q.client.SubscriptionAdminClient.GetSubscription(ctx,
			&pubsubpb.GetSubscriptionRequest{Subscription: s.q.subscriptionPath(s.name)})
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return 0, ctxErr
			}
			return 0, fmt.Errorf("error reading the ack deadline of subscription %q: %w", s.name, err)
		}
		d = time.Duration(existing.AckDeadlineSeconds) * time.Second
	}
	d = (d + time.Second - 1).Truncate(time.Second)
	return max(d, MinAckDeadline), nil
}

// handle runs h on m and acks or nacks m by its result. A handler still running after
// MaxExtension loses its message at that moment: the nack hands it to another delivery, and the
// handler's eventual result is ignored.
func (s *subscription) handle(ctx context.Context, m *pubsub.Message, h queue.Handler) {
	var settle sync.Once
	release := time.AfterFunc(s.cfg.MaxExtension, func() { settle.Do(m.Nack) })
	err := h(ctx, toQueueMessage(m))
	release.Stop()
	settle.Do(func() {
		if err != nil {
			m.Nack()
			return
		}
		m.Ack()
	})
}

// toQueueMessage converts a delivery. DeliveryAttempt stays 0 on a subscription without a
// dead-letter policy (made outside this package), where Pub/Sub does not count deliveries.
func toQueueMessage(m *pubsub.Message) *queue.Message {
	qm := &queue.Message{ID: m.ID, Data: m.Data, Attributes: m.Attributes}
	if m.DeliveryAttempt != nil {
		qm.DeliveryAttempt = *m.DeliveryAttempt
	}
	return qm
}
