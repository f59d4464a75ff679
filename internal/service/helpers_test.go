package service_test

import (
	"context"
	"encoding/json"
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

func stringOf(c byte, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
