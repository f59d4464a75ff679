package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

func (h *harness) access(t *testing.T) {
	h.test(t, "UserListByEmail", func(t *testing.T, ctx context.Context, s store.Store) {
		got, err := s.UserList(ctx)
		require.NoError(t, err)
		require.Empty(t, got)
		bo := store.User{Email: "bo@example.com", Role: "viewer"}
		ana := store.User{Email: "ana@example.com", Name: "Ana", Role: "editor", Group: "finance"}
		require.NoError(t, s.UserPut(ctx, bo))
		require.NoError(t, s.UserPut(ctx, ana))
		got, err = s.UserList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.User{&ana, &bo}, got)

		require.NoError(t, s.UserDelete(ctx, "bo@example.com"))
		_, err = s.UserGet(ctx, "bo@example.com")
		require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)
		got, err = s.UserList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.User{&ana}, got)
		err = s.UserDelete(ctx, "bo@example.com")
		require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)
	})
	h.test(t, "ConnectionDelete", func(t *testing.T, ctx context.Context, s store.Store) {
		pg := spec.Connection{Name: "pg", Driver: "postgres", SecretRef: "env:PG"}
		my := spec.Connection{Name: "my", Driver: "mysql", SecretRef: "env:MY"}
		require.NoError(t, s.ConnectionPut(ctx, pg))
		require.NoError(t, s.ConnectionPut(ctx, my))
		require.NoError(t, s.ConnectionDelete(ctx, "pg"))
		got, err := s.ConnectionList(ctx)
		require.NoError(t, err)
		require.Equal(t, []spec.Connection{my}, got)
		err = s.ConnectionDelete(ctx, "pg")
		require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)
	})
	h.test(t, "TokenLifecycle", func(t *testing.T, ctx context.Context, s store.Store) {
		a1 := &store.Token{ID: "t1", Name: "laptop", Owner: "ana@example.com", Hash: "h1", CreatedAt: at(time.Minute)}
		a2 := &store.Token{ID: "t0", Name: "ci", Owner: "ana@example.com", Hash: "h2", CreatedAt: at(time.Minute)}
		b1 := &store.Token{ID: "t2", Owner: "bo@example.com", Hash: "h3", CreatedAt: t0}
		for _, tk := range []*store.Token{a1, a2, b1} {
			require.NoError(t, s.TokenCreate(ctx, tk))
		}
		err := s.TokenCreate(ctx, &store.Token{ID: "t1", Owner: "eve@example.com", Hash: "x", CreatedAt: t0})
		require.True(t, errors.Is(err, store.ErrConflict), "an existing id is not replaced; got %v", err)
		got, err := s.TokenGet(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, a1, got)
		_, err = s.TokenGet(ctx, "nope")
		require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)

		list, err := s.TokenList(ctx, "ana@example.com")
		require.NoError(t, err)
		require.Equal(t, []*store.Token{a2, a1}, list, "oldest first, ties by id")
		list, err = s.TokenList(ctx, "")
		require.NoError(t, err)
		require.Equal(t, []*store.Token{b1, a2, a1}, list)

		require.NoError(t, s.TokenUsed(ctx, "t1", at(time.Hour)))
		require.NoError(t, s.TokenUsed(ctx, "t1", at(time.Minute)), "a late, older use")
		got, err = s.TokenGet(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, at(time.Hour), got.LastUsedAt, "the last use never moves back")

		require.NoError(t, s.TokenRevoke(ctx, "t1", at(2*time.Hour)))
		require.NoError(t, s.TokenRevoke(ctx, "t1", at(3*time.Hour)))
		got, err = s.TokenGet(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, at(2*time.Hour), got.RevokedAt, "the first revocation stays")
		require.Equal(t, "h1", got.Hash)

		require.True(t, errors.Is(s.TokenRevoke(ctx, "nope", t0), store.ErrNotFound))
		require.True(t, errors.Is(s.TokenUsed(ctx, "nope", t0), store.ErrNotFound))
	})
}
