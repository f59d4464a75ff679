package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// maestro dev makes its admin token once, prints it that once, keeps it where the client
// commands look, and makes a new one only when the kept one stops working.
func TestDevToken(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	st, err := sqlitestore.Open(ctx, filepath.Join(state, "maestro.db"))
	require.NoError(t, err)
	defer st.Close()

	var printed bytes.Buffer
	token, err := ensureDevToken(ctx, st, state, &printed)
	require.NoError(t, err)
	require.Contains(t, printed.String(), token, "printed on first start")
	kept, err := os.ReadFile(filepath.Join(state, devTokenFile))
	require.NoError(t, err)
	require.Equal(t, token, strings.TrimSpace(string(kept)))
	info, err := os.Stat(filepath.Join(state, devTokenFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "only its owner may read it")
	u, err := st.UserGet(ctx, devUser)
	require.NoError(t, err)
	require.Equal(t, "admin", u.Role)

	printed.Reset()
	again, err := ensureDevToken(ctx, st, state, &printed)
	require.NoError(t, err)
	require.Equal(t, token, again)
	require.Empty(t, printed.String(), "shown once")

	tks, err := st.TokenList(ctx, devUser)
	require.NoError(t, err)
	require.NoError(t, st.TokenRevoke(ctx, tks[0].ID, time.Now()))
	fresh, err := ensureDevToken(ctx, st, state, &printed)
	require.NoError(t, err)
	require.NotEqual(t, token, fresh, "a revoked token is replaced")
	require.True(t, service.TokenValid(ctx, st, fresh))
	require.False(t, service.TokenValid(ctx, st, token))

	// The client commands find it.
	c, err := (&apiFlags{state: state}).client(nil)
	require.NoError(t, err)
	require.Equal(t, fresh, c.token)
	require.Equal(t, "http://127.0.0.1:8080", c.base)
	t.Setenv("MAESTRO_TOKEN", "mae_from_env")
	t.Setenv("MAESTRO_API", "https://maestro.example.com/")
	c, err = (&apiFlags{state: state}).client(nil)
	require.NoError(t, err)
	require.Equal(t, "mae_from_env", c.token, "the environment comes before the dev token")
	require.Equal(t, "https://maestro.example.com", c.base)
	c, err = (&apiFlags{state: state, token: "mae_flag", api: "http://h:1"}).client(nil)
	require.NoError(t, err)
	require.Equal(t, "mae_flag", c.token, "the flag comes first")
}
