package main

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

func TestTriggersCommand(t *testing.T) {
	t.Parallel()
	srv := newAPIServer(t, service.APIConfig{TriggerKey: []byte("cli-test-trigger-key")}, nil)
	_, err := srv.st.TablePut(context.Background(), &store.TablePutParams{Table: spec.Table{Name: "raw.orders", SQL: "SELECT 1 AS x", Group: "sales"},
		User: "fixture", Create: true})
	require.NoError(t, err)
	api := []string{"--api", srv.url, "--token", srv.admin}

	out, errOut, code := execForTest(t, newTriggersCmd(), "", api...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "no triggers\n", out)

	out, errOut, code = execForTest(t, newTriggersCmd(), "", append([]string{"create", "--table", "raw.orders", "--downstream"}, api...)...)
	require.Equal(t, 0, code, errOut)
	m := regexp.MustCompile(`trigger (t-[0-9a-f]+) runs raw.orders and downstream\nURL path: (\S+)\nsecret .*\n([0-9a-f]{64})\n`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	id, path, secret := m[1], m[2], m[3]

	out, _, code = execForTest(t, newTriggersCmd(), "", api...)
	require.Equal(t, 0, code)
	require.Contains(t, out, id+"  raw.orders and downstream  "+path+"  admin@example.com")
	require.NotContains(t, out, secret, "a listing never shows a secret")

	out, errOut, code = execForTest(t, newTriggersCmd(), "", append([]string{"rotate", id}, api...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "trigger "+id)
	require.NotContains(t, out, secret, "a new secret")

	// A delivery signed with the old secret is refused, and listed with why.
	body := `{"landed": "orders"}`
	req, err := http.NewRequest(http.MethodPost, srv.url+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(callback.SignatureHeader, callback.Sign([]byte(secret), time.Now(), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	out, errOut, code = execForTest(t, newTriggersCmd(), "", append([]string{"deliveries", id}, api...)...)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `refused\s+-\s+-\s+127\.0\.0\.1\s+the signature does not verify`, out)

	other := newUserToken(t, srv.st, store.User{Email: "mk@example.com", Role: "editor", Group: "marketing"})
	_, errOut, code = execForTest(t, newTriggersCmd(), "", "delete", id, "--api", srv.url, "--token", other)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "table raw.orders belongs to group sales")
	out, errOut, code = execForTest(t, newTriggersCmd(), "", append([]string{"delete", id}, api...)...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "deleted trigger "+id+"\n", out)

	_, errOut, code = execForTest(t, newTriggersCmd(), "", append([]string{"create", "--table", "raw.orders", "--schedule", "daily"}, api...)...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "give exactly one of --table or --schedule")
}
