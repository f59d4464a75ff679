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

// client calls an API server with one token (none when empty).
type client struct {
	t     testing.TB
	base  string
	token string
}

// do sends body (a string, or any value as JSON; nil for none) with extra headers (name,
// value pairs) and returns the status, the headers and the decoded JSON answer (nil if none).
func (c client) do(method, path string, body any, headers ...string) (int, http.Header, map[string]any) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(c.t, err)
		r = strings.NewReader(string(data))
	}
	req, err := http.NewRequest(method, c.base+path, r)
	require.NoError(c.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	var out map[string]any
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && len(data) > 0 {
		require.NoError(c.t, json.Unmarshal(data, &out), string(data))
	}
	return resp.StatusCode, resp.Header, out
}

func openStore(t testing.TB) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func TestRunRoutes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	g := maestrotest.Graph{"ds.a": nil, "ds.b": {"ds.a"}, "ds.c": {"ds.b"}}
	for name := range g {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: name, SQL: "SELECT 1"}, User: "t", Create: true})
		require.NoError(t, err)
	}
	q := memqueue.New(nil)
	defer q.Close()
	_, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "tasks"})
	require.NoError(t, err)
	sched := scheduler.New(st, q.Topic("tasks"),
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return g, nil }, nil, zap.NewNop(), scheduler.Config{})
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{}))
	defer srv.Close()
	c := client{t: t, base: srv.URL + "/api/v1", token: userToken(t, st, "ed@example.com", "editor", "ops")}

	code, hdr, out := c.do("POST", "/runs", map[string]any{"tables": []string{"ds.b"}, "downstream": true})
	require.Equal(t, http.StatusCreated, code, out)
	id := out["id"].(string)
	require.Equal(t, "/api/v1/runs/"+id, hdr.Get("Location"))
	require.Equal(t, "ed@example.com", out["created_by"], "the run is recorded as the caller's")
	require.Len(t, out["nodes"], 2, "b and its downstream c")
	require.Equal(t, map[string]any{"ready": 1.0, "pending": 1.0}, out["counts"])

	code, _, out = c.do("POST", "/runs", map[string]any{"tables": []string{"ds.nope"}})
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, out["detail"], "ds.nope")
	code, _, out = c.do("POST", "/runs", map[string]any{"tables": []string{"ds.a"}, "schedule": "daily"})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Len(t, out["errors"], 2)
	code, _, out = c.do("POST", "/runs", `{"table": "ds.a"}`)
	require.Equal(t, http.StatusBadRequest, code, "unknown fields are refused")
	require.Equal(t, []any{map[string]any{"field": "table", "reason": "unknown field"}}, out["errors"])

	code, _, out = c.do("GET", "/runs/"+id, nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "running", out["state"])
	code, _, out = c.do("GET", "/runs?state=running", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Len(t, out["runs"], 1)

	code, _, out = c.do("POST", "/runs/"+id+"/cancel", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, string(run.RunCancelled), out["state"])
	code, _, _ = c.do("POST", "/runs/"+id+"/cancel", nil)
	require.Equal(t, http.StatusConflict, code, "a finished run cannot be cancelled again")

	code, _, out = c.do("POST", "/runs/"+id+"/resume", nil)
	require.Equal(t, http.StatusCreated, code, out)
	require.NotEqual(t, id, out["id"])
	code, _, _ = c.do("POST", "/runs/nope/resume", nil)
	require.Equal(t, http.StatusNotFound, code)

	// The old unauthenticated routes at the root are gone.
	resp, err := http.Post(srv.URL+"/runs", "application/json", strings.NewReader(`{"schedule": "daily"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	// Health stays open.
	resp, err = http.Get(srv.URL + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestRunDeliveries(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
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
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	defer srv.Close()
	token := userToken(t, st, "v@example.com", "viewer", "")

	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+"/api/v1"+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
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
