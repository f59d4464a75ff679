package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"time"

	"github.com/maestro-sql/maestro/internal/store"
)

// UserList returns every user, ordered by email.
func (s *Store) UserList(ctx context.Context) ([]*store.User, error) {
	rows, err := s.query(ctx, `SELECT email, name, role, grp FROM users ORDER BY email`)
	if err != nil {
		return nil, wrap(ctx, err, "error listing users")
	}
	defer rows.Close()
	var out []*store.User
	for rows.Next() {
		var u store.User
		if err := rows.Scan(&u.Email, &u.Name, &u.Role, &u.Group); err != nil {
			return nil, wrap(ctx, err, "error listing users")
		}
		out = append(out, &u)
	}
	return out, wrap(ctx, rows.Err(), "error listing users")
}

// UserDelete removes a user; ErrNotFound if there is none.
func (s *Store) UserDelete(ctx context.Context, email string) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`DELETE FROM users WHERE email = ?`, email)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	return wrap(ctx, err, "error deleting user %q", email)
}

// ConnectionDelete removes a connection; ErrNotFound if it does not exist.
func (s *Store) ConnectionDelete(ctx context.Context, name string) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`DELETE FROM connections WHERE name = ?`, name)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	return wrap(ctx, err, "error deleting connection %q", name)
}

// TokenCreate stores a new API token; ErrConflict if its ID exists.
func (s *Store) TokenCreate(ctx context.Context, tk *store.Token) error {
	if tk.ID == "" || tk.Owner == "" || tk.Hash == "" {
		return errors.New("error creating a token: it needs an id, an owner and a hash")
	}
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(`INSERT INTO tokens (id, name, owner, hash, created_at, last_used_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			tk.ID, tk.Name, tk.Owner, tk.Hash, nanos(tk.CreatedAt), nanos(tk.LastUsedAt), nanos(tk.RevokedAt))
		if err == nil && n == 0 {
			err = store.ErrConflict
		}
		return err
	})
	return wrap(ctx, err, "error creating token %q", tk.ID)
}

const tokenColumns = `id, name, owner, hash, created_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (*store.Token, error) {
	var (
		tk                     store.Token
		created, used, revoked int64
	)
	if err := row.Scan(&tk.ID, &tk.Name, &tk.Owner, &tk.Hash, &created, &used, &revoked); err != nil {
		return nil, err
	}
	tk.CreatedAt, tk.LastUsedAt, tk.RevokedAt = fromNanos(created), fromNanos(used), fromNanos(revoked)
	return &tk, nil
}

// TokenGet returns a token or ErrNotFound.
func (s *Store) TokenGet(ctx context.Context, id string) (*store.Token, error) {
	tk, err := scanToken(s.queryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if err != nil {
		return nil, wrap(ctx, err, "error loading token %q", id)
	}
	return tk, nil
}

// TokenList returns the tokens of owner (all when empty), oldest first.
func (s *Store) TokenList(ctx context.Context, owner string) ([]*store.Token, error) {
	var (
		rows *sql.Rows
		err  error
	)
	if owner == "" {
		rows, err = s.query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_at, id`)
	} else {
		rows, err = s.query(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE owner = ? ORDER BY created_at, id`, owner)
	}
	if err != nil {
		return nil, wrap(ctx, err, "error listing tokens")
	}
	defer rows.Close()
	var out []*store.Token
	for rows.Next() {
		tk, err := scanToken(rows)
		if err != nil {
			return nil, wrap(ctx, err, "error listing tokens")
		}
		out = append(out, tk)
	}
	return out, wrap(ctx, rows.Err(), "error listing tokens")
}

// TokenRevoke sets RevokedAt once; ErrNotFound if there is no such token.
func (s *Store) TokenRevoke(ctx context.Context, id string, at time.Time) error {
	return s.tokenUpdate(ctx, id, `UPDATE tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`,
		nanos(at), "error revoking token %q")
}

// TokenUsed moves LastUsedAt forward to at.
func (s *Store) TokenUsed(ctx context.Context, id string, at time.Time) error {
	return s.tokenUpdate(ctx, id, `UPDATE tokens SET last_used_at = MAX(last_used_at, ?) WHERE id = ?`,
		nanos(at), "error recording the use of token %q")
}

func (s *Store) tokenUpdate(ctx context.Context, id, query string, at int64, format string) error {
	err := s.tx(ctx, func(t *tx) error {
		n, err := t.exec(query, at, id)
		if err == nil && n == 0 {
			err = store.ErrNotFound
		}
		return err
	})
	return wrap(ctx, err, format, id)
}
