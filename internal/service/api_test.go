package service_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestRunDeliveries(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	t0 := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	require.NoError(t, st.RunCreate(ctx, &run.Run{ID: "r1", State: run.RunRunning, CreatedAt: t0},
		[]*run.Node{{RunID: "r1", Name: "ds.a", Kind: "query", State: run.NodeReady, Attempt: 1}}))
	require.NoError(t, st.RunCreate(ctx, &run.Run{ID: "r2", State: run.RunRunning, CreatedAt: t0},
		[]*run.Node{{RunID: "r2", Name: "ds.a", Kind: "query", State: run.NodeReady, Attempt: 1}}))
	for _, d := range []*store.Delivery{
		{RunID: "r1", Table: "ds.a", DeliveryID: "d1", URL: "https://h.example/hook", Event: "export.completed",
			Attempt: 1, Started: t0, Duration: 1500 * time.Millisecond, StatusCode: 500, Error: "callback answered 500 Internal Server Error"},
		{RunID: "r1", Table: "ds.a", DeliveryID: "d1", URL: "https://h.example/hook", Event: "export.completed",
			Attempt: 2, Started: t0.Add(2 * time.Second), Duration: 20 * time.Millisecond, StatusCode: 200},
	} {
		require.NoError(t, st.DeliveryRecord(ctx, d))
	}
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{User: "dev"}))
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("/runs/r1/deliveries")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"deliveries": [
		{"run_id": "r1", "table": "ds.a", "delivery_id": "d1", "url": "https://h.example/hook", "event": "export.completed",
		 "attempt": 1, "started_at": "2026-11-25T06:00:00Z", "duration_ms": 1500, "status_code": 500,
		 "error": "callback answered 500 Internal Server Error"},
		{"run_id": "r1", "table": "ds.a", "delivery_id": "d1", "url": "https://h.example/hook", "event": "export.completed",
		 "attempt": 2, "started_at": "2026-11-25T06:00:02Z", "duration_ms": 20, "status_code": 200}
	]}`, body)

	code, body = get("/runs/r2/deliveries")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"deliveries": []}`, body, "a run without callbacks lists none, not null")
	code, _ = get("/runs/nope/deliveries")
	require.Equal(t, http.StatusNotFound, code)
}
