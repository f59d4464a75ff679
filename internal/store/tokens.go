package store

import (
	"context"
	"time"
)

// AccessStore is the part of the store the API's authentication and administration use.
type AccessStore interface {
	// UserList returns every user, ordered by email.
	UserList(ctx context.Context) ([]*User, error)
	// UserDelete removes a user; ErrNotFound if there is none. Their tokens stay stored but
	// stop working, since a token acts as its (existing) owner.
	UserDelete(ctx context.Context, email string) error
	// ConnectionDelete removes a connection; ErrNotFound if it does not exist.
	ConnectionDelete(ctx context.Context, name string) error

	// TokenCreate stores a new API token; ErrConflict if a token with its ID exists.
	TokenCreate(ctx context.Context, t *Token) error
	// TokenGet returns a token, revoked or not, or ErrNotFound.
	TokenGet(ctx context.Context, id string) (*Token, error)
	// TokenList returns the tokens of owner (every token when owner is empty), revoked ones
	// included, oldest first (ties by ID).
	TokenList(ctx context.Context, owner string) ([]*Token, error)
	// TokenRevoke sets RevokedAt; ErrNotFound if there is no such token. Revoking a revoked
	// token keeps its first RevokedAt.
	TokenRevoke(ctx context.Context, id string, at time.Time) error
	// TokenUsed moves LastUsedAt forward to at (never back: requests finish in any order);
	// ErrNotFound if there is no such token.
	TokenUsed(ctx context.Context, id string, at time.Time) error
}

// Token is an API token. The store keeps only a hash of its secret: whoever reads the store
// cannot use the tokens in it.
type Token struct {
	// ID is public: it appears in the token itself, in listings and in revocations.
	ID string
	// Name says what the token is for ("ci", "laptop").
	Name string
	// Owner is the email of the user the token acts as; the user's current role applies.
	Owner string
	// Hash is the hex SHA-256 of the whole token.
	Hash       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero: never used
	RevokedAt  time.Time // zero: valid
}
