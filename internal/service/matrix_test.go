package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/external"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// principal is one column of the authorization matrix.
type principal struct {
	name  string
	email string // empty: anonymous
	role  access.Role
	group string
}

var principals = []principal{
	{name: "anonymous"},
	{name: "viewer", email: "viewer@example.com", role: access.Viewer, group: "finance"},
	{name: "editor-other-group", email: "marketing@example.com", role: access.Editor, group: "marketing"},
	{name: "editor-of-group", email: "finance@example.com", role: access.Editor, group: "finance"},
	{name: "admin", email: "admin@example.com", role: access.Admin},
}

// matrixEnv is a fresh API over fixtures every route can act on: tables of group finance, a
// running run waiting for an upload, a failed run, a schedule, a connection, users and tokens.
type matrixEnv struct {
	st      store.Store
	srv     *httptest.Server
	tokens  map[string]string // principal name -> token
	tokenID map[string]string // principal name -> its token's id
}

func newMatrixEnv(t testing.TB) *matrixEnv {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	require.NoError(t, st.SchedulePut(ctx, spec.Schedule{Name: "daily", Cron: "0 6 * * *"}))
	require.NoError(t, st.SchedulePut(ctx, spec.Schedule{Name: "weekly", Cron: "0 6 * * 1"}))
	require.NoError(t, st.ConnectionPut(ctx, spec.Connection{Name: "pg", Driver: "postgres", SecretRef: "env:PG_DSN"}))
	for _, tb := range []spec.Table{
		{Name: "fin.base", Kind: "query", SQL: "SELECT 1 AS x", Group: "finance", Owner: "finance@example.com"},
		{Name: "fin.revenue", Kind: "query", SQL: "SELECT x FROM fin.base", Group: "finance", Schedules: []string{"daily"}},
		{Name: "fin.upload", Kind: external.Kind, Group: "finance", External: &spec.External{Format: "csv", Timeout: time.Hour}},
	} {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: tb, User: "fixture", Create: true})
		require.NoError(t, err)
	}
	require.NoError(t, st.RunCreate(ctx, &run.Run{ID: "r-running", State: run.RunRunning, Trigger: run.TriggerManual, CreatedAt: now},
		[]*run.Node{{RunID: "r-running", Name: "fin.upload", Kind: external.Kind, State: run.NodeReady, Attempt: 1, MaxAttempts: 1}}))
	require.NoError(t, st.RunCreate(ctx, &run.Run{ID: "r-failed", State: run.RunRunning, Trigger: run.TriggerManual, CreatedAt: now.Add(-time.Hour)},
		[]*run.Node{{RunID: "r-failed", Name: "fin.base", Kind: "query", State: run.NodeFailed, Attempt: 1, MaxAttempts: 1, FinishedAt: now}}))
	require.NoError(t, st.RunFinish(ctx, &store.RunFinishParams{ID: "r-failed", State: run.RunFailed, FinishedAt: now}))

	q := memqueue.New(nil)
	t.Cleanup(func() { q.Close() })
	_, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "tasks"})
	require.NoError(t, err)
	sched := scheduler.New(st, q.Topic("tasks"), scheduler.ProjectGraph("", ""), nil, zap.NewNop(), scheduler.Config{})
	b, err := localblob.Open(filepath.Join(t.TempDir(), "objects"))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	require.NoError(t, st.TriggerCreate(ctx, &store.Trigger{ID: "t-fixture", Table: "fin.base", Group: "finance", Generation: 1, CreatedBy: "fixture", CreatedAt: now}))
	require.NoError(t, st.MutePut(ctx, &store.Mute{Table: "fin.revenue", Until: now.Add(time.Hour), By: "fixture", CreatedAt: now}))
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{External: service.ExternalConfig{Bucket: b},
		Slack: service.SlackConfig{SigningSecret: []byte("matrix-signing-secret")}, TriggerKey: []byte("matrix-trigger-key")}))
	t.Cleanup(srv.Close)

	e := &matrixEnv{st: st, srv: srv, tokens: map[string]string{}, tokenID: map[string]string{}}
	for _, p := range principals {
		if p.email == "" {
			continue
		}
		e.tokens[p.name] = userToken(t, st, p.email, p.role.String(), p.group)
		tks, err := st.TokenList(ctx, p.email)
		require.NoError(t, err)
		e.tokenID[p.name] = tks[0].ID
	}
	return e
}

// matrixCase is how the test calls one route: its path with values, a body and headers, and
// the status when the caller is allowed, if not the route's success status (then the
// handler, not the guard, decided).
type matrixCase struct {
	path    string
	body    any
	headers []string
	want    int
}

var ifMatch1 = []string{"If-Match", `"1"`}

// matrixCases has one entry per route, keyed "METHOD path" as in the route table; a route
// without one fails the test.
var matrixCases = map[string]matrixCase{
	"GET /openapi.json": {},
	"GET /me":           {},

	"GET /tables":           {path: "/tables?group=finance&limit=2"},
	"POST /tables":          {body: spec.Table{Name: "fin.new", SQL: "SELECT x FROM fin.base", Group: "finance"}},
	"GET /tables/{name}":    {path: "/tables/fin.revenue"},
	"POST /check":           {path: "/check?create=true", body: spec.Table{Name: "fin.draft", SQL: "SELECT x FROM fin.base"}},
	"PUT /tables/{name}":    {path: "/tables/fin.revenue", body: spec.Table{SQL: "SELECT x + 1 AS x FROM fin.base", Group: "finance"}, headers: ifMatch1},
	"DELETE /tables/{name}": {path: "/tables/fin.revenue", headers: ifMatch1},
	"GET /graph":            {},

	"GET /tables/{name}/history": {path: "/tables/fin.revenue/history"},
	"GET /costs":                 {path: "/costs?by=owner"},

	"GET /schedules":           {},
	"PUT /schedules/{name}":    {path: "/schedules/hourly", body: spec.Schedule{Cron: "0 * * * *"}},
	"DELETE /schedules/{name}": {path: "/schedules/weekly"},

	"GET /connections":           {},
	"PUT /connections/{name}":    {path: "/connections/mysql", body: spec.Connection{Driver: "mysql", SecretRef: "env:MYSQL_DSN"}},
	"DELETE /connections/{name}": {path: "/connections/pg"},

	"GET /runs":                               {path: "/runs?limit=5"},
	"POST /runs":                              {body: map[string]any{"tables": []string{"fin.base"}, "downstream": true}},
	"GET /runs/{id}":                          {path: "/runs/r-running"},
	"POST /runs/{id}/cancel":                  {path: "/runs/r-running/cancel"},
	"POST /runs/{id}/resume":                  {path: "/runs/r-failed/resume"},
	"GET /runs/{id}/deliveries":               {path: "/runs/r-running/deliveries"},
	"GET /runs/{id}/tables/{table}/exports":   {path: "/runs/r-failed/tables/fin.base/exports"},
	"POST /runs/{id}/tables/{table}/upload":   {path: "/runs/r-running/tables/fin.upload/upload"},
	"PUT /runs/{id}/tables/{table}/data":      {path: "/runs/r-running/tables/fin.upload/data", body: "id\n1\n"},
	"POST /runs/{id}/tables/{table}/uploaded": {path: "/runs/r-running/tables/fin.upload/uploaded", want: http.StatusConflict}, // nothing uploaded yet

	"GET /mutes":            {},
	"PUT /mutes/{name}":     {path: "/mutes/fin.base", body: map[string]any{"hours": 2}},
	"DELETE /mutes/{name}":  {path: "/mutes/fin.revenue"},
	"GET /triggers":         {},
	"POST /triggers":        {body: map[string]any{"table": "fin.base", "downstream": true}},
	"DELETE /triggers/{id}": {path: "/triggers/t-fixture"},

	"POST /triggers/{id}/rotate": {path: "/triggers/t-fixture/rotate"},

	"GET /triggers/{id}/deliveries": {path: "/triggers/t-fixture/deliveries"},
	// Signed by their own secrets, not by API credentials: unsigned, everyone is refused.
	"POST /hooks/{id}":         {path: "/hooks/t-fixture", body: map[string]any{"landed": "orders"}, want: http.StatusUnauthorized},
	"POST /slack/interactions": {body: "payload=%7B%7D", want: http.StatusUnauthorized},
	"POST /slack/commands":     {body: "text=runs&user_id=U1", want: http.StatusUnauthorized},

	"PUT /project": {body: spec.Project{Schedules: []spec.Schedule{{Name: "daily", Cron: "0 6 * * *"}},
		Tables: []spec.Table{{Name: "fin.base", Kind: "query", SQL: "SELECT 1 AS x", Group: "finance"}}}},

	"GET /users":            {},
	"GET /users/{email}":    {path: "/users/viewer@example.com"},
	"PUT /users/{email}":    {path: "/users/new@example.com", body: map[string]any{"role": "editor", "group": "finance"}},
	"DELETE /users/{email}": {path: "/users/viewer@example.com"},

	"GET /tokens":         {},
	"POST /tokens":        {body: map[string]any{"name": "ci"}},
	"DELETE /tokens/{id}": {path: "/tokens/{own}"},
}

// expected is the status the route table promises for p: 401 without credentials, 403 below
// the route's role or, on a table write, for an editor of another group.
func expected(rt service.Route, c matrixCase, p principal) int {
	switch {
	case rt.Role == access.None:
	case p.email == "":
		return http.StatusUnauthorized
	case p.role < rt.Role:
		return http.StatusForbidden
	case rt.TableWrite && p.role == access.Editor && p.group != "finance":
		return http.StatusForbidden
	}
	if c.want != 0 {
		return c.want
	}
	return rt.Status
}

func TestAuthorizationMatrix(t *testing.T) {
	routes := service.RouteTable()
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		seen[key] = true
		if _, ok := matrixCases[key]; !ok {
			t.Errorf("route %s has no case in matrixCases: add how to call it", key)
		}
	}
	for key := range matrixCases {
		if !seen[key] {
			t.Errorf("matrixCases has %s, which is not a route", key)
		}
	}
	if t.Failed() {
		return
	}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		c := matrixCases[key]
		for _, p := range principals {
			t.Run(fmt.Sprintf("%s/%s", key, p.name), func(t *testing.T) {
				t.Parallel()
				e := newMatrixEnv(t)
				path := c.path
				if path == "" {
					path = rt.Path
				}
				path = strings.ReplaceAll(path, "{own}", e.tokenID[p.name])
				if path == "/tokens/" { // anonymous has no token of its own
					path = "/tokens/" + e.tokenID["viewer"]
				}
				cl := client{t: t, base: e.srv.URL + service.APIPrefix, token: e.tokens[p.name]}
				before := snapshot(t, e.st)
				code, hdr, out := cl.do(rt.Method, path, c.body, c.headers...)
				want := expected(rt, c, p)
				require.Equal(t, want, code, "%s as %s: %v", key, p.name, out)
				if code >= 400 {
					require.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
					require.EqualValues(t, code, out["status"])
					require.NotEmpty(t, out["detail"])
				}
				if code == http.StatusUnauthorized {
					require.NotEmpty(t, hdr.Get("WWW-Authenticate"))
				}
				if rt.Method == http.MethodGet || code == http.StatusUnauthorized || code == http.StatusForbidden {
					require.Equal(t, before, snapshot(t, e.st), "%s as %s changed the store", key, p.name)
				}
			})
		}
	}
}

// snapshot renders what the API could change, but a token's last use (which a GET records).
func snapshot(t *testing.T, st store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	tables, err := st.TableList(ctx)
	require.NoError(t, err)
	for _, r := range tables {
		def, err := json.Marshal(r.Table)
		require.NoError(t, err)
		fmt.Fprintf(&b, "table %s r%d %s\n", r.Table.Name, r.Revision, def)
	}
	scheds, err := st.ScheduleList(ctx)
	require.NoError(t, err)
	for _, s := range scheds {
		fmt.Fprintf(&b, "schedule %+v\n", s.Schedule)
	}
	conns, err := st.ConnectionList(ctx)
	require.NoError(t, err)
	fmt.Fprintf(&b, "connections %+v\n", conns)
	users, err := st.UserList(ctx)
	require.NoError(t, err)
	for _, u := range users {
		fmt.Fprintf(&b, "user %+v\n", *u)
	}
	tokens, err := st.TokenList(ctx, "")
	require.NoError(t, err)
	for _, tk := range tokens {
		fmt.Fprintf(&b, "token %s %s revoked=%v\n", tk.ID, tk.Owner, tk.RevokedAt)
	}
	mutes, err := st.MuteList(ctx)
	require.NoError(t, err)
	for _, m := range mutes {
		fmt.Fprintf(&b, "mute %+v\n", *m)
	}
	triggers, err := st.TriggerList(ctx)
	require.NoError(t, err)
	for _, tr := range triggers {
		fmt.Fprintf(&b, "trigger %+v\n", *tr) // a rotation shows as its generation
	}
	runs, err := st.RunList(ctx, &store.RunListParams{})
	require.NoError(t, err)
	for _, r := range runs {
		nodes, err := st.NodeList(ctx, r.ID)
		require.NoError(t, err)
		fmt.Fprintf(&b, "run %s %s %d nodes\n", r.ID, r.State, len(nodes))
		for _, n := range nodes {
			fmt.Fprintf(&b, "  node %s %s\n", n.Name, n.State)
		}
	}
	return b.String()
}
