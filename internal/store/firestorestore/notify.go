package firestorestore

import (
	"context"
	"errors"
	"sort"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/maestro-sql/maestro/internal/store"
)

// collNotifyThreads holds one document per table and channel while the table keeps failing.
const collNotifyThreads = "notifyThreads"

type notifyThreadDoc struct {
	Table     string    `firestore:"table"`
	Channel   string    `firestore:"channel"`
	TS        string    `firestore:"ts"`
	RunID     string    `firestore:"runId"`
	UpdatedAt time.Time `firestore:"updatedAt"`
}

func (s *Store) notifyThreadRef(table, channel string) *firestore.DocumentRef {
	// Table names never hold '|'.
	return s.client.Collection(s.notifyThreadsID).Doc(docID(table + "|" + channel))
}

func (d *notifyThreadDoc) thread() *store.NotifyThread {
	return &store.NotifyThread{Table: d.Table, Channel: d.Channel, TS: d.TS, RunID: d.RunID, UpdatedAt: utc(d.UpdatedAt)}
}

// NotifyThreadClaim records that a run's failure of a table is being told in a channel and
// returns the thread as it was; ErrConflict if that run's failure was claimed already.
func (s *Store) NotifyThreadClaim(ctx context.Context, p *store.NotifyThreadClaimParams) (*store.NotifyThread, error) {
	ref := s.notifyThreadRef(p.Table, p.Channel)
	var prev *store.NotifyThread
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		d := notifyThreadDoc{Table: p.Table, Channel: p.Channel}
		snap, err := tx.Get(ref)
		switch {
		case err == nil:
			if err := snap.DataTo(&d); err != nil {
				return err
			}
			if d.RunID == p.RunID {
				return conflict("the failure of run " + p.RunID + " was told already")
			}
		case status.Code(err) != codes.NotFound:
			return err
		}
		prev = d.thread()
		d.RunID, d.UpdatedAt = p.RunID, micro(p.Now)
		return tx.Set(ref, &d)
	})
	if err != nil {
		return nil, wrap(ctx, err, "error claiming the notification of table %q in %q", p.Table, p.Channel)
	}
	return prev, nil
}

// NotifyThreadSetTS records a thread's first message if it has none; ErrNotFound without a thread.
func (s *Store) NotifyThreadSetTS(ctx context.Context, table, channel, ts string) error {
	ref := s.notifyThreadRef(table, channel)
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		var d notifyThreadDoc
		if err := snap.DataTo(&d); err != nil {
			return err
		}
		if d.TS != "" {
			return nil
		}
		return tx.Update(ref, []firestore.Update{{Path: "ts", Value: ts}})
	})
	return wrap(ctx, err, "error recording the thread of table %q in %q", table, channel)
}

// NotifyThreadList returns every open thread, ordered by table then channel. Open threads are
// the currently failing tables: few, so they are sorted here rather than by an index.
func (s *Store) NotifyThreadList(ctx context.Context) ([]*store.NotifyThread, error) {
	out, err := collect(ctx, s.client.Collection(s.notifyThreadsID).Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.NotifyThread, error) {
		var d notifyThreadDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return d.thread(), nil
	}, "error listing notification threads")
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Table != out[j].Table {
			return out[i].Table < out[j].Table
		}
		return out[i].Channel < out[j].Channel
	})
	return out, nil
}

// NotifyThreadDelete closes a thread; closing none is no error.
func (s *Store) NotifyThreadDelete(ctx context.Context, table, channel string) error {
	_, err := s.notifyThreadRef(table, channel).Delete(ctx)
	if status.Code(err) == codes.NotFound || errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return wrap(ctx, err, "error closing the thread of table %q in %q", table, channel)
}
