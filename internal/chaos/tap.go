package chaos

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maestro-sql/maestro/internal/queue"
)

// dupAttribute marks a message the tap published, so that it is not copied again.
const dupAttribute = "maestro_chaos_copy"

// tap receives every message of a topic through a subscription of its own and publishes a
// seeded fraction of them again after a seeded delay: the services then see duplicates, late and
// out of order, beside the original.
type tap struct {
	sub      queue.Subscription
	topic    queue.Topic
	fraction float64
	maxDelay time.Duration

	mu     sync.Mutex
	rng    *rand.Rand
	copies atomic.Int64
	wg     sync.WaitGroup
}

func newTap(sub queue.Subscription, topic queue.Topic, seed int64, fraction float64, maxDelay time.Duration) *tap {
	return &tap{sub: sub, topic: topic, fraction: fraction, maxDelay: maxDelay, rng: rand.New(rand.NewPCG(uint64(seed), 0x7A9))}
}

// run copies messages until ctx is done, then waits for the copies still pending.
func (t *tap) run(ctx context.Context) {
	_ = t.sub.Receive(ctx, func(_ context.Context, m *queue.Message) error {
		if m.Attributes[dupAttribute] != "" {
			return nil
		}
		t.mu.Lock()
		hit := t.rng.Float64() < t.fraction
		n := 1 + t.rng.IntN(2) // sometimes twice
		delays := make([]time.Duration, n)
		for i := range delays {
			delays[i] = time.Duration(t.rng.Int64N(int64(t.maxDelay)))
		}
		t.mu.Unlock()
		if !hit {
			return nil
		}
		for _, d := range delays {
			attrs := map[string]string{dupAttribute: "1"}
			for k, v := range m.Attributes {
				attrs[k] = v
			}
			copyMsg := &queue.Message{Data: append([]byte(nil), m.Data...), Attributes: attrs}
			t.wg.Go(func() {
				timer := time.NewTimer(d)
				defer timer.Stop()
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				if t.topic.Publish(ctx, copyMsg) == nil {
					t.copies.Add(1)
				}
			})
		}
		return nil
	})
	t.wg.Wait()
}
