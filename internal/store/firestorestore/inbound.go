package firestorestore

import (
	"context"
	"errors"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/maestro-sql/maestro/internal/store"
)

// Collections of calls into Maestro from outside: nonces/{key} (replay guards), mutes/{table},
// triggers/{id} and triggers/{id}/triggerDeliveries/{delivery id}.
const (
	collNonces            = "nonces"
	collMutes             = "mutes"
	collTriggers          = "triggers"
	collTriggerDeliveries = "triggerDeliveries"
)

type nonceDoc struct {
	Key       string    `firestore:"key"`
	ExpiresAt time.Time `firestore:"expiresAt"`
}

// NonceClaim records key until expires unless an unexpired claim of it exists; ErrConflict then.
func (s *Store) NonceClaim(ctx context.Context, key string, now, expires time.Time) error {
	ref := s.client.Collection(s.noncesID).Doc(docID(key))
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		switch {
		case err == nil:
			var d nonceDoc
			if err := snap.DataTo(&d); err != nil {
				return err
			}
			if now.Before(d.ExpiresAt) {
				return conflict("the request was seen already")
			}
		case status.Code(err) != codes.NotFound:
			return err
		}
		return tx.Set(ref, &nonceDoc{Key: key, ExpiresAt: micro(expires)})
	})
	return wrap(ctx, err, "error claiming a request nonce")
}

type muteDoc struct {
	Table     string    `firestore:"table"`
	Until     time.Time `firestore:"until"`
	By        string    `firestore:"by"`
	CreatedAt time.Time `firestore:"createdAt"`
}

func (d *muteDoc) mute() *store.Mute {
	return &store.Mute{Table: d.Table, Until: utc(d.Until), By: d.By, CreatedAt: utc(d.CreatedAt)}
}

func (s *Store) muteRef(table string) *firestore.DocumentRef {
	return s.client.Collection(s.mutesID).Doc(docID(table))
}

// MutePut creates or replaces a table's mute.
func (s *Store) MutePut(ctx context.Context, m *store.Mute) error {
	_, err := s.muteRef(m.Table).Set(ctx, &muteDoc{Table: m.Table, Until: micro(m.Until), By: m.By, CreatedAt: micro(m.CreatedAt)})
	return wrap(ctx, err, "error muting table %q", m.Table)
}

// MuteGet returns a table's mute or ErrNotFound.
func (s *Store) MuteGet(ctx context.Context, table string) (*store.Mute, error) {
	d, err := getDoc[muteDoc](ctx, s.muteRef(table), "the mute of table %q", table)
	if err != nil {
		return nil, err
	}
	return d.mute(), nil
}

// MuteList returns every mute, ordered by table.
func (s *Store) MuteList(ctx context.Context) ([]*store.Mute, error) {
	q := qMutes.on(s.client.Collection(s.mutesID).Query)
	return collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.Mute, error) {
		var d muteDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return d.mute(), nil
	}, "error listing mutes")
}

// MuteDelete removes a table's mute; ErrNotFound if there is none.
func (s *Store) MuteDelete(ctx context.Context, table string) error {
	_, err := s.muteRef(table).Delete(ctx, firestore.Exists)
	return wrap(ctx, err, "error unmuting table %q", table)
}

type triggerDoc struct {
	ID         string    `firestore:"id"`
	Table      string    `firestore:"table"`
	Downstream bool      `firestore:"downstream"`
	Schedule   string    `firestore:"schedule"`
	Group      string    `firestore:"group"`
	Generation int       `firestore:"generation"`
	CreatedBy  string    `firestore:"createdBy"`
	CreatedAt  time.Time `firestore:"createdAt"`
}

func (d *triggerDoc) trigger() *store.Trigger {
	return &store.Trigger{ID: d.ID, Table: d.Table, Downstream: d.Downstream, Schedule: d.Schedule, Group: d.Group,
		Generation: d.Generation, CreatedBy: d.CreatedBy, CreatedAt: utc(d.CreatedAt)}
}

func (s *Store) triggerRef(id string) *firestore.DocumentRef {
	return s.client.Collection(s.triggersID).Doc(docID(id))
}

// TriggerCreate stores a new trigger; ErrConflict if its ID exists.
func (s *Store) TriggerCreate(ctx context.Context, tr *store.Trigger) error {
	if tr.ID == "" {
		return errors.New("error creating a trigger: it needs an id")
	}
	_, err := s.triggerRef(tr.ID).Create(ctx, &triggerDoc{ID: tr.ID, Table: tr.Table, Downstream: tr.Downstream, Schedule: tr.Schedule,
		Group: tr.Group, Generation: tr.Generation, CreatedBy: tr.CreatedBy, CreatedAt: micro(tr.CreatedAt)})
	return wrap(ctx, err, "error creating trigger %q", tr.ID)
}

// TriggerGet returns a trigger or ErrNotFound.
func (s *Store) TriggerGet(ctx context.Context, id string) (*store.Trigger, error) {
	d, err := getDoc[triggerDoc](ctx, s.triggerRef(id), "trigger %q", id)
	if err != nil {
		return nil, err
	}
	return d.trigger(), nil
}

// TriggerList returns every trigger, ordered by ID.
func (s *Store) TriggerList(ctx context.Context) ([]*store.Trigger, error) {
	q := qTriggers.on(s.client.Collection(s.triggersID).Query)
	return collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.Trigger, error) {
		var d triggerDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return d.trigger(), nil
	}, "error listing triggers")
}

// TriggerRotate moves a trigger to its next generation, in a transaction, and returns it.
func (s *Store) TriggerRotate(ctx context.Context, id string) (*store.Trigger, error) {
	ref := s.triggerRef(id)
	var tr *store.Trigger
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		var d triggerDoc
		if err := snap.DataTo(&d); err != nil {
			return err
		}
		d.Generation++
		tr = d.trigger()
		return tx.Update(ref, []firestore.Update{{Path: "generation", Value: d.Generation}})
	})
	if err != nil {
		return nil, wrap(ctx, err, "error rotating the secret of trigger %q", id)
	}
	return tr, nil
}

// TriggerDelete removes a trigger; ErrNotFound if there is none. Its deliveries stay, in
// their subcollection, readable by the trigger's id.
func (s *Store) TriggerDelete(ctx context.Context, id string) error {
	_, err := s.triggerRef(id).Delete(ctx, firestore.Exists)
	return wrap(ctx, err, "error deleting trigger %q", id)
}

type triggerDeliveryDoc struct {
	TriggerID      string    `firestore:"triggerId"`
	ID             string    `firestore:"id"`
	At             time.Time `firestore:"at"`
	IdempotencyKey string    `firestore:"idempotencyKey"`
	Outcome        string    `firestore:"outcome"`
	Reason         string    `firestore:"reason"`
	RunID          string    `firestore:"runId"`
	Remote         string    `firestore:"remote"`
}

func (s *Store) triggerDeliveries(triggerID string) *firestore.CollectionRef {
	return s.triggerRef(triggerID).Collection(collTriggerDeliveries)
}

// TriggerDeliveryRecord keeps one delivery; recording it again changes nothing.
func (s *Store) TriggerDeliveryRecord(ctx context.Context, d *store.TriggerDelivery) error {
	_, err := s.triggerDeliveries(d.TriggerID).Doc(docID(d.ID)).Create(ctx, &triggerDeliveryDoc{
		TriggerID: d.TriggerID, ID: d.ID, At: micro(d.At), IdempotencyKey: d.IdempotencyKey, Outcome: d.Outcome,
		Reason: d.Reason, RunID: d.RunID, Remote: d.Remote})
	if status.Code(err) == codes.AlreadyExists {
		err = nil
	}
	return wrap(ctx, err, "error recording a delivery of trigger %q", d.TriggerID)
}

// TriggerDeliveryList returns a trigger's deliveries, newest first.
func (s *Store) TriggerDeliveryList(ctx context.Context, triggerID string, limit int) ([]*store.TriggerDelivery, error) {
	if limit <= 0 {
		limit = 100
	}
	q := qTriggerDeliveries.on(s.triggerDeliveries(triggerID).Query).Limit(limit)
	out, err := collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.TriggerDelivery, error) {
		var d triggerDeliveryDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return &store.TriggerDelivery{TriggerID: d.TriggerID, ID: d.ID, At: utc(d.At), IdempotencyKey: d.IdempotencyKey,
			Outcome: d.Outcome, Reason: d.Reason, RunID: d.RunID, Remote: d.Remote}, nil
	}, "error listing the deliveries of trigger %q", triggerID)
	if err != nil {
		return nil, err
	}
	// Ties of one instant go by id, as in the other store; a single-field order needs no index.
	slices.SortStableFunc(out, func(a, b *store.TriggerDelivery) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}
