package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

func TestProjectSyncOwnershipAndHistory(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	// Replacing the whole project is an admin's; editors change their group's tables one by one.
	require.NoError(t, st.UserPut(ctx, store.User{Email: "ana@acme.test", Name: "Ana Lopez", Role: "admin", Group: "sales"}))
	require.NoError(t, st.UserPut(ctx, store.User{Email: "vic@acme.test", Name: "Vic", Role: "viewer", Group: "sales"}))
	q := memqueue.New(nil)
	defer q.Close()
	sched := scheduler.New(st, q.Topic("tasks"), func(context.Context, []spec.Table) (scheduler.Graph, error) {
		return maestrotest.Graph{}, nil
	}, nil, zap.NewNop(), scheduler.Config{})
	repo := filepath.Join(t.TempDir(), "history")
	mirror, err := history.Open(st, history.Config{Dir: repo}, zap.NewNop())
	require.NoError(t, err)
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{History: mirror}))
	t.Cleanup(srv.Close)
	ana, vic := userToken(t, st, "ana@acme.test", "admin", "sales"), userToken(t, st, "vic@acme.test", "viewer", "sales")
	require.NoError(t, st.UserPut(ctx, store.User{Email: "ana@acme.test", Name: "Ana Lopez", Role: "admin", Group: "sales"}))

	push := func(token string, tables ...spec.Table) (int, map[string]any) {
		t.Helper()
		body, err := json.Marshal(spec.Project{Tables: tables})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPut, srv.URL+"/api/v1/project", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	orders := spec.Table{Name: "sales.orders", Kind: "query", SQL: "SELECT 1 AS id\n", Disposition: "truncate", Retries: 2, RetryBackoff: 30 * time.Second}
	code, out := push(ana, orders)
	require.Equal(t, http.StatusOK, code, out)
	require.NotContains(t, out, "history_error")
	orders.SQL = "SELECT 1 AS id,\n  'open' AS status\n"
	orders.Retries = 4
	code, out = push(ana, orders)
	require.Equal(t, http.StatusOK, code, out)

	changed := orders
	changed.SQL = "SELECT 2 AS id\n"
	code, out = push(vic, changed)
	require.Equal(t, http.StatusForbidden, code, out)
	code, _ = push("", changed)
	require.Equal(t, http.StatusUnauthorized, code)

	get := func(path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v1"+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+vic)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	resp := get("/tables/sales.orders/history")
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got struct {
		Revisions []history.Entry `json:"revisions"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got.Revisions, 2, "the refused pushes left no revision")
	first, second := got.Revisions[0], got.Revisions[1]
	require.Equal(t, "create sales.orders", first.Summary)
	require.Equal(t, "--- /dev/null\n+++ b/sales/orders.sql\n@@ -0,0 +1 @@\n+SELECT 1 AS id\n--- /dev/null\n+++ b/sales/orders.yaml\n@@ -0,0 +1 @@\n+group: sales\n", first.Diff,
		"a new table gets its author's group")
	require.Equal(t, "ana@acme.test", second.User)
	require.Equal(t, "Ana Lopez", second.UserName)
	require.Equal(t, "sales.orders: SQL changed; retries default → 4", second.Summary)
	require.Equal(t, "--- a/sales/orders.sql\n+++ b/sales/orders.sql\n@@ -1 +1,2 @@\n-SELECT 1 AS id\n+SELECT 1 AS id,\n+  'open' AS status\n"+
		"--- a/sales/orders.yaml\n+++ b/sales/orders.yaml\n@@ -1 +1,2 @@\n group: sales\n+retries: 4\n", second.Diff)

	resp = get("/tables/sales.nope/history")
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The Git history was synced after each accepted push.
	r, err := git.PlainOpen(repo)
	require.NoError(t, err)
	commits, err := r.Log(&git.LogOptions{})
	require.NoError(t, err)
	var subjects []string
	require.NoError(t, commits.ForEach(func(c *object.Commit) error {
		subjects = append(subjects, c.Author.Name+": "+firstLine(c.Message))
		return nil
	}))
	require.Equal(t, []string{"Ana Lopez: sales.orders: SQL changed; retries default → 4", "Ana Lopez: create sales.orders"}, subjects)
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
