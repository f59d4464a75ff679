package store

import (
	"context"
	"time"
)

// InboundStore is the part of the store that calls into Maestro from outside use: Slack's
// buttons and slash commands, and the trigger URLs other systems call (internal/service).
type InboundStore interface {
	// NonceClaim records key as seen until expires, if no unexpired claim of it exists at now;
	// ErrConflict otherwise. It is how a signed request is accepted once across every API
	// instance: the key is the request's signature, and a replay of it within its validity
	// finds the claim. An expired claim is replaced, so keys need no cleanup to be reused.
	NonceClaim(ctx context.Context, key string, now, expires time.Time) error

	// MutePut creates or replaces the mute of m.Table.
	MutePut(ctx context.Context, m *Mute) error
	// MuteGet returns a table's mute, expired or not, or ErrNotFound.
	MuteGet(ctx context.Context, table string) (*Mute, error)
	// MuteList returns every mute, expired ones included, ordered by table.
	MuteList(ctx context.Context) ([]*Mute, error)
	// MuteDelete removes a table's mute; ErrNotFound if there is none.
	MuteDelete(ctx context.Context, table string) error

	// TriggerCreate stores a new trigger; ErrConflict if its ID exists.
	TriggerCreate(ctx context.Context, tr *Trigger) error
	// TriggerGet returns a trigger or ErrNotFound.
	TriggerGet(ctx context.Context, id string) (*Trigger, error)
	// TriggerList returns every trigger, ordered by ID.
	TriggerList(ctx context.Context) ([]*Trigger, error)
	// TriggerRotate moves a trigger to its next Generation, in a transaction (concurrent
	// rotations each get their own), and returns it; ErrNotFound if there is none. The secret
	// derived from the old generation stops working.
	TriggerRotate(ctx context.Context, id string) (*Trigger, error)
	// TriggerDelete removes a trigger (its deliveries stay listed); ErrNotFound if there is none.
	TriggerDelete(ctx context.Context, id string) error

	// TriggerDeliveryRecord keeps one delivery to a trigger URL. Recording a delivery with the
	// same TriggerID and ID again changes nothing.
	TriggerDeliveryRecord(ctx context.Context, d *TriggerDelivery) error
	// TriggerDeliveryList returns a trigger's deliveries, newest first (ties by ID), at most
	// limit (0: 100); none, and no error, for an unknown trigger.
	TriggerDeliveryList(ctx context.Context, triggerID string, limit int) ([]*TriggerDelivery, error)
}

// Mute silences a table's Slack failure alerts until Until.
type Mute struct {
	Table string
	Until time.Time
	// By is who muted it, as runs record their creator ("slack:U123 (ana@example.com)").
	By        string
	CreatedAt time.Time
}

// Active reports whether the mute silences alerts at now.
func (m *Mute) Active(now time.Time) bool { return m != nil && now.Before(m.Until) }

// Trigger is a URL another system calls to start a run: a table's (and maybe its
// downstream's) or a schedule's. The store holds no secret: a trigger's signing secret is
// derived from a server key, the ID and Generation (internal/service).
type Trigger struct {
	ID string
	// Table or Schedule (exactly one) is what a delivery runs.
	Table      string
	Downstream bool
	Schedule   string
	// Group is the table's group when the trigger was made: who may delete it.
	Group string
	// Generation is mixed into the derived secret; a new generation is a new secret.
	Generation int
	CreatedBy  string
	CreatedAt  time.Time
}

// Trigger delivery outcomes.
const (
	DeliveryAccepted  = "accepted"  // the delivery started a run
	DeliveryDuplicate = "duplicate" // its idempotency key started a run already
	DeliveryRefused   = "refused"   // bad signature, stale, nothing to run, ...
)

// TriggerDelivery is one call of a trigger URL, kept so its caller and the table's owners can
// see what each delivery did.
type TriggerDelivery struct {
	TriggerID string
	ID        string
	At        time.Time
	// IdempotencyKey is the caller's Idempotency-Key header (empty if none).
	IdempotencyKey string
	// Outcome is DeliveryAccepted, DeliveryDuplicate or DeliveryRefused.
	Outcome string
	// Reason says why a delivery was refused, or which run a duplicate's key started.
	Reason string
	// RunID is the run started (accepted) or started before (duplicate).
	RunID string
	// Remote is the caller's address.
	Remote string
}
