package secret_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/secret"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	r := secret.Resolver{Getenv: func(k string) string {
		if k == "SHOP_DSN" {
			return "postgres://u:p@h/db"
		}
		return ""
	}}
	v, err := r.Resolve(ctx, "env:SHOP_DSN")
	require.NoError(t, err)
	require.Equal(t, "postgres://u:p@h/db", v)

	_, err = r.Resolve(ctx, "env:MISSING")
	require.ErrorContains(t, err, "the environment variable MISSING is not set")

	file := filepath.Join(t.TempDir(), "dsn")
	require.NoError(t, os.WriteFile(file, []byte("mysql://x\n"), 0o600))
	v, err = r.Resolve(ctx, "file:"+file)
	require.NoError(t, err)
	require.Equal(t, "mysql://x", v, "the trailing newline an editor adds is not part of the secret")

	_, err = r.Resolve(ctx, "secretmanager:projects/p/secrets/s")
	require.True(t, errors.Is(err, secret.ErrUnavailable))

	_, err = r.Resolve(ctx, "postgres://u:hunter2@h/db")
	require.ErrorContains(t, err, "is not a reference")
	require.NotContains(t, err.Error(), "hunter2", "a secret pasted where a reference belongs is not echoed")
	_, err = r.Resolve(ctx, "vault:x")
	require.ErrorContains(t, err, "is not a reference")
}
