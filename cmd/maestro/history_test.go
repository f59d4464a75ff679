package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

func TestHistoryCommand(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.UserPut(ctx, store.User{Email: "ana@acme.test", Name: "Ana Lopez", Role: "admin"}))
	q := memqueue.New(nil)
	defer q.Close()
	sched := scheduler.New(st, q.Topic("tasks"), func(context.Context, []spec.Table) (scheduler.Graph, error) {
		return maestrotest.Graph{}, nil
	}, nil, zap.NewNop(), scheduler.Config{})
	token, _, err := service.NewToken(ctx, st, "ana@acme.test", "test", time.Now())
	require.NoError(t, err)
	t.Setenv("MAESTRO_TOKEN", token)
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw"}))
	defer srv.Close()

	dir := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml":   "default_project: shop\ndefault_dataset: raw\nschedules:\n  - {name: daily, cron: \"@daily\"}\n  - {name: hourly, cron: \"@hourly\"}\n",
		"raw/orders.sql": "SELECT 1 AS id\n", "raw/orders.yaml": "schedules: [daily]\n",
	})
	_, errOut, code := execForTest(t, newPushCmd(), "", "--api", srv.URL, dir)
	require.Equal(t, 0, code, errOut)
	dir = maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml":   "default_project: shop\ndefault_dataset: raw\nschedules:\n  - {name: daily, cron: \"@daily\"}\n  - {name: hourly, cron: \"@hourly\"}\n",
		"raw/orders.sql": "SELECT 1 AS id,\n  2 AS n\n", "raw/orders.yaml": "schedules: [hourly]\n",
	})
	_, errOut, code = execForTest(t, newPushCmd(), "", "--api", srv.URL, dir)
	require.Equal(t, 0, code, errOut)

	out, errOut, code := execForTest(t, newHistoryCmd(), "", "--api", srv.URL, "raw.orders")
	require.Equal(t, 0, code, errOut)
	dates := regexp.MustCompile(`Date:   \S+ \S+ UTC`)
	require.Equal(t, `revision raw.orders@2
Author: Ana Lopez <ana@acme.test>
Date:   D

    raw.orders: SQL changed; schedules daily → hourly

    synced from raw/orders.sql

--- a/raw/orders.sql
+++ b/raw/orders.sql
@@ -1 +1,2 @@
-SELECT 1 AS id
+SELECT 1 AS id,
+  2 AS n
--- a/raw/orders.yaml
+++ b/raw/orders.yaml
@@ -1 +1 @@
-schedules: [daily]
+schedules: [hourly]

revision raw.orders@1
Author: Ana Lopez <ana@acme.test>
Date:   D

    create raw.orders

    synced from raw/orders.sql

--- /dev/null
+++ b/raw/orders.sql
@@ -0,0 +1 @@
+SELECT 1 AS id
--- /dev/null
+++ b/raw/orders.yaml
@@ -0,0 +1 @@
+schedules: [daily]
`, dates.ReplaceAllString(out, "Date:   D"))

	_, errOut, code = execForTest(t, newHistoryCmd(), "", "--api", srv.URL, "raw.nope")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "table raw.nope was never saved")
}

func TestDevKeepsAGitHistory(t *testing.T) {
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state")
	var out, logs bytes.Buffer
	require.NoError(t, runDev(ctx, chainProject(t), devFlags{once: true, stateDir: state, logFormat: "json"}, &out, &logs), logs.String())

	repo, err := git.PlainOpen(filepath.Join(state, "history"))
	require.NoError(t, err)
	commits, err := repo.Log(&git.LogOptions{})
	require.NoError(t, err)
	var got []string
	require.NoError(t, commits.ForEach(func(c *object.Commit) error {
		got = append(got, c.Author.Name+": "+c.Message[:len("create ds.x")])
		return nil
	}))
	require.ElementsMatch(t, []string{"dev: create ds.a", "dev: create ds.b", "dev: create ds.c"}, got)
}
