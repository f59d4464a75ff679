package service_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/service"
)

// hostileCase is a request an attacker or a broken client could send: it must get the 4xx
// want (a problem+json document naming field, when set) and change nothing in the store.
type hostileCase struct {
	name    string
	method  string
	path    string
	body    string
	headers []string
	want    int
	field   string
}

func table(fields string) string {
	return `{"name": "fin.hostile", "kind": "query", "sql": "SELECT x FROM fin.base", "group": "finance"` + fields + `}`
}

var hostileCases = []hostileCase{
	// Oversized bodies: refused at the route's limit, whatever the route.
	{name: "oversized table", method: "POST", path: "/tables", body: table(`, "description": "` + strings.Repeat("a", 2<<20) + `"`), want: 413},
	{name: "oversized connection", method: "PUT", path: "/connections/big", body: `{"driver": "postgres", "secret_ref": "env:` + strings.Repeat("A", 2<<20) + `"}`, want: 413},
	{name: "oversized token request", method: "POST", path: "/tokens", body: `{"name": "` + strings.Repeat("t", 2<<20) + `"}`, want: 413},

	// Deeply nested JSON: the decoder's depth limit, not the stack, stops it.
	{name: "deep arrays", method: "POST", path: "/tables", body: table(`, "conditions": {"months": ` + strings.Repeat("[", 100000) + `}`), want: 400},
	{name: "deep objects", method: "PUT", path: "/project", body: strings.Repeat(`{"tables":`, 20000), want: 400},

	// Invalid UTF-8 would be stored as replacement characters, silently changing what the user
	// wrote: refused.
	{name: "invalid UTF-8 in SQL", method: "POST", path: "/tables", body: `{"name": "fin.hostile", "sql": "SELECT 'caf` + "\xe9" + `' AS x", "group": "finance"}`, want: 400},
	{name: "invalid UTF-8 in a name", method: "POST", path: "/tables", body: `{"name": "fin.` + "\xff\xfe" + `", "sql": "SELECT 1 AS x", "group": "finance"}`, want: 400},
	{name: "overlong UTF-8 slash", method: "PUT", path: "/schedules/x", body: `{"cron": "0 * * * *", "timezone": "` + "\xc0\xaf" + `etc"}`, want: 400},

	// SQL injection in identifiers: names are dataset.table, nothing else.
	{name: "quote in table name", method: "POST", path: "/tables", body: `{"name": "fin.x'; DROP TABLE tables; --", "sql": "SELECT 1 AS x", "group": "finance"}`, want: 422, field: "name"},
	{name: "injection in a table path", method: "PUT", path: "/tables/fin.revenue'%20OR%20'1'='1", body: table(""), headers: ifMatch1, want: 404},
	{name: "injection in a delete", method: "DELETE", path: "/tables/fin.base%22;%20DELETE%20FROM%20tables;--", headers: ifMatch1, want: 404},
	{name: "injection in a connection name", method: "PUT", path: "/connections/pg'%20OR%201=1--", body: `{"driver": "postgres", "secret_ref": "env:PG_DSN"}`, want: 422, field: "name"},
	{name: "injection in a run id", method: "POST", path: "/runs/r-running'%20OR%20'1'='1/cancel", want: 404},

	// Path traversal in names.
	{name: "dot-dot table name", method: "POST", path: "/tables", body: `{"name": "../etc.passwd", "sql": "SELECT 1 AS x", "group": "finance"}`, want: 422, field: "name"},
	{name: "slash in table name", method: "POST", path: "/tables", body: `{"name": "fin/../../x", "sql": "SELECT 1 AS x", "group": "finance"}`, want: 422, field: "name"},
	{name: "backslash table name", method: "POST", path: "/tables", body: `{"name": "fin.x\\..\\..\\y", "sql": "SELECT 1 AS x", "group": "finance"}`, want: 422, field: "name"},
	{name: "encoded dot-dot in a path", method: "PUT", path: "/tables/%2e%2e%2f%2e%2e%2ffin.revenue", body: table(""), headers: ifMatch1, want: 404},
	{name: "dot-dot connection", method: "PUT", path: "/connections/..%2F..%2Fetc", body: `{"driver": "postgres", "secret_ref": "env:PG_DSN"}`, want: 422, field: "name"},
	{name: "backslash schedule", method: "PUT", path: "/schedules/..%5C..%5Cx", body: `{"cron": "0 * * * *"}`, want: 422, field: "name"},
	{name: "dot-dot upload table", method: "PUT", path: "/runs/r-running/tables/..%2F..%2Ffin.upload/data", body: "id\n1\n", want: 404},
	{name: "metadata callback", method: "POST", path: "/tables", body: table(`, "exports": [{"path": "out/x.csv", "format": "csv", "callback": {"url": "http://169.254.169.254/latest/meta-data", "secret_ref": "env:KEY"}}]`), want: 422, field: "exports[0].callback.url"},

	// Callback URLs to the metadata server and link-local addresses are refused when saved,
	// not only when a run sends them.
	{name: "IPv6 metadata callback", method: "POST", path: "/tables", body: table(`, "exports": [{"path": "out/x.csv", "format": "csv", "callback": {"url": "http://[fd00:ec2::254]/", "secret_ref": "env:KEY"}}]`), want: 422, field: "exports[0].callback.url"},
	{name: "mapped metadata callback", method: "POST", path: "/tables", body: table(`, "exports": [{"path": "out/x.csv", "format": "csv", "callback": {"url": "http://[::ffff:169.254.169.254]/", "secret_ref": "env:KEY"}}]`), want: 422, field: "exports[0].callback.url"},
	{name: "metadata host name", method: "POST", path: "/tables", body: table(`, "exports": [{"path": "out/x.csv", "format": "csv", "callback": {"url": "http://metadata.google.internal/computeMetadata/v1/", "secret_ref": "env:KEY"}}]`), want: 422, field: "exports[0].callback.url"},
	{name: "link-local callback", method: "PUT", path: "/tables/fin.revenue", headers: ifMatch1, body: `{"sql": "SELECT x FROM fin.base", "group": "finance", "exports": [{"path": "out/x.csv", "format": "csv", "callback": {"url": "https://169.254.1.1:8443/hook", "secret_ref": "env:KEY"}}]}`, want: 422, field: "exports[0].callback.url"},
	{name: "credentials in callback", method: "POST", path: "/tables", body: table(`, "exports": [{"path": "out/x.csv", "format": "csv", "callback": {"url": "https://user:pass@example.com/hook", "secret_ref": "env:KEY"}}]`), want: 422, field: "exports[0].callback.url"},
	{name: "metadata callback in a project", method: "PUT", path: "/project", body: `{"tables": [{"name": "fin.base", "kind": "query", "sql": "SELECT 1 AS x", "group": "finance", "exports": [{"path": "o/x.csv", "format": "csv", "callback": {"url": "http://169.254.169.254/", "secret_ref": "env:KEY"}}]}]}`, want: 422},

	// Absurd limits and cursors.
	{name: "huge limit", method: "GET", path: "/tables?limit=99999999999999999999999", want: 400, field: "limit"},
	{name: "negative limit", method: "GET", path: "/tables?limit=-5", want: 400, field: "limit"},
	{name: "limit above the maximum", method: "GET", path: "/runs?limit=1000001", want: 400, field: "limit"},
	{name: "forged cursor", method: "GET", path: "/tables?cursor=J09SIDE9MS0t", want: 400, field: "cursor"},
	{name: "binary cursor", method: "GET", path: "/tables?cursor=%00%ff%fe", want: 400, field: "cursor"},
	{name: "semicolon in a filter", method: "GET", path: "/tables?kind=query;DROP%20TABLE%20tables", want: 400},
	{name: "bad escape in a filter", method: "GET", path: "/runs?state=%zz", want: 400},
	{name: "huge cursor", method: "GET", path: "/tables?cursor=" + strings.Repeat("A", 100000), want: 400, field: "cursor"},
}

func TestHostileInput(t *testing.T) {
	e := newMatrixEnv(t)
	c := client{t: t, base: e.srv.URL + service.APIPrefix, token: e.tokens["admin"]}
	for _, hc := range hostileCases {
		t.Run(hc.name, func(t *testing.T) {
			c.t = t
			before := snapshot(t, e.st)
			var body any
			if hc.body != "" {
				body = hc.body
			}
			code, hdr, out := c.do(hc.method, hc.path, body, hc.headers...)
			require.Equal(t, hc.want, code, "%v", out)
			require.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
			require.EqualValues(t, code, out["status"])
			require.NotEmpty(t, out["detail"])
			if hc.field != "" {
				var fields []string
				errs, _ := out["errors"].([]any)
				for _, fe := range errs {
					fields = append(fields, fe.(map[string]any)["field"].(string))
				}
				require.Contains(t, fields, hc.field, "%v", out)
			}
			require.Equal(t, before, snapshot(t, e.st), "the store changed")
		})
	}

	// A filter is a value, not SQL: one that looks like an injection matches nothing.
	for _, q := range []string{"group=finance'%20OR%20'1'='1", "owner=x%22%20OR%201=1--", "dataset=..%2F..%2F"} {
		code, _, out := c.do(http.MethodGet, "/tables?"+q, nil)
		require.Equal(t, http.StatusOK, code, "%s: %v", q, out)
		require.Empty(t, out["tables"], q)
	}
	code, _, out := c.do(http.MethodGet, "/tables?group=finance", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["tables"], 3, "the tables are all still there")
}
