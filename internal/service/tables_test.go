package service_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

func newTablesEnv(t *testing.T) (fin, mkt, admin client) {
	t.Helper()
	st := openStore(t)
	require.NoError(t, st.SchedulePut(t.Context(), spec.Schedule{Name: "daily", Cron: "0 6 * * *"}))
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	t.Cleanup(srv.Close)
	base := srv.URL + service.APIPrefix
	return client{t: t, base: base, token: userToken(t, st, "fin@example.com", "editor", "finance")},
		client{t: t, base: base, token: userToken(t, st, "mkt@example.com", "editor", "marketing")},
		client{t: t, base: base, token: userToken(t, st, "admin@example.com", "admin", "")}
}

func TestTableSaveReportsTheGraphAndRefusesBadChanges(t *testing.T) {
	fin, mkt, _ := newTablesEnv(t)

	code, hdr, out := fin.do("POST", "/tables", spec.Table{Name: "Fin.A", SQL: "SELECT 1 AS x"})
	require.Equal(t, http.StatusCreated, code, out)
	require.Equal(t, `"1"`, hdr.Get("ETag"))
	require.Equal(t, "/api/v1/tables/fin.a", hdr.Get("Location"))
	require.Equal(t, "fin.a", out["name"])
	require.Equal(t, "finance", out["group"], "an editor's table is of their group unless the body says")
	require.Equal(t, "fin@example.com", out["owner"])
	require.Equal(t, "fin@example.com", out["created_by"])

	code, _, out = fin.do("POST", "/tables", spec.Table{Name: "fin.b", SQL: "SELECT x FROM fin.a JOIN raw.events USING (x)"})
	require.Equal(t, http.StatusCreated, code, out)
	require.Equal(t, map[string]any{"upstream": []any{"fin.a"}, "downstream": []any{}, "external_sources": []any{"raw.events"}}, out["graph"])
	code, hdr, out = fin.do("GET", "/tables/fin.a", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, `"1"`, hdr.Get("ETag"))
	require.Equal(t, []any{"fin.b"}, out["graph"].(map[string]any)["downstream"])

	code, _, _ = fin.do("POST", "/tables", spec.Table{Name: "fin.a", SQL: "SELECT 2"})
	require.Equal(t, http.StatusConflict, code, "creating an existing table")

	// SQL that does not parse, unknown references, bad fields: 422 with each field's reason.
	code, _, out = fin.do("POST", "/tables", spec.Table{Name: "fin.c", SQL: "SELEKT 1"})
	require.Equal(t, http.StatusUnprocessableEntity, code, out)
	errs := out["errors"].([]any)
	require.Equal(t, "sql", errs[0].(map[string]any)["field"])
	require.Contains(t, errs[0].(map[string]any)["reason"], "line 1")
	code, _, out = fin.do("POST", "/tables", spec.Table{Name: "nodot", SQL: "SELECT 1", Schedules: []string{"hourly"},
		Kind: "import", Import: &spec.Import{Connection: "pg"}, Disposition: "merge"})
	require.Equal(t, http.StatusUnprocessableEntity, code, out)
	require.ElementsMatch(t, []any{
		map[string]any{"field": "name", "reason": "must be dataset.table (letters, digits and underscores)"},
		map[string]any{"field": "import.connection", "reason": `unknown connection "pg"`},
		map[string]any{"field": "schedules[0]", "reason": `unknown schedule "hourly"`},
		map[string]any{"field": "disposition", "reason": "must be truncate or append"},
	}, out["errors"])

	// Optimistic concurrency: If-Match is required, and must name the current revision.
	change := spec.Table{SQL: "SELECT 2 AS x", Group: "finance"}
	code, _, out = fin.do("PUT", "/tables/fin.a", change)
	require.Equal(t, http.StatusPreconditionRequired, code, out)
	code, hdr, out = fin.do("PUT", "/tables/fin.a", change, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, `"2"`, hdr.Get("ETag"))
	require.Equal(t, "fin@example.com", out["owner"], "the owner stays when the body leaves it out")
	code, _, out = fin.do("PUT", "/tables/fin.a", spec.Table{SQL: "SELECT 3 AS x", Group: "finance"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusPreconditionFailed, code, "a change made on revision 1 would overwrite revision 2 unseen")
	require.Contains(t, out["detail"], "revision 2")
	code, _, out = fin.do("GET", "/tables/fin.a", nil)
	require.Equal(t, "SELECT 2 AS x", out["sql"], "the refused change left the table as it was")

	// A cycle is refused, naming the tables on it.
	code, _, out = fin.do("PUT", "/tables/fin.a", spec.Table{SQL: "SELECT x FROM fin.b", Group: "finance"}, "If-Match", `"2"`)
	require.Equal(t, http.StatusUnprocessableEntity, code, out)
	require.Equal(t, []any{map[string]any{"field": "sql", "reason": "would create a dependency cycle: fin.a -> fin.b -> fin.a"}}, out["errors"])

	// Deleting a table others read would break them: refused, naming them.
	code, _, out = fin.do("DELETE", "/tables/fin.a", nil, "If-Match", `"2"`)
	require.Equal(t, http.StatusConflict, code, out)
	require.Contains(t, out["detail"], "read by fin.b")

	// Another group's editor can neither change nor take the tables.
	code, _, _ = mkt.do("PUT", "/tables/fin.b", spec.Table{SQL: "SELECT 1", Group: "marketing"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = mkt.do("POST", "/tables", spec.Table{Name: "fin.z", SQL: "SELECT 1", Group: "finance"})
	require.Equal(t, http.StatusForbidden, code)
	// Nor can an editor give a table away to a group they are not in.
	code, _, _ = fin.do("PUT", "/tables/fin.b", spec.Table{SQL: "SELECT 1", Group: "marketing"}, "If-Match", `"1"`)
	require.Equal(t, http.StatusForbidden, code)

	code, _, _ = fin.do("DELETE", "/tables/fin.b", nil, "If-Match", `"1"`)
	require.Equal(t, http.StatusNoContent, code)
	code, _, _ = fin.do("GET", "/tables/fin.b", nil)
	require.Equal(t, http.StatusNotFound, code)
}

func TestTableListFiltersAndPages(t *testing.T) {
	fin, mkt, admin := newTablesEnv(t)
	for _, tb := range []struct {
		c client
		t spec.Table
	}{
		{fin, spec.Table{Name: "fin.a", SQL: "SELECT 1"}},
		{fin, spec.Table{Name: "fin.b", SQL: "SELECT 1"}},
		{fin, spec.Table{Name: "fin.feed", Kind: "external", External: &spec.External{Format: "csv", Timeout: 1e9}}},
		{mkt, spec.Table{Name: "mkt.a", SQL: "SELECT 1"}},
		{admin, spec.Table{Name: "shared.a", SQL: "SELECT 1", Owner: "ops@example.com"}},
	} {
		code, _, out := tb.c.do("POST", "/tables", tb.t)
		require.Equal(t, http.StatusCreated, code, out)
	}
	names := func(path string) ([]string, string) {
		t.Helper()
		code, _, out := fin.do("GET", path, nil)
		require.Equal(t, http.StatusOK, code, out)
		var got []string
		for _, tb := range out["tables"].([]any) {
			got = append(got, tb.(map[string]any)["name"].(string))
		}
		cursor, _ := out["next_cursor"].(string)
		return got, cursor
	}
	got, cursor := names("/tables?limit=2")
	require.Equal(t, []string{"fin.a", "fin.b"}, got)
	got, cursor = names("/tables?limit=2&cursor=" + cursor)
	require.Equal(t, []string{"fin.feed", "mkt.a"}, got)
	got, cursor = names("/tables?limit=2&cursor=" + cursor)
	require.Equal(t, []string{"shared.a"}, got)
	require.Empty(t, cursor, "the last page has no cursor")

	got, _ = names("/tables?group=finance&kind=query")
	require.Equal(t, []string{"fin.a", "fin.b"}, got)
	got, _ = names("/tables?dataset=mkt")
	require.Equal(t, []string{"mkt.a"}, got)
	got, _ = names("/tables?owner=ops@example.com")
	require.Equal(t, []string{"shared.a"}, got)
	got, _ = names("/tables?group=nobody")
	require.Empty(t, got)

	code, _, out := fin.do("GET", "/tables?limit=5000", nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.Equal(t, "limit", out["errors"].([]any)[0].(map[string]any)["field"])
	code, _, _ = fin.do("GET", "/tables?cursor=***", nil)
	require.Equal(t, http.StatusBadRequest, code)

	code, _, out = fin.do("GET", "/graph", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Len(t, out["nodes"], 5)
}

func TestRequestLimitsAndConnectionSecrets(t *testing.T) {
	_, _, admin := newTablesEnv(t)
	big := spec.Table{Name: "fin.big", SQL: "SELECT '" + stringOf('x', 2<<20) + "'"}
	code, _, out := admin.do("POST", "/tables", big)
	require.Equal(t, http.StatusRequestEntityTooLarge, code, "a table body over 1 MiB")
	require.Contains(t, out["detail"], "1 MiB")
	code, _, out = admin.do("POST", "/tables", "not json")
	require.Equal(t, http.StatusBadRequest, code, out)
	require.Equal(t, "application/problem+json", func() string { _, h, _ := admin.do("POST", "/tables", "{"); return h.Get("Content-Type") }())

	// A connection holds a reference to its secret; a value that is not one is refused and not
	// repeated back.
	code, _, out = admin.do("PUT", "/connections/pg", spec.Connection{Driver: "postgres", SecretRef: "postgres://u:hunter2@db/x"})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.NotContains(t, mustJSON(t, out), "hunter2")
	code, _, _ = admin.do("PUT", "/connections/pg", spec.Connection{Driver: "postgres", SecretRef: "secretmanager:projects/p/secrets/pg/versions/1"})
	require.Equal(t, http.StatusOK, code)
	code, _, out = admin.do("GET", "/connections", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []any{map[string]any{"name": "pg", "driver": "postgres", "secret_ref": "secretmanager:projects/p/secrets/pg/versions/1"}}, out["connections"])
}

// Listings may lag changes made elsewhere by at most a second; changes made through the API
// show at once.
func TestTableListFreshness(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{Now: clock}))
	t.Cleanup(srv.Close)
	c := client{t: t, base: srv.URL + service.APIPrefix, token: userToken(t, st, "admin@example.com", "admin", "")}
	count := func() int {
		t.Helper()
		code, _, out := c.do("GET", "/tables", nil)
		require.Equal(t, http.StatusOK, code, out)
		return len(out["tables"].([]any))
	}
	require.Equal(t, 0, count())
	code, _, out := c.do("POST", "/tables", spec.Table{Name: "ds.a", SQL: "SELECT 1"})
	require.Equal(t, http.StatusCreated, code, out)
	require.Equal(t, 1, count(), "a table created through the API is listed at once")

	_, err := st.TablePut(t.Context(), &store.TablePutParams{Table: spec.Table{Name: "ds.b", SQL: "SELECT 1"}, User: "sync", Create: true})
	require.NoError(t, err)
	require.Equal(t, 1, count(), "a change made elsewhere may take up to a second")
	code, _, _ = c.do("GET", "/tables/ds.b", nil)
	require.Equal(t, http.StatusOK, code, "a single table is always read fresh")
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	require.Equal(t, 2, count())

	code, _, _ = c.do("DELETE", "/tables/ds.b", nil, "If-Match", `"1"`)
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, 1, count(), "a deletion through the API shows at once")
}
