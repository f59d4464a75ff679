package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
)

// userToken adds a user with role and group and returns a fresh API token of theirs.
func userToken(t testing.TB, st store.Store, email, role, group string) string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.UserPut(ctx, store.User{Email: email, Role: role, Group: group}))
	raw, _, err := service.NewToken(ctx, st, email, "test", time.Now())
	require.NoError(t, err)
	return raw
}
