package cloud_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/cloud"
)

// TestSecretsReadSecretManager: secretmanager: references are read through the Secret Manager
// API (here a local server answering versions.access as the REST API documents), the latest
// version unless one is named; the error of a missing secret names the reference, not a value.
func TestSecretsReadSecretManager(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		versions := map[string]string{
			"/v1/projects/acme/secrets/shop-dsn/versions/latest:access": "postgres://shop@db/shop",
			"/v1/projects/acme/secrets/shop-dsn/versions/3:access":      "postgres://old@db/shop",
		}
		v, ok := versions[r.URL.Path]
		if r.Method != http.MethodGet || !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":404,"message":"Secret not found","status":"NOT_FOUND"}}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"name": r.URL.Path, "payload": map[string]string{
			"data": base64.StdEncoding.EncodeToString([]byte(v))}})
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	secrets := cloud.Secrets(option.WithEndpoint(srv.URL), option.WithoutAuthentication())

	v, err := secrets.Resolve(ctx, "secretmanager:projects/acme/secrets/shop-dsn")
	require.NoError(t, err)
	require.Equal(t, "postgres://shop@db/shop", v)
	v, err = secrets.Resolve(ctx, "secretmanager:projects/acme/secrets/shop-dsn/versions/3")
	require.NoError(t, err)
	require.Equal(t, "postgres://old@db/shop", v)

	_, err = secrets.Resolve(ctx, "secretmanager:projects/acme/secrets/gone")
	require.ErrorContains(t, err, `error resolving secret "secretmanager:projects/acme/secrets/gone"`)
	require.ErrorContains(t, err, "404")

	before := calls.Load()
	_, err = secrets.Resolve(ctx, "secretmanager:acme/shop-dsn")
	require.ErrorContains(t, err, "not projects/P/secrets/S[/versions/V]")
	require.Equal(t, before, calls.Load(), "a malformed name is refused without a call")

	t.Setenv("SHOP_DSN", "from-env")
	v, err = secrets.Resolve(ctx, "env:SHOP_DSN")
	require.NoError(t, err)
	require.Equal(t, "from-env", v)
}
