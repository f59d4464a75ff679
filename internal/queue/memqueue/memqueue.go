// Package memqueue is the in-process queue backend: topics and subscriptions held in memory with
// Pub/Sub's at-least-once contract. A delivered message is leased until its ack deadline; the
// lease is extended automatically while its handler runs, for up to MaxExtension; a nacked
// message comes back after MinBackoff; a message whose lease runs out is delivered again; past
// MaxDeliveries it is forwarded to the dead-letter topic.
//
// Delivery is driven by events, not polling: a publish wakes a waiting receiver at once, and a
// timer per subscription fires only for lease deadlines, backoff and injected delays.
//
// Options.Faults makes the queue misbehave within the contract (duplicates, delays, reordering)
// and, for tests of recovery, beyond it (drops), from a seeded random source so that a failing
// test can be replayed.
package memqueue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/maestro-sql/maestro/internal/queue"
)

// ErrClosed is returned by Publish and Receive once the queue is closed.
var ErrClosed = errors.New("memqueue: queue closed")

// ErrSubscriptionNotFound is returned by Receive on a subscription that was never created.
var ErrSubscriptionNotFound = errors.New("memqueue: subscription not found")

// Defaults applied to a zero SubscriptionConfig field, as documented on queue.SubscriptionConfig.
const (
	AckDeadlineDefault    = 10 * time.Second
	MaxExtensionDefault   = 60 * time.Minute
	MaxOutstandingDefault = 10
	// MaxDelayDefault is the longest injected delay when Faults.MaxDelay is zero.
	MaxDelayDefault = 100 * time.Millisecond
)

// Options configures a Queue. A nil *Options is the same as a zero one.
type Options struct {
	// Faults injects misbehaviour into deliveries, for tests. Defaults to none.
	Faults *Faults
}

// Faults makes deliveries misbehave the way a real Pub/Sub can, so that tests can prove handlers
// idempotent and order-independent. Each probability is between 0 and 1 and is drawn per message
// and per subscription when the message is published. Messages published as dead letters are
// affected too.
type Faults struct {
	// Seed seeds the random source, so that a run can be replayed. Defaults to 0.
	Seed uint64
	// Duplicate is the probability that a subscription gets the message twice (two independent
	// deliveries with the same ID, each needing its own ack).
	Duplicate float64
	// Delay is the probability that a delivery is held back for a random time up to MaxDelay.
	Delay float64
	// MaxDelay bounds injected delays. Defaults to MaxDelayDefault.
	MaxDelay time.Duration
	// Reorder is the probability that a message is queued at a random position among the messages
	// already waiting instead of behind them.
	Reorder float64
	// Drop is the probability that a subscription never gets the message. Pub/Sub does not lose
	// accepted messages; this exists to test recovery of messages lost around a crash (a publish
	// that was never made after the state it announces was committed).
	Drop float64
}

// Queue is an in-memory set of topics and subscriptions. It is safe for concurrent use.
type Queue struct {
	mu     sync.Mutex
	topics map[string]*topic
	subs   map[string]*subscription
	nextID uint64
	closed bool
	faults *Faults
	rnd    *rand.Rand // guarded by mu; nil without faults
}

type topic struct {
	name string
	subs []*subscription
}

// New returns an empty queue.
func New(opts *Options) *Queue {
	q := &Queue{topics: map[string]*topic{}, subs: map[string]*subscription{}}
	if opts != nil && opts.Faults != nil {
		f := *opts.Faults
		if f.MaxDelay <= 0 {
			f.MaxDelay = MaxDelayDefault
		}
		q.faults = &f
		q.rnd = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	}
	return q
}

// Topic returns the topic with the given name, creating it if needed. Publishing to a topic with
// no subscriptions drops the message, as Pub/Sub does.
func (q *Queue) Topic(name string) queue.Topic {
	return topicRef{q: q, name: name}
}

// CreateSubscription creates a subscription to cfg.Topic, which receives the messages published
// after this call. Creating an existing subscription again with the same configuration returns
// it; with a different one it is an error.
func (q *Queue) CreateSubscription(name string, cfg queue.SubscriptionConfig) (queue.Subscription, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, fmt.Errorf("error creating subscription %q: %w", name, err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, fmt.Errorf("error creating subscription %q: %w", name, ErrClosed)
	}
	if s, ok := q.subs[name]; ok {
		if s.cfg != cfg {
			return nil, fmt.Errorf("error creating subscription %q: it exists with a different configuration", name)
		}
		return subRef{q: q, name: name}, nil
	}
	s := &subscription{q: q, name: name, cfg: cfg, wake: make(chan struct{})}
	q.subs[name] = s
	t := q.topicLocked(cfg.Topic)
	t.subs = append(t.subs, s)
	return subRef{q: q, name: name}, nil
}

// Subscription returns the named subscription. It may be called before the subscription is
// created; Receive returns ErrSubscriptionNotFound if it still does not exist then.
func (q *Queue) Subscription(name string) queue.Subscription {
	return subRef{q: q, name: name}
}

// Close stops all deliveries: Publish fails from now on and every Receive returns ErrClosed once
// its running handlers returned. Messages not yet acked are lost.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	for _, s := range q.subs {
		s.close()
	}
	return nil
}

func withDefaults(cfg queue.SubscriptionConfig) (queue.SubscriptionConfig, error) {
	if cfg.Topic == "" {
		return cfg, errors.New("Topic is required")
	}
	if cfg.AckDeadline < 0 || cfg.MaxExtension < 0 || cfg.MinBackoff < 0 || cfg.MaxDeliveries < 0 || cfg.MaxOutstanding < 0 {
		return cfg, errors.New("AckDeadline, MaxExtension, MinBackoff, MaxDeliveries and MaxOutstanding must not be negative")
	}
	if cfg.MaxDeliveries > 0 && cfg.DeadLetterTopic == "" {
		return cfg, errors.New("MaxDeliveries needs a DeadLetterTopic")
	}
	if cfg.DeadLetterTopic != "" && cfg.DeadLetterTopic == cfg.Topic {
		return cfg, errors.New("DeadLetterTopic must differ from Topic")
	}
	if cfg.AckDeadline == 0 {
		cfg.AckDeadline = AckDeadlineDefault
	}
	if cfg.MaxExtension == 0 {
		cfg.MaxExtension = MaxExtensionDefault
	}
	if cfg.MaxOutstanding == 0 {
		cfg.MaxOutstanding = MaxOutstandingDefault
	}
	return cfg, nil
}

// topicLocked returns the topic, creating it. q.mu must be held.
func (q *Queue) topicLocked(name string) *topic {
	t, ok := q.topics[name]
	if !ok {
		t = &topic{name: name}
		q.topics[name] = t
	}
	return t
}

// publish copies m to every subscription of the topic. Lock order: q.mu, then a subscription's mu.
func (q *Queue) publish(topicName string, m *queue.Message) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return "", ErrClosed
	}
	q.nextID++
	id := strconv.FormatUint(q.nextID, 10)
	t := q.topicLocked(topicName)
	now := time.Now()
	for _, s := range t.subs {
		copies := 1
		if q.faults != nil && q.rnd.Float64() < q.faults.Duplicate {
			copies = 2
		}
		for range copies {
			var f fate
			if q.faults != nil {
				f = q.fate()
			}
			if f.drop {
				continue
			}
			s.enqueue(&entry{id: id, data: cloneBytes(m.Data), attrs: cloneAttrs(m.Attributes), index: -1}, f, now)
		}
	}
	return id, nil
}

// fate is what injected faults do to one delivery.
type fate struct {
	drop     bool
	delay    time.Duration
	reorder  bool
	position float64 // where a reordered message goes, 0 = front
}

// fate draws the faults for one delivery. q.mu must be held.
func (q *Queue) fate() fate {
	f := q.faults
	var out fate
	out.drop = q.rnd.Float64() < f.Drop
	if q.rnd.Float64() < f.Delay {
		out.delay = time.Duration(q.rnd.Int64N(int64(f.MaxDelay)) + 1)
	}
	if q.rnd.Float64() < f.Reorder {
		out.reorder = true
		out.position = q.rnd.Float64()
	}
	return out
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func cloneAttrs(a map[string]string) map[string]string {
	if a == nil {
		return nil
	}
	out := make(map[string]string, len(a))
	for k, v := range a {
		out[k] = v
	}
	return out
}

type topicRef struct {
	q    *Queue
	name string
}

// Publish implements queue.Topic. It sets m.ID.
func (t topicRef) Publish(ctx context.Context, m *queue.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("error publishing to topic %q: nil message", t.name)
	}
	id, err := t.q.publish(t.name, m)
	if err != nil {
		return fmt.Errorf("error publishing to topic %q: %w", t.name, err)
	}
	m.ID = id
	return nil
}

type subRef struct {
	q    *Queue
	name string
}

// Receive implements queue.Subscription.
func (r subRef) Receive(ctx context.Context, h queue.Handler) error {
	if h == nil {
		return fmt.Errorf("error receiving from subscription %q: nil handler", r.name)
	}
	r.q.mu.Lock()
	s, ok := r.q.subs[r.name]
	closed := r.q.closed
	r.q.mu.Unlock()
	if closed {
		return fmt.Errorf("error receiving from subscription %q: %w", r.name, ErrClosed)
	}
	if !ok {
		return fmt.Errorf("error receiving from subscription %q: %w", r.name, ErrSubscriptionNotFound)
	}
	return s.receive(ctx, h)
}
