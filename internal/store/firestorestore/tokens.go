package firestorestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/maestro-sql/maestro/internal/store"
)

// UserList returns every user, ordered by email.
func (s *Store) UserList(ctx context.Context) ([]*store.User, error) {
	q := qUsers.on(s.client.Collection(s.usersID).Query)
	return collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.User, error) {
		var d userDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return &store.User{Email: d.Email, Name: d.Name, Role: d.Role, Group: d.Group}, nil
	}, "error listing users")
}

// UserDelete removes a user; ErrNotFound if there is none.
func (s *Store) UserDelete(ctx context.Context, email string) error {
	_, err := s.client.Collection(s.usersID).Doc(docID(email)).Delete(ctx, firestore.Exists)
	return wrap(ctx, err, "error deleting user %q", email)
}

// ConnectionDelete removes a connection; ErrNotFound if it does not exist.
func (s *Store) ConnectionDelete(ctx context.Context, name string) error {
	_, err := s.client.Collection(s.connectionsID).Doc(docID(name)).Delete(ctx, firestore.Exists)
	return wrap(ctx, err, "error deleting connection %q", name)
}

// tokenDoc is an API token in tokens/{id}: only its hash.
type tokenDoc struct {
	ID         string    `firestore:"id"`
	Name       string    `firestore:"name"`
	Owner      string    `firestore:"owner"`
	Hash       string    `firestore:"hash"`
	CreatedAt  time.Time `firestore:"createdAt"`
	LastUsedAt time.Time `firestore:"lastUsedAt"`
	RevokedAt  time.Time `firestore:"revokedAt"`
}

func (d *tokenDoc) token() *store.Token {
	return &store.Token{ID: d.ID, Name: d.Name, Owner: d.Owner, Hash: d.Hash,
		CreatedAt: utc(d.CreatedAt), LastUsedAt: utc(d.LastUsedAt), RevokedAt: utc(d.RevokedAt)}
}

func (s *Store) tokenRef(id string) *firestore.DocumentRef {
	return s.client.Collection(s.tokensID).Doc(docID(id))
}

// TokenCreate stores a new API token; ErrConflict if its ID exists.
func (s *Store) TokenCreate(ctx context.Context, tk *store.Token) error {
	if tk.ID == "" || tk.Owner == "" || tk.Hash == "" {
		return errors.New("error creating a token: it needs an id, an owner and a hash")
	}
	_, err := s.tokenRef(tk.ID).Create(ctx, &tokenDoc{ID: tk.ID, Name: tk.Name, Owner: tk.Owner, Hash: tk.Hash,
		CreatedAt: micro(tk.CreatedAt), LastUsedAt: micro(tk.LastUsedAt), RevokedAt: micro(tk.RevokedAt)})
	return wrap(ctx, err, "error creating token %q", tk.ID)
}

// TokenGet returns a token or ErrNotFound.
func (s *Store) TokenGet(ctx context.Context, id string) (*store.Token, error) {
	d, err := getDoc[tokenDoc](ctx, s.tokenRef(id), "token %q", id)
	if err != nil {
		return nil, err
	}
	return d.token(), nil
}

// TokenList returns the tokens of owner (all when empty), oldest first. A user has few
// tokens, so they are ordered here rather than by a composite index.
func (s *Store) TokenList(ctx context.Context, owner string) ([]*store.Token, error) {
	q := qTokens.on(s.client.Collection(s.tokensID).Query)
	if owner != "" {
		q = qTokensOfOwner.on(s.client.Collection(s.tokensID).Query, owner)
	}
	out, err := collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*store.Token, error) {
		var d tokenDoc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		return d.token(), nil
	}, "error listing tokens")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *store.Token) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// TokenRevoke sets RevokedAt once; ErrNotFound if there is no such token.
func (s *Store) TokenRevoke(ctx context.Context, id string, at time.Time) error {
	return s.tokenUpdate(ctx, id, "error revoking token %q", func(d *tokenDoc) (string, time.Time, bool) {
		return "revokedAt", micro(at), d.RevokedAt.IsZero()
	})
}

// TokenUsed moves LastUsedAt forward to at.
func (s *Store) TokenUsed(ctx context.Context, id string, at time.Time) error {
	return s.tokenUpdate(ctx, id, "error recording the use of token %q", func(d *tokenDoc) (string, time.Time, bool) {
		return "lastUsedAt", micro(at), micro(at).After(d.LastUsedAt)
	})
}

// tokenUpdate sets one time field of a token in a transaction when change says so.
func (s *Store) tokenUpdate(ctx context.Context, id, format string, change func(*tokenDoc) (string, time.Time, bool)) error {
	ref := s.tokenRef(id)
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		if status.Code(err) == codes.NotFound {
			return notFound(fmt.Sprintf("token %q", id))
		}
		if err != nil {
			return err
		}
		var d tokenDoc
		if err := snap.DataTo(&d); err != nil {
			return err
		}
		field, at, ok := change(&d)
		if !ok {
			return nil
		}
		return tx.Update(ref, []firestore.Update{{Path: field, Value: at}})
	})
	return wrap(ctx, err, format, id)
}
