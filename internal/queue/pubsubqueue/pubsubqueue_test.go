package pubsubqueue_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
)

// The cases here cover what the conformance suite cannot see: how subscriptions are made on
// Pub/Sub, and the cases the suite skips on one of the servers.

// onPstest is a Queue on a fresh pstest server, with an admin client to inspect what it made.
type onPstest struct {
	q       *pubsubqueue.Queue
	project string
	admin   *pubsub.Client
}

func newPstest(t *testing.T) onPstest {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	q, project := connectProject(t, srv.Addr, pstestStreams)
	admin, err := pubsub.NewClient(context.Background(), project, localServer(srv.Addr)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	return onPstest{q: q, project: project, admin: admin}
}

func (p onPstest) subscription(t *testing.T, name string) *pubsubpb.Subscription {
	t.Helper()
	s, err := p.admin.SubscriptionAdminClient.GetSubscription(context.Background(),
		&pubsubpb.GetSubscriptionRequest{Subscription: "projects/" + p.project + "/subscriptions/" + name})
	require.NoError(t, err)
	return s
}

func (p onPstest) topicPath(name string) string { return "projects/" + p.project + "/topics/" + name }

// receiveUntilDone runs sub.Receive until the test ends.
func receiveUntilDone(t *testing.T, sub queue.Subscription, h queue.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Receive(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
		case <-time.After(10 * time.Second):
			t.Error("Receive did not return after its context was cancelled")
		}
	})
}

func TestForwardsToDeadLetterTopicOnPstest(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	ctx := context.Background()
	dead, err := q.CreateSubscription(ctx, "dead-sub", queue.SubscriptionConfig{Topic: "dead"})
	require.NoError(t, err)
	poison, err := q.CreateSubscription(ctx, "poison-sub", queue.SubscriptionConfig{
		Topic: "poison", MaxDeliveries: pubsubqueue.MinMaxDeliveries, DeadLetterTopic: "dead",
	})
	require.NoError(t, err)
	require.NoError(t, q.Topic("poison").Publish(ctx, &queue.Message{Data: []byte("poison pill")}))

	attempts := make(chan int, 100)
	receiveUntilDone(t, poison, func(_ context.Context, m *queue.Message) error {
		attempts <- m.DeliveryAttempt
		return errors.New("always fails")
	})
	deadLettered := make(chan *queue.Message, 1)
	receiveUntilDone(t, dead, func(_ context.Context, m *queue.Message) error {
		// pstest forwards the message again on every tick (see pstestLimits): keep the first.
		select {
		case deadLettered <- m:
		default:
		}
		return nil
	})
	select {
	case m := <-deadLettered:
		require.Equal(t, []byte("poison pill"), m.Data)
	case <-time.After(10 * time.Second):
		t.Fatal("nothing reached the dead-letter topic")
	}
	close(attempts)
	var seen []int
	for a := range attempts {
		seen = append(seen, a)
	}
	require.Equal(t, []int{1, 2, 3, 4, 5}, seen, "delivery attempts on the original subscription")
}

func TestCreateSubscriptionIsIdempotent(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	ctx := context.Background()
	cfg := queue.SubscriptionConfig{Topic: "tasks", AckDeadline: 30 * time.Second, MinBackoff: 2 * time.Second}
	first, err := q.CreateSubscription(ctx, "workers", cfg)
	require.NoError(t, err)
	require.NotNil(t, first)
	// Every service instance calls it at start.
	second, err := q.CreateSubscription(ctx, "workers", cfg)
	require.NoError(t, err)
	require.NotNil(t, second)
	require.NoError(t, q.CreateTopic(ctx, "tasks"))

	_, err = q.CreateSubscription(ctx, "workers", queue.SubscriptionConfig{Topic: "completions"})
	require.ErrorContains(t, err, `exists on topic "`+p.topicPath("tasks")+`"`)
}

func TestCreateSubscriptionConfiguresPubSub(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	ctx := context.Background()
	_, err := q.CreateSubscription(ctx, "workers", queue.SubscriptionConfig{
		Topic: "tasks", AckDeadline: 30 * time.Second, MaxDeliveries: 7, DeadLetterTopic: "tasks-dead",
		MinBackoff: 2 * time.Second,
	})
	require.NoError(t, err)
	s := p.subscription(t, "workers")
	require.Equal(t, p.topicPath("tasks"), s.Topic)
	require.Equal(t, int32(30), s.AckDeadlineSeconds)
	require.Equal(t, p.topicPath("tasks-dead"), s.DeadLetterPolicy.DeadLetterTopic)
	require.Equal(t, int32(7), s.DeadLetterPolicy.MaxDeliveryAttempts)
	require.Equal(t, 2*time.Second, s.RetryPolicy.MinimumBackoff.AsDuration())
	require.Equal(t, 600*time.Second, s.RetryPolicy.MaximumBackoff.AsDuration())
}

func TestSubscriptionWithoutDeadLetterTopicGetsItsOwn(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	ctx := context.Background()
	_, err := q.CreateSubscription(ctx, "completions-sub", queue.SubscriptionConfig{Topic: "completions"})
	require.NoError(t, err)

	s := p.subscription(t, "completions-sub")
	require.Equal(t, p.topicPath("completions-sub-dead-letter"), s.DeadLetterPolicy.DeadLetterTopic)
	require.Equal(t, int32(pubsubqueue.MaxMaxDeliveries), s.DeadLetterPolicy.MaxDeliveryAttempts)
	require.Nil(t, s.RetryPolicy, "no backoff configured: redelivered as soon as possible")
	// Something subscribes to the dead-letter topic, or Pub/Sub would drop what reaches it.
	dl := p.subscription(t, "completions-sub-dead-letter")
	require.Equal(t, p.topicPath("completions-sub-dead-letter"), dl.Topic)
	require.Nil(t, dl.DeadLetterPolicy)
}

func TestCreateSubscriptionRejectsWhatPubSubWouldRefuse(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	ctx := context.Background()
	for _, c := range []struct {
		name string
		cfg  queue.SubscriptionConfig
		want string
	}{
		{"NoTopic", queue.SubscriptionConfig{}, "SubscriptionConfig.Topic is empty"},
		{"TooFewDeliveries", queue.SubscriptionConfig{Topic: "t1", MaxDeliveries: 3}, "SubscriptionConfig.MaxDeliveries 3 is outside Pub/Sub's range 5–100"},
		{"TooManyDeliveries", queue.SubscriptionConfig{Topic: "t1", MaxDeliveries: 101}, "SubscriptionConfig.MaxDeliveries 101"},
		{"DeadLetterIsOwnTopic", queue.SubscriptionConfig{Topic: "t1", DeadLetterTopic: "t1"}, "SubscriptionConfig.DeadLetterTopic is its own topic"},
		{"BackoffTooLong", queue.SubscriptionConfig{Topic: "t1", MinBackoff: time.Hour}, "SubscriptionConfig.MinBackoff 1h0m0s is outside"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := q.CreateSubscription(ctx, "sub-"+c.name, c.cfg)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestSubscriptionByNameReceives(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	ctx := context.Background()
	_, err := q.CreateSubscription(ctx, "made-by-deploy", queue.SubscriptionConfig{Topic: "tasks", AckDeadline: 20 * time.Second})
	require.NoError(t, err)
	require.NoError(t, q.Topic("tasks").Publish(ctx, &queue.Message{Data: []byte("x")}))

	got := make(chan *queue.Message, 10)
	receiveUntilDone(t, q.Subscription("made-by-deploy"), func(_ context.Context, m *queue.Message) error {
		got <- m
		return nil
	})
	select {
	case m := <-got:
		require.Equal(t, []byte("x"), m.Data)
		require.Equal(t, 1, m.DeliveryAttempt)
	case <-time.After(10 * time.Second):
		t.Fatal("no message delivered")
	}
}

func TestReceiveOnMissingSubscriptionFails(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	err := q.Subscription("nobody-made-this").Receive(context.Background(), func(context.Context, *queue.Message) error { return nil })
	require.ErrorContains(t, err, `subscription "nobody-made-this"`)
	require.NotErrorIs(t, err, context.Canceled)
}

func TestPublishToMissingTopicFails(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	err := q.Topic("nobody-made-this").Publish(context.Background(), &queue.Message{Data: []byte("x")})
	require.ErrorContains(t, err, `error publishing to topic "nobody-made-this"`)
}

func TestPublishAfterCloseFails(t *testing.T) {
	t.Parallel()
	p := newPstest(t)
	q := p.q
	ctx := context.Background()
	require.NoError(t, q.CreateTopic(ctx, "tasks"))
	require.NoError(t, q.Topic("tasks").Publish(ctx, &queue.Message{Data: []byte("x")}))
	require.NoError(t, q.Close())
	require.ErrorContains(t, q.Topic("tasks").Publish(ctx, &queue.Message{Data: []byte("y")}), "closed")
}

// TestEmulatorAcceptsTheSubscriptionSettings creates a fully configured subscription on the
// emulator, which validates settings as Pub/Sub does (pstest checks almost nothing). Neither
// local server delays redelivery by a retry policy, so the backoff itself is not observable here.
func TestEmulatorAcceptsTheSubscriptionSettings(t *testing.T) {
	t.Parallel()
	host := requireEmulator(t)
	q, project := connectProject(t, host, emulatorStreams)
	ctx := context.Background()
	_, err := q.CreateSubscription(ctx, "workers", queue.SubscriptionConfig{
		Topic: "tasks", AckDeadline: 30 * time.Second, MaxDeliveries: 7, DeadLetterTopic: "tasks-dead",
		MinBackoff: 2 * time.Second,
	})
	require.NoError(t, err)
	_, err = q.CreateSubscription(ctx, "completions-sub", queue.SubscriptionConfig{Topic: "completions"})
	require.NoError(t, err)

	admin, err := pubsub.NewClient(ctx, project, localServer(host)...)
	require.NoError(t, err)
	defer admin.Close()
	s, err := admin.SubscriptionAdminClient.GetSubscription(ctx,
		&pubsubpb.GetSubscriptionRequest{Subscription: "projects/" + project + "/subscriptions/workers"})
	require.NoError(t, err)
	require.Equal(t, int32(30), s.AckDeadlineSeconds)
	require.Equal(t, int32(7), s.DeadLetterPolicy.GetMaxDeliveryAttempts())
	require.Equal(t, 2*time.Second, s.RetryPolicy.GetMinimumBackoff().AsDuration())
}
