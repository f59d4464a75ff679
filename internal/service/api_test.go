package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

func TestStatusServer(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	g := maestrotest.Graph{"ds.a": nil, "ds.b": {"ds.a"}, "ds.c": {"ds.b"}}
	for name := range g {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: name, SQL: "SELECT 1"}, User: "t", Create: true})
		require.NoError(t, err)
	}
	q := memqueue.New(nil)
	defer q.Close()
	_, err = q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "tasks"})
	require.NoError(t, err)
	sched := scheduler.New(st, q.Topic("tasks"),
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return g, nil }, nil, zap.NewNop(), scheduler.Config{})
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{User: "dev"}))
	defer srv.Close()

	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}

	code, out := post("/runs", `{"tables": ["ds.b"], "downstream": true}`)
	require.Equal(t, http.StatusOK, code, out)
	id := out["id"].(string)
	nodes, err := st.NodeList(ctx, id)
	require.NoError(t, err)
	require.Len(t, nodes, 2, "b and its downstream c")

	code, out = post("/runs", `{"tables": ["ds.nope"]}`)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, out["error"], "ds.nope")
	code, _ = post("/runs", `{"tables": ["ds.a"], "schedule": "daily"}`)
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = post("/runs", `{"table": "ds.a"}`)
	require.Equal(t, http.StatusBadRequest, code, "unknown fields are refused")

	code, out = post("/runs/"+id+"/cancel", ``)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, string(run.RunCancelled), out["state"])
	code, _ = post("/runs/"+id+"/cancel", ``)
	require.Equal(t, http.StatusConflict, code, "a finished run cannot be cancelled again")

	code, out = post("/runs/"+id+"/resume", ``)
	require.Equal(t, http.StatusOK, code, out)
	require.NotEqual(t, id, out["id"])
	code, _ = post("/runs/nope/resume", ``)
	require.Equal(t, http.StatusNotFound, code)
}
