package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/devmode"
	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// TestSecretsNeverLeak configures one canary secret, in five forms, where a project keeps secrets
// — a source database's DSN (password), a Slack bot token, an export callback's signing key, a
// webhook's signing key and the Slack app's signing secret, all behind env: references — runs a
// pipeline that uses each of them,
// with a failing query, a failing import and an import whose database cannot be reached, and then
// looks for the canary everywhere a user or an attacker could read: the logs and the summary,
// every GET route of the API and the web UI's pages, the Git history of definitions, the errors in
// the store and the store's own files, the Slack messages and the callback and webhook bodies.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	canary := "cnry" + hex.EncodeToString(raw)

	// The source database: PostgreSQL, reached with a DSN whose password is the canary (the
	// server trusts local connections, so the password is carried but never checked).
	pgTable := "audit_" + hex.EncodeToString(raw[:4])
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	require.NoError(t, err, "PostgreSQL on 127.0.0.1:5432")
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id INT PRIMARY KEY, amount FLOAT8); INSERT INTO %s VALUES (1, 2.5), (2, 4)`, pgTable, pgTable))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+pgTable) })
	t.Setenv("AUDIT_PG_DSN", "postgres://postgres:"+canary+"-dsn@127.0.0.1:5432/test?sslmode=disable&application_name=maestro")
	// The same password to a server that is not there: connection errors must not quote it.
	t.Setenv("AUDIT_PG_DOWN_DSN", "postgres://maestro:"+canary+"-down@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")

	rec := &slackRecorder{}
	t.Setenv(devmode.SlackAPIURLEnv, rec.start(t))
	t.Setenv("AUDIT_SLACK_TOKEN", "xoxb-"+canary+"-slack")
	t.Setenv("AUDIT_CALLBACK_KEY", canary+"-callback")
	t.Setenv("AUDIT_HOOK_KEY", canary+"-hook")
	// The Slack app's signing secret: maestro dev serves Slack's buttons with it.
	t.Setenv(strings.TrimPrefix(devmode.SlackSigningSecretRef, "env:"), canary+"-signing")
	t.Setenv(devmode.CallbackKeyEnv, "")

	// One receiver for the export callback and the webhook, keeping every body.
	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.URL.Path+" "+string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: shop\ndefault_dataset: raw\ndefault_schedule: daily\ndefault_retries: 0\n" +
			"schedules:\n  - name: daily\n    cron: \"0 6 * * *\"\n" +
			"connections:\n" +
			"  - {name: pg, driver: postgres, secret: env:AUDIT_PG_DSN}\n" +
			"  - {name: pgdown, driver: postgres, secret: env:AUDIT_PG_DOWN_DSN}\n" +
			"notify:\n  slack_channel: \"#alerts\"\n  slack_token: env:AUDIT_SLACK_TOKEN\n" +
			"  webhooks:\n    - url: " + hook.URL + "/hook\n      secret: env:AUDIT_HOOK_KEY\n",
		"raw/orders.sql":       "SELECT id, amount FROM " + pgTable,
		"raw/orders.yaml":      "import:\n  connection: pg\n",
		"raw/broken.sql":       "SELECT nothing FROM no_such_table_" + pgTable,
		"raw/broken.yaml":      "import:\n  connection: pg\n",
		"raw/unreachable.sql":  "SELECT 1 AS x",
		"raw/unreachable.yaml": "import:\n  connection: pgdown\n",
		"marts/totals.sql":     "SELECT SUM(amount) AS amount FROM raw.orders",
		"marts/totals.yaml":    "exports:\n  - format: csv\n    path: exports/{table}/{run}.csv\n    callback:\n      url: " + hook.URL + "/callback\n      secret: env:AUDIT_CALLBACK_KEY\n",
		"marts/bad.sql":        "SELECT no_such_column FROM raw.orders",
		"marts/bad.yaml":       "owner: ana@example.com\n",
	})
	state := filepath.Join(t.TempDir(), "state")
	var out, logs bytes.Buffer
	err = runDev(ctx, project, devFlags{once: true, stateDir: state, logFormat: "json"}, &out, &logs)
	require.Error(t, err, "three tables fail")
	require.Regexp(t, `raw\.orders\s+succeeded`, out.String(), logs.String())
	require.Regexp(t, `marts\.totals\s+succeeded`, out.String())
	for _, failed := range []string{"raw.broken", "raw.unreachable", "marts.bad"} {
		require.Regexp(t, strings.ReplaceAll(failed, ".", `\.`)+`\s+failed`, out.String())
	}

	// leaks collects, per place, whether the canary was found there.
	var leaks []string
	look := func(where string, b []byte) {
		if bytes.Contains(b, []byte(canary)) {
			leaks = append(leaks, fmt.Sprintf("%s: %s", where, excerpt(b, canary)))
		}
	}
	look("the summary", out.Bytes())
	look("the log", logs.Bytes())

	mu.Lock()
	require.NotEmpty(t, bodies, "the callback and the webhook were called")
	var sawCallback, sawHook bool
	for _, b := range bodies {
		sawCallback = sawCallback || strings.HasPrefix(b, "/callback ")
		sawHook = sawHook || strings.HasPrefix(b, "/hook ")
		look("a callback or webhook body", []byte(b))
	}
	mu.Unlock()
	require.True(t, sawCallback, "the export's callback was sent")
	require.True(t, sawHook, "the webhook was told")
	posts := rec.withPrefix("")
	require.NotEmpty(t, posts, "Slack was told")
	for _, p := range posts {
		look("a Slack message", []byte(p.text+p.blocks))
	}

	// The store: the errors it keeps, then the API over it (every GET route), the web UI's pages.
	st, err := sqlitestore.Open(ctx, filepath.Join(state, "maestro.db"))
	require.NoError(t, err)
	runs, err := st.RunList(ctx, &store.RunListParams{})
	require.NoError(t, err)
	require.NotEmpty(t, runs)
	var errorsSeen int
	for _, r := range runs {
		nodes, err := st.NodeList(ctx, r.ID)
		require.NoError(t, err)
		for _, n := range nodes {
			if n.Error != "" {
				errorsSeen++
			}
			look("the error of node "+n.Name, []byte(n.Error))
		}
	}
	require.GreaterOrEqual(t, errorsSeen, 3, "the failures left their errors in the store")

	require.NoError(t, st.UserPut(ctx, store.User{Email: "auditor@example.com", Role: "admin"}))
	token, _, err := service.NewToken(ctx, st, "auditor@example.com", "audit", time.Now())
	require.NoError(t, err)
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw"}))
	defer srv.Close()
	get := func(path string) []byte {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Less(t, resp.StatusCode, 500, "%s: %s", path, b)
		return b
	}
	page := get("/")
	require.Contains(t, string(page), runs[0].ID, "the tables page links the last run")
	look("the web UI's tables page", page)
	// Every page of the web UI that shows tables, their errors, exports, connections or tokens.
	for _, p := range []string{"/costs", "/admin/schedules", "/admin/connections", "/admin/users", "/admin/tokens", "/tables/new",
		"/tables/raw.orders", "/tables/raw.broken", "/tables/raw.unreachable", "/tables/marts.totals", "/tables/marts.bad",
		"/tables/marts.totals/edit", "/runs", "/runs/" + runs[0].ID, "/graph"} {
		look("the web UI's page "+p, get(p))
	}
	values := map[string][]string{
		"{id}":    {runs[0].ID},
		"{name}":  {"raw.orders", "raw.broken", "raw.unreachable", "marts.totals", "marts.bad"},
		"{table}": {"marts.totals", "raw.broken"},
		"{email}": {"auditor@example.com"},
	}
	var paths []string
	for _, rt := range service.RouteTable() {
		if rt.Method != http.MethodGet {
			continue
		}
		expanded := []string{rt.Path}
		for param, vals := range values {
			var next []string
			for _, p := range expanded {
				if !strings.Contains(p, param) {
					next = append(next, p)
					continue
				}
				for _, v := range vals {
					next = append(next, strings.ReplaceAll(p, param, v))
				}
			}
			expanded = next
		}
		paths = append(paths, expanded...)
	}
	paths = append(paths, "/tokens?all=true", "/runs?state=failed")
	for _, p := range paths {
		require.NotContains(t, p, "{", "a path parameter without a value: add it to values")
		look("GET "+service.APIPrefix+p, get(service.APIPrefix+p))
	}
	require.NoError(t, st.Close())

	// The Git history of definitions: every object, blobs and commit messages alike.
	history := filepath.Join(state, "history")
	if _, err := os.Stat(history); err == nil {
		cmd := exec.Command("git", "-C", history, "cat-file", "--batch-all-objects", "--batch")
		objects, err := cmd.Output()
		require.NoError(t, err)
		require.Contains(t, string(objects), "raw.orders", "the history holds the definitions")
		look("the Git history", objects)
	} else {
		t.Errorf("maestro dev kept no Git history in %s: %v", history, err)
	}

	// Every file maestro dev wrote: the SQLite store with its WAL, the warehouse, exports.
	require.NoError(t, filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(state, path)
		look("the file "+rel, b)
		return nil
	}))
	require.FileExists(t, filepath.Join(state, "maestro.db"))

	require.Empty(t, leaks, "the canary secret leaked")
}

// excerpt is the text around the first occurrence of s in b.
func excerpt(b []byte, s string) string {
	i := bytes.Index(b, []byte(s))
	from, to := max(0, i-120), min(len(b), i+len(s)+60)
	return fmt.Sprintf("%q", b[from:to])
}
