// Package queue carries work between the scheduler and workers with Pub/Sub's contract:
// at-least-once delivery in any order. A handler that returns nil acks; one that returns an
// error nacks and the message is delivered again; a message not acked within its ack deadline
// (the subscriber died, or the handler outran MaxExtension) is delivered again; a message
// delivered MaxDeliveries times without an ack goes to the dead-letter topic instead.
//
// Implementations: memqueue (in-process) and pubsubqueue (Google Cloud Pub/Sub). Both pass queuetest.Run.
package queue

import (
	"context"
	"time"
)

// Message is one message as published or delivered.
type Message struct {
	// ID is assigned by the queue on publish.
	ID         string
	Data       []byte
	Attributes map[string]string
	// DeliveryAttempt counts deliveries of this message, 1 on the first.
	DeliveryAttempt int
}

// Handler processes one delivered message. It may be called concurrently. Returning nil acks.
type Handler func(ctx context.Context, m *Message) error

// Topic publishes messages.
type Topic interface {
	// Publish sends a message; when it returns nil the queue has accepted it.
	Publish(ctx context.Context, m *Message) error
}

// Subscription delivers a topic's messages.
type Subscription interface {
	// Receive calls h for each message until ctx is done, then returns ctx's error after the
	// running handlers returned. Messages whose handlers had not returned are not acked.
	Receive(ctx context.Context, h Handler) error
}

// SubscriptionConfig configures a subscription.
type SubscriptionConfig struct {
	// Topic is the topic the subscription receives from.
	Topic string
	// AckDeadline is how long a delivered message may go without ack or extension before it is
	// delivered again. Defaults to 10s.
	AckDeadline time.Duration
	// MaxExtension is how long a running handler keeps its message leased by automatic deadline
	// extension. Defaults to 60m.
	MaxExtension time.Duration
	// MaxDeliveries sends a message to DeadLetterTopic after this many deliveries. 0: never.
	MaxDeliveries int
	// DeadLetterTopic receives messages past MaxDeliveries.
	DeadLetterTopic string
	// MinBackoff is the delay before a nacked message is delivered again. Defaults to 0
	// (as soon as possible).
	MinBackoff time.Duration
	// MaxOutstanding bounds handlers running at once. Defaults to 10.
	MaxOutstanding int
}
