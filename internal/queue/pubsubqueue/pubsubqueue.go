// Package pubsubqueue is the production queue: package queue's contract on Google Cloud Pub/Sub,
// through the official client (cloud.google.com/go/pubsub/v2).
//
// How the contract maps onto Pub/Sub:
//
//   - A subscription always carries a dead-letter policy, because Pub/Sub counts deliveries
//     (Message.DeliveryAttempt) only on such subscriptions. With MaxDeliveries 0 ("never") the
//     policy uses Pub/Sub's largest limit, 100 deliveries, and a dead-letter topic named
//     "<subscription>-dead-letter" with a subscription of the same name that keeps what lands
//     there for inspection.
//   - AckDeadline is the lease of a delivered message: the stream's ack deadline and the length of
//     every extension the client sends while the handler runs, so a worker that dies loses its
//     messages after AckDeadline, not after the client library's adaptive deadline (up to 10
//     minutes).
//   - A handler that outlives MaxExtension has its message nacked at that moment, which hands it
//     to another delivery at once instead of an AckDeadline later.
//   - MinBackoff becomes the subscription's retry policy (maximum backoff 600 s, Pub/Sub's
//     largest).
//
// The Pub/Sub service agent needs the publisher role on each dead-letter topic and the subscriber
// role on each subscription that dead-letters; deploy/ grants them.
package pubsubqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/maestro-sql/maestro/internal/queue"
)

// Limits Pub/Sub puts on subscription settings.
const (
	// MinMaxDeliveries and MaxMaxDeliveries bound a dead-letter policy's delivery attempts.
	MinMaxDeliveries = 5
	MaxMaxDeliveries = 100
	// maxBackoff is the largest retry backoff Pub/Sub accepts.
	maxBackoff = 600 * time.Second
	// Pub/Sub accepts subscription ack deadlines from 10 s to 600 s.
	minSubscriptionAckDeadline = 10 * time.Second
	maxSubscriptionAckDeadline = 600 * time.Second
)

// MinAckDeadline is the shortest lease this package honours. The client library sends its first
// lease extension 5 s after Receive starts, whatever the deadline, so a shorter lease would run
// out before it is ever extended and a running message would be delivered twice. Shorter
// configured deadlines are raised to it. Pub/Sub itself (and its emulator) accepts leases from
// 10 s: Receive fails with InvalidArgument below that; only pstest takes 6–9 s.
const MinAckDeadline = 6 * time.Second

// Defaults of queue.SubscriptionConfig, as package queue documents them.
const (
	defaultAckDeadline    = 10 * time.Second
	defaultMaxExtension   = 60 * time.Minute
	defaultMaxOutstanding = 10
)

// deadLetterSuffix names the dead-letter topic (and its subscription) of a subscription
// configured without one.
const deadLetterSuffix = "-dead-letter"

// Config tunes the client. The zero Config is the production setting.
type Config struct {
	// ReceiveStreams is the number of StreamingPull streams each Receive opens. One stream
	// carries about 10 MB/s on Pub/Sub; in-process test servers hand out about one message per
	// stream per tick, so tests raise it. Defaults to 1.
	ReceiveStreams int
	// PublishDelay is how long a published message may wait for others to share its publish
	// request. Publish waits for the server's ack, so this adds to every hop's latency.
	// Defaults to 1ms.
	PublishDelay time.Duration
}

// Queue is a Pub/Sub client for one project. It is safe for concurrent use.
type Queue struct {
	client *pubsub.Client
	cfg    Config

	mu         sync.Mutex
	publishers map[string]*pubsub.Publisher
	closed     bool
}

// Open connects to Pub/Sub for projectID with the production Config. opts reach the client
// unchanged (credentials, or an emulator's endpoint).
func Open(ctx context.Context, projectID string, opts ...option.ClientOption) (*Queue, error) {
	return OpenWithConfig(ctx, projectID, Config{}, opts...)
}

// OpenWithConfig is Open with a Config.
func OpenWithConfig(ctx context.Context, projectID string, cfg Config, opts ...option.ClientOption) (*Queue, error) {
	if cfg.ReceiveStreams <= 0 {
		cfg.ReceiveStreams = 1
	}
	if cfg.PublishDelay <= 0 {
		cfg.PublishDelay = time.Millisecond
	}
	client, err := pubsub.NewClient(ctx, projectID, opts...)
	if err != nil {
		return nil, fmt.Errorf("error creating the Pub/Sub client for project %q: %w", projectID, err)
	}
	return &Queue{client: client, cfg: cfg, publishers: map[string]*pubsub.Publisher{}}, nil
}

// Close stops the publishers, after they sent what they hold, and closes the client.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	publishers := q.publishers
	q.publishers = nil
	q.mu.Unlock()
	for _, p := range publishers {
		p.Stop()
	}
	if err := q.client.Close(); err != nil {
		return fmt.Errorf("error closing the Pub/Sub client: %w", err)
	}
	return nil
}

// CreateTopic creates topic name; one that exists already is fine.
func (q *Queue) CreateTopic(ctx context.Context, name string) error {
	_, err := q.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: q.topicPath(name)})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("error creating topic %q: %w", name, err)
	}
	return nil
}

// Topic returns the topic name, which must exist (CreateTopic, CreateSubscription or deploy/
// create it). Its publisher is shared by every caller and lives until Close.
func (q *Queue) Topic(name string) queue.Topic {
	return &topic{q: q, name: name}
}

// CreateSubscription creates subscription name on cfg.Topic with its dead-letter topic, creating
// the topics as needed, and returns it. A subscription that exists already is used as it is
// (deploy/ may own its settings), as long as it receives from cfg.Topic; services call this at
// start.
func (q *Queue) CreateSubscription(ctx context.Context, name string, cfg queue.SubscriptionConfig) (queue.Subscription, error) {
	ownDeadLetter := cfg.DeadLetterTopic == ""
	cfg, err := withDefaults(name, cfg)
	if err != nil {
		return nil, err
	}
	if err := q.CreateTopic(ctx, cfg.Topic); err != nil {
		return nil, err
	}
	if err := q.CreateTopic(ctx, cfg.DeadLetterTopic); err != nil {
		return nil, err
	}
	if ownDeadLetter {
		// A dead-letter topic nobody subscribes to would drop what reaches it.
		if err := q.createPlainSubscription(ctx, cfg.DeadLetterTopic, cfg.DeadLetterTopic); err != nil {
			return nil, err
		}
	}

	sub := &pubsubpb.Subscription{
		Name:               q.subscriptionPath(name),
		Topic:              q.topicPath(cfg.Topic),
		AckDeadlineSeconds: int32(min(max(cfg.AckDeadline, minSubscriptionAckDeadline), maxSubscriptionAckDeadline) / time.Second),
		DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{
			DeadLetterTopic:     q.topicPath(cfg.DeadLetterTopic),
			MaxDeliveryAttempts: int32(cfg.MaxDeliveries),
		},
	}
	if cfg.MinBackoff > 0 {
		sub.RetryPolicy = &pubsubpb.RetryPolicy{
			MinimumBackoff: durationpb.New(cfg.MinBackoff),
			MaximumBackoff: durationpb.New(maxBackoff),
		}
	}
	if err := q.createOrCheckSubscription(ctx, sub); err != nil {
		return nil, err
	}
	return q.newSubscription(name, cfg), nil
}

// Subscription returns an existing subscription (made by CreateSubscription or deploy/). Its
// lease is the subscription's ack deadline, read when Receive starts; the client-side settings
// take package queue's defaults (MaxExtension 60m, MaxOutstanding 10).
func (q *Queue) Subscription(name string) queue.Subscription {
	return q.newSubscription(name, queue.SubscriptionConfig{
		MaxExtension:   defaultMaxExtension,
		MaxOutstanding: defaultMaxOutstanding,
	})
}

// ExistingSubscription is Subscription with client-side settings: maxOutstanding bounds the
// handlers running at once, maxExtension how long a running handler keeps its message (0: 60m).
// The production services use it because deploy/ owns the subscriptions and their accounts may
// not create them.
func (q *Queue) ExistingSubscription(name string, maxOutstanding int, maxExtension time.Duration) queue.Subscription {
	if maxOutstanding <= 0 {
		maxOutstanding = defaultMaxOutstanding
	}
	if maxExtension <= 0 {
		maxExtension = defaultMaxExtension
	}
	return q.newSubscription(name, queue.SubscriptionConfig{MaxExtension: maxExtension, MaxOutstanding: maxOutstanding})
}

// CreateDeadLetterSubscription creates subscription name on a dead-letter topic: a plain one
// (no dead-letter policy of its own) that keeps what reaches the topic, which would otherwise be
// dropped. One that exists already is fine.
func (q *Queue) CreateDeadLetterSubscription(ctx context.Context, name, topic string) error {
	if err := q.CreateTopic(ctx, topic); err != nil {
		return err
	}
	return q.createPlainSubscription(ctx, name, topic)
}

func (q *Queue) createPlainSubscription(ctx context.Context, name, topic string) error {
	return q.createOrCheckSubscription(ctx, &pubsubpb.Subscription{
		Name:               q.subscriptionPath(name),
		Topic:              q.topicPath(topic),
		AckDeadlineSeconds: int32(defaultAckDeadline / time.Second),
	})
}

func (q *Queue) createOrCheckSubscription(ctx context.Context, sub *pubsubpb.Subscription) error {
	_, err := q.client.SubscriptionAdminClient.CreateSubscription(ctx, sub)
	if err == nil {
		return nil
	}
	if status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("error creating subscription %q on topic %q: %w", sub.Name, sub.Topic, err)
	}
	existing, err := q.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: sub.Name})
	if err != nil {
		return fmt.Errorf("error reading existing subscription %q: %w", sub.Name, err)
	}
	if existing.Topic != sub.Topic {
		return fmt.Errorf("subscription %q exists on topic %q, not on %q", sub.Name, existing.Topic, sub.Topic)
	}
	return nil
}

// withDefaults fills cfg's defaults and rejects what Pub/Sub would refuse, naming the field.
func withDefaults(name string, cfg queue.SubscriptionConfig) (queue.SubscriptionConfig, error) {
	if cfg.Topic == "" {
		return cfg, fmt.Errorf("subscription %q: SubscriptionConfig.Topic is empty", name)
	}
	if cfg.AckDeadline <= 0 {
		cfg.AckDeadline = defaultAckDeadline
	}
	if cfg.MaxExtension <= 0 {
		cfg.MaxExtension = defaultMaxExtension
	}
	if cfg.MaxOutstanding <= 0 {
		cfg.MaxOutstanding = defaultMaxOutstanding
	}
	switch {
	case cfg.MaxDeliveries == 0:
		cfg.MaxDeliveries = MaxMaxDeliveries
	case cfg.MaxDeliveries < MinMaxDeliveries || cfg.MaxDeliveries > MaxMaxDeliveries:
		return cfg, fmt.Errorf("subscription %q: SubscriptionConfig.MaxDeliveries %d is outside Pub/Sub's range %d–%d",
			name, cfg.MaxDeliveries, MinMaxDeliveries, MaxMaxDeliveries)
	}
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = name + deadLetterSuffix
	}
	if cfg.DeadLetterTopic == cfg.Topic {
		return cfg, fmt.Errorf("subscription %q: SubscriptionConfig.DeadLetterTopic is its own topic %q", name, cfg.Topic)
	}
	if cfg.MinBackoff < 0 || cfg.MinBackoff > maxBackoff {
		return cfg, fmt.Errorf("subscription %q: SubscriptionConfig.MinBackoff %s is outside Pub/Sub's range 0–%s",
			name, cfg.MinBackoff, maxBackoff)
	}
	return cfg, nil
}

func (q *Queue) topicPath(name string) string {
	return "projects/" + q.client.Project() + "/topics/" + name
}

func (q *Queue) subscriptionPath(name string) string {
	return "projects/" + q.client.Project() + "/subscriptions/" + name
}

// publisher returns the shared publisher of topic name.
func (q *Queue) publisher(name string) (*pubsub.Publisher, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, errors.New("the queue is closed")
	}
	if p, ok := q.publishers[name]; ok {
		return p, nil
	}
	p := q.client.Publisher(name)
	p.PublishSettings.DelayThreshold = q.cfg.PublishDelay
	q.publishers[name] = p
	return p, nil
}

type topic struct {
	q    *Queue
	name string
}

// Publish sends m and returns once Pub/Sub stored it, setting m.ID.
func (t *topic) Publish(ctx context.Context, m *queue.Message) error {
	p, err := t.q.publisher(t.name)
	if err != nil {
		return fmt.Errorf("error publishing to topic %q: %w", t.name, err)
	}
	id, err := p.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: m.Attributes}).Get(ctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("error publishing to topic %q: %w", t.name, err)
	}
	m.ID = id
	return nil
}
