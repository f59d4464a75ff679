package firestorestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// tableDoc is one revision of a table. The table's own document holds its newest revision
// (deleted or not); the revisions subcollection holds every revision, keyed by number.
// Definitions are kept as the JSON of spec.Table, the form the rest of Maestro reads and
// writes, so a new field of spec.Table needs no change here.
type tableDoc struct {
	Name       string    `firestore:"name"`
	Revision   int       `firestore:"revision"`
	Deleted    bool      `firestore:"deleted"`
	Definition string    `firestore:"definition"`
	Message    string    `firestore:"message"`
	CreatedBy  string    `firestore:"createdBy"`
	CreatedAt  time.Time `firestore:"createdAt"`
	UpdatedBy  string    `firestore:"updatedBy"`
	UpdatedAt  time.Time `firestore:"updatedAt"`
}

func (d *tableDoc) record() (*store.TableRecord, error) {
	rec := &store.TableRecord{Revision: d.Revision, Deleted: d.Deleted, Message: d.Message,
		CreatedBy: d.CreatedBy, CreatedAt: utc(d.CreatedAt), UpdatedBy: d.UpdatedBy, UpdatedAt: utc(d.UpdatedAt)}
	if err := json.Unmarshal([]byte(d.Definition), &rec.Table); err != nil {
		return nil, fmt.Errorf("error decoding the definition of table %q: %w", d.Name, err)
	}
	return rec, nil
}

func tableDocOf(rec *store.TableRecord) (*tableDoc, error) {
	def, err := json.Marshal(rec.Table)
	if err != nil {
		return nil, fmt.Errorf("error encoding the definition: %w", err)
	}
	return &tableDoc{Name: rec.Table.Name, Revision: rec.Revision, Deleted: rec.Deleted, Definition: string(def),
		Message: rec.Message, CreatedBy: rec.CreatedBy, CreatedAt: rec.CreatedAt, UpdatedBy: rec.UpdatedBy,
		UpdatedAt: rec.UpdatedAt}, nil
}

func (s *Store) tableRef(name string) *firestore.DocumentRef {
	return s.client.Collection(s.tablesID).Doc(docID(name))
}

func (s *Store) revisionRef(name string, revision int) *firestore.DocumentRef {
	// Zero-padded, so the ids sort like the numbers in the console.
	return s.tableRef(name).Collection(s.revisionsID).Doc(fmt.Sprintf("%010d", revision))
}

// TablePut saves a definition as a new revision: the revision document and the table's
// document, in one transaction.
func (s *Store) TablePut(ctx context.Context, p *store.TablePutParams) (*store.TableRecord, error) {
	name := p.Table.Name
	if name == "" {
		return nil, errors.New("error saving table: the table has no name")
	}
	var rec *store.TableRecord
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		rec = nil
		var prev *tableDoc
		snap, err := tx.Get(s.tableRef(name))
		switch {
		case status.Code(err) == codes.NotFound:
		case err != nil:
			return err
		default:
			prev = &tableDoc{}
			if err := snap.DataTo(prev); err != nil {
				return fmt.Errorf("error decoding table %q: %w", name, err)
			}
		}
		exists := prev != nil && !prev.Deleted
		if p.Create && exists {
			return conflict("the table exists already")
		}
		if p.IfRevision != 0 && (!exists || prev.Revision != p.IfRevision) {
			return conflict(fmt.Sprintf("the table is not at revision %d any more", p.IfRevision))
		}
		now := micro(time.Now())
		rec = &store.TableRecord{Table: p.Table, Revision: 1, Message: p.Message,
			CreatedBy: p.User, CreatedAt: now, UpdatedBy: p.User, UpdatedAt: now}
		if prev != nil {
			rec.Revision = prev.Revision + 1
		}
		if exists {
			rec.CreatedBy, rec.CreatedAt = prev.CreatedBy, utc(prev.CreatedAt)
		}
		return s.writeTable(tx, rec)
	})
	if err != nil {
		return nil, wrap(ctx, err, "error saving table %q", name)
	}
	return rec, nil
}

func (s *Store) writeTable(tx *firestore.Transaction, rec *store.TableRecord) error {
	doc, err := tableDocOf(rec)
	if err != nil {
		return err
	}
	if err := tx.Create(s.revisionRef(rec.Table.Name, rec.Revision), doc); err != nil {
		return err
	}
	return tx.Set(s.tableRef(rec.Table.Name), doc)
}

// TableGet returns the current revision of a table, or store.ErrNotFound.
func (s *Store) TableGet(ctx context.Context, name string) (*store.TableRecord, error) {
	d, err := getDoc[tableDoc](ctx, s.tableRef(name), "table %q", name)
	if err != nil {
		return nil, err
	}
	if d.Deleted {
		return nil, wrap(ctx, notFound("the table"), "error loading table %q", name)
	}
	return d.record()
}

// TableList returns every table's current revision, ordered by name.
func (s *Store) TableList(ctx context.Context) ([]*store.TableRecord, error) {
	q := qTablesLive.on(s.client.Collection(s.tablesID).Query, false)
	return collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.TableRecord, error) {
		var d tableDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return d.record()
	}, "error listing tables")
}

// TableDelete records a deleted revision; ErrNotFound if the table does not exist.
func (s *Store) TableDelete(ctx context.Context, name, user string) error {
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(s.tableRef(name))
		if err != nil {
			return err
		}
		var prev tableDoc
		if err := snap.DataTo(&prev); err != nil {
			return fmt.Errorf("error decoding table %q: %w", name, err)
		}
		if prev.Deleted {
			return notFound("the table")
		}
		rec, err := prev.record()
		if err != nil {
			return err
		}
		return s.writeTable(tx, &store.TableRecord{Table: rec.Table, Revision: prev.Revision + 1, Deleted: true,
			CreatedBy: prev.CreatedBy, CreatedAt: utc(prev.CreatedAt), UpdatedBy: user, UpdatedAt: micro(time.Now())})
	})
	return wrap(ctx, err, "error deleting table %q", name)
}

// TableRevisions returns every revision of a table, oldest first; ErrNotFound if it never existed.
func (s *Store) TableRevisions(ctx context.Context, name string) ([]*store.TableRecord, error) {
	q := qTableRevisions.on(s.tableRef(name).Collection(s.revisionsID).Query)
	out, err := collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.TableRecord, error) {
		var d tableDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return d.record()
	}, "error loading the revisions of table %q", name)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("error loading the revisions of table %q: %w", name, store.ErrNotFound)
	}
	return out, nil
}

// scheduleDoc is a schedule: its definition as the JSON of spec.Schedule, and when it fired.
type scheduleDoc struct {
	Name        string    `firestore:"name"`
	Definition  string    `firestore:"definition"`
	LastFiredAt time.Time `firestore:"lastFiredAt"`
}

func (s *Store) scheduleRef(name string) *firestore.DocumentRef {
	return s.client.Collection(s.schedulesID).Doc(docID(name))
}

// SchedulePut creates or replaces a schedule, keeping its LastFiredAt: a merge of the name
// and definition leaves the firing state as it is.
func (s *Store) SchedulePut(ctx context.Context, sc spec.Schedule) error {
	if sc.Name == "" {
		return errors.New("error saving schedule: the schedule has no name")
	}
	def, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("error encoding schedule %q: %w", sc.Name, err)
	}
	_, err = s.scheduleRef(sc.Name).Set(ctx, map[string]any{"name": sc.Name, "definition": string(def)},
		firestore.MergeAll)
	return wrap(ctx, err, "error saving schedule %q", sc.Name)
}

// ScheduleList returns every schedule, ordered by name.
func (s *Store) ScheduleList(ctx context.Context) ([]*store.ScheduleRecord, error) {
	q := qSchedules.on(s.client.Collection(s.schedulesID).Query)
	return collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.ScheduleRecord, error) {
		var d scheduleDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		rec := &store.ScheduleRecord{LastFiredAt: utc(d.LastFiredAt)}
		if err := json.Unmarshal([]byte(d.Definition), &rec.Schedule); err != nil {
			return nil, fmt.Errorf("error decoding schedule %q: %w", d.Name, err)
		}
		return rec, nil
	}, "error listing schedules")
}

// ScheduleFire moves LastFiredAt from prev to at; ErrConflict if it is not prev any more,
// ErrNotFound if the schedule does not exist.
func (s *Store) ScheduleFire(ctx context.Context, name string, prev, at time.Time) error {
	ref := s.scheduleRef(name)
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		snap, err := ref.Get(ctx)
		if err != nil {
			return nil, err
		}
		var d scheduleDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, fmt.Errorf("error decoding schedule %q: %w", name, err)
		}
		if !utc(d.LastFiredAt).Equal(micro(prev)) {
			return nil, conflict("it fired at another time already")
		}
		d.LastFiredAt = micro(at)
		return []casWrite{{ref: ref, readAt: snap.UpdateTime, doc: &d}}, nil
	})
	return wrap(ctx, err, "error firing schedule %q", name)
}

// ScheduleDelete removes a schedule; ErrNotFound if it does not exist.
func (s *Store) ScheduleDelete(ctx context.Context, name string) error {
	_, err := s.scheduleRef(name).Delete(ctx, firestore.Exists)
	return wrap(ctx, err, "error deleting schedule %q", name)
}

// connectionDoc is a connection as the JSON of spec.Connection (which names a secret, never
// holds one).
type connectionDoc struct {
	Name       string `firestore:"name"`
	Definition string `firestore:"definition"`
}

// ConnectionPut creates or replaces a connection.
func (s *Store) ConnectionPut(ctx context.Context, c spec.Connection) error {
	if c.Name == "" {
		return errors.New("error saving connection: the connection has no name")
	}
	def, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("error encoding connection %q: %w", c.Name, err)
	}
	_, err = s.client.Collection(s.connectionsID).Doc(docID(c.Name)).Set(ctx,
		&connectionDoc{Name: c.Name, Definition: string(def)})
	return wrap(ctx, err, "error saving connection %q", c.Name)
}

// ConnectionList returns every connection, ordered by name.
func (s *Store) ConnectionList(ctx context.Context) ([]spec.Connection, error) {
	q := qConnections.on(s.client.Collection(s.connectionsID).Query)
	return collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (spec.Connection, error) {
		var (
			d connectionDoc
			c spec.Connection
		)
		if err := snap.DataTo(&d); err != nil {
			return c, err
		}
		if err := json.Unmarshal([]byte(d.Definition), &c); err != nil {
			return c, fmt.Errorf("error decoding connection %q: %w", d.Name, err)
		}
		return c, nil
	}, "error listing connections")
}

type userDoc struct {
	Email string `firestore:"email"`
	Name  string `firestore:"name"`
	Role  string `firestore:"role"`
	Group string `firestore:"group"`
}

// UserPut creates or replaces a user.
func (s *Store) UserPut(ctx context.Context, u store.User) error {
	if u.Email == "" {
		return errors.New("error saving user: the user has no email")
	}
	_, err := s.client.Collection(s.usersID).Doc(docID(u.Email)).Set(ctx,
		&userDoc{Email: u.Email, Name: u.Name, Role: u.Role, Group: u.Group})
	return wrap(ctx, err, "error saving user %q", u.Email)
}

// UserGet returns a user, or ErrNotFound.
func (s *Store) UserGet(ctx context.Context, email string) (*store.User, error) {
	d, err := getDoc[userDoc](ctx, s.client.Collection(s.usersID).Doc(docID(email)), "user %q", email)
	if err != nil {
		return nil, err
	}
	return &store.User{Email: d.Email, Name: d.Name, Role: d.Role, Group: d.Group}, nil
}

// collect decodes every document of it and stops it; errors are wrapped with format and args.
func collect[T any](ctx context.Context, it *firestore.DocumentIterator, decode func(*firestore.DocumentSnapshot) (T, error),
	format string, args ...any) ([]T, error) {
	defer it.Stop()
	var out []T
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, wrap(ctx, err, format, args...)
		}
		v, err := decode(snap)
		if err != nil {
			return nil, wrap(ctx, err, format, args...)
		}
		out = append(out, v)
	}
}
