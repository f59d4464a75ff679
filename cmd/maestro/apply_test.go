package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// apiServer is a real API on a SQLite store, with an admin's token.
type apiServer struct {
	st    *sqlitestore.Store
	url   string
	admin string
}

// newAPIServer serves the API configured by cfg; wrap, when not nil, sits in
// front of it.
func newAPIServer(t *testing.T, cfg service.APIConfig, wrap func(http.Handler) http.Handler) *apiServer {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	q := memqueue.New(nil)
	t.Cleanup(func() { _ = q.Close() })
	sched := scheduler.New(st, q.Topic("tasks"), func(context.Context, []spec.Table) (scheduler.Graph, error) {
		return maestrotest.Graph{}, nil
	}, nil, zap.NewNop(), scheduler.Config{})
	var h http.Handler = service.API(st, sched, zap.NewNop(), cfg)
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	require.NoError(t, st.UserPut(ctx, store.User{Email: "admin@example.com", Role: "admin"}))
	return &apiServer{st: st, url: srv.URL, admin: newUserToken(t, st, store.User{Email: "admin@example.com", Role: "admin"})}
}

func newUserToken(t *testing.T, st store.Store, u store.User) string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.UserPut(ctx, u))
	token, _, err := service.NewToken(ctx, st, u.Email, "test", time.Now())
	require.NoError(t, err)
	return token
}

func revisions(t *testing.T, st store.Store) map[string]int {
	t.Helper()
	recs, err := st.TableList(context.Background())
	require.NoError(t, err)
	out := map[string]int{}
	for _, r := range recs {
		out[r.Table.Name] = r.Revision
	}
	return out
}

// copyTree copies a folder's files, to change a copy of an example.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// TestApplyQuickstart: apply shows the difference between the quickstart folder and an empty
// server, makes the server match it, and a second apply says "no changes" and changes nothing.
// A changed copy shows its SQL and sidecar diffs and is applied as the caller.
func TestApplyQuickstart(t *testing.T) {
	ctx := context.Background()
	api := newAPIServer(t, service.APIConfig{DefaultProject: "quickstart", DefaultDataset: "raw"}, nil)
	qs := filepath.Join("..", "..", "examples", "quickstart")
	p, err := project.Load(ctx, qs)
	require.NoError(t, err)

	out, errOut, code := execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, "--dry-run", qs)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "+ connection shop (sqlite, env:QUICKSTART_SHOP_DSN, seed sources/shop.sql)\n")
	require.Contains(t, out, "+ schedule daily (0 6 * * * Europe/Paris)\n")
	require.Contains(t, out, "+ table marts.daily_revenue\n")
	require.Contains(t, out, "dry run, nothing changed: 14 tables to create, 0 to change, 0 to delete; 3 schedules and connections to set, 0 to delete\n")
	require.Len(t, p.Tables, 14)
	require.Empty(t, revisions(t, api.st), "a dry run changes nothing")

	out, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, qs)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "applied: 14 tables created, 0 changed, 0 deleted; 3 schedules and connections\n")
	first := revisions(t, api.st)
	require.Len(t, first, 14)
	rec, err := api.st.TableGet(ctx, "marts.daily_revenue")
	require.NoError(t, err)
	require.Equal(t, "admin@example.com", rec.UpdatedBy, "applied as the caller")
	require.Equal(t, "analytics", rec.Table.Group)
	// The upstream table was created before the table reading it.
	up, err := api.st.TableGet(ctx, "staging.orders_enriched")
	require.NoError(t, err)
	require.False(t, rec.CreatedAt.Before(up.CreatedAt))

	out, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, qs)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "no changes\n", out)
	require.Equal(t, first, revisions(t, api.st), "a second apply changes nothing")

	t.Run("TheListingIsFollowedPageByPage", func(t *testing.T) {
		c, err := (&apiFlags{api: api.url, token: api.admin}).client(http.DefaultClient)
		require.NoError(t, err)
		tables, err := c.listTables(ctx, nil, 3)
		require.NoError(t, err)
		require.Len(t, tables, 14)
		for i := 1; i < len(tables); i++ {
			require.Less(t, tables[i-1].Name, tables[i].Name)
		}
		tables, err = c.listTables(ctx, url.Values{"group": {"analytics"}}, 2)
		require.NoError(t, err)
		require.Len(t, tables, 4)
	})

	t.Run("ChangesAreShownThenApplied", func(t *testing.T) {
		dir := copyTree(t, qs)
		sql := filepath.Join(dir, "marts", "kpi_snapshot.sql")
		b, err := os.ReadFile(sql)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(sql, []byte(string(b)+"-- reviewed\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "marts", "kpi_snapshot.yaml"),
			[]byte("description: Hourly KPI history (append-only).\nowner: ben@example.com\ngroup: analytics\nschedules: [daily]\ndisposition: append\n"), 0o644))
		require.NoError(t, os.Remove(filepath.Join(dir, "marts", "product_ratings.sql")))

		out, errOut, code := execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, "--dry-run", dir)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "~ table marts.kpi_snapshot: SQL changed; schedules hourly → default\n")
		require.Contains(t, out, "    --- a/marts/kpi_snapshot.sql\n    +++ b/marts/kpi_snapshot.sql\n")
		require.Contains(t, out, "\n    +-- reviewed\n")
		require.Contains(t, out, "    --- a/marts/kpi_snapshot.yaml\n    +++ b/marts/kpi_snapshot.yaml\n")
		require.Contains(t, out, "\n    -schedules: [hourly]\n")
		require.Contains(t, out, "- table marts.product_ratings\n")
		require.Equal(t, first, revisions(t, api.st))

		out, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, dir)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, out, "applied: 0 tables created, 1 changed, 1 deleted; 0 schedules and connections\n")
		rec, err := api.st.TableGet(ctx, "marts.kpi_snapshot")
		require.NoError(t, err)
		require.Equal(t, 2, rec.Revision)
		require.Equal(t, []string{"daily"}, rec.Table.Schedules)
		_, err = api.st.TableGet(ctx, "marts.product_ratings")
		require.ErrorIs(t, err, store.ErrNotFound)

		out, _, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, dir)
		require.Equal(t, 0, code)
		require.Equal(t, "no changes\n", out)
	})
}

// TestApplyAsAnEditor: an editor applies a folder in which only their group's table differs;
// a folder that also touches another group's table is refused, naming it, and nothing changes.
func TestApplyAsAnEditor(t *testing.T) {
	ctx := context.Background()
	api := newAPIServer(t, service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw"}, nil)
	base := map[string]string{
		"maestro.yaml":      "default_project: shop\ndefault_dataset: raw\nschedules:\n  - {name: daily, cron: \"0 5 * * *\"}\n",
		"raw/orders.sql":    "SELECT 1 AS id\n",
		"raw/orders.yaml":   "group: platform\nschedules: [daily]\n",
		"sales/totals.sql":  "SELECT COUNT(*) AS n FROM raw.orders\n",
		"sales/totals.yaml": "group: sales\nschedules: [daily]\n",
	}
	_, errOut, code := execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, maestrotest.WriteTree(t, base))
	require.Equal(t, 0, code, errOut)
	ed := newUserToken(t, api.st, store.User{Email: "ed@example.com", Role: "editor", Group: "sales"})

	mine := maps(base, map[string]string{"sales/totals.sql": "SELECT COUNT(*) AS orders FROM raw.orders\n"})
	out, errOut, code := execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", ed, maestrotest.WriteTree(t, mine))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "applied: 0 tables created, 1 changed, 0 deleted")
	rec, err := api.st.TableGet(ctx, "sales.totals")
	require.NoError(t, err)
	require.Equal(t, "ed@example.com", rec.UpdatedBy)

	before := revisions(t, api.st)
	theirs := maps(mine, map[string]string{
		"sales/totals.sql": "SELECT COUNT(*) AS n_orders FROM raw.orders\n",
		"raw/orders.sql":   "SELECT 2 AS id\n",
		"sales/new.sql":    "SELECT 1 AS x\n",
		"sales/new.yaml":   "group: finance\n",
	})
	out, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", ed, maestrotest.WriteTree(t, theirs))
	require.Equal(t, 1, code, out)
	require.Equal(t, "nothing was changed: ed@example.com (editor of group sales) may not make these changes:\n"+
		"  change table raw.orders: it belongs to group platform\n"+
		"  create table sales.new: it would belong to group finance\n", errOut)
	require.Equal(t, before, revisions(t, api.st), "not even the editor's own tables changed")

	_, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", ed,
		maestrotest.WriteTree(t, maps(mine, map[string]string{"maestro.yaml": "default_project: elsewhere\ndefault_dataset: raw\nschedules:\n  - {name: daily, cron: \"0 5 * * *\"}\n"})))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `the folder's defaults (default_project "elsewhere", default_dataset "raw") differ from the server's ("shop", "raw")`)
	require.Equal(t, before, revisions(t, api.st))

	dropped := maps(mine, nil)
	delete(dropped, "raw/orders.sql")
	delete(dropped, "raw/orders.yaml")
	_, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, maestrotest.WriteTree(t, dropped))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "the folder drops table raw.orders, which sales.totals still read: the server would refuse to delete it; nothing was changed")
	require.Equal(t, before, revisions(t, api.st))

	schedule := maps(mine, map[string]string{"maestro.yaml": "default_project: shop\ndefault_dataset: raw\nschedules:\n  - {name: daily, cron: \"0 6 * * *\"}\n"})
	_, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", ed, maestrotest.WriteTree(t, schedule))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "  set schedule daily: only admins change schedules and connections\n")
	out, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, "--dry-run", maestrotest.WriteTree(t, schedule))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "~ schedule daily: cron \"0 5 * * *\" → \"0 6 * * *\"\n")
}

// TestApplyDoesNotOverwriteAConcurrentEdit: a table changed by someone else between apply's
// reading and its update is left as that person saved it (If-Match), and apply says so.
func TestApplyDoesNotOverwriteAConcurrentEdit(t *testing.T) {
	ctx := context.Background()
	var (
		once sync.Once
		st   store.Store
	)
	api := newAPIServer(t, service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw"}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/tables/raw.orders") {
				once.Do(func() {
					rec, err := st.TableGet(ctx, "raw.orders")
					if err == nil {
						t2 := rec.Table
						t2.SQL = "SELECT 42 AS id\n"
						_, err = st.TablePut(ctx, &store.TablePutParams{Table: t2, User: "ana@example.com", IfRevision: rec.Revision})
					}
					if err != nil {
						t.Error(err)
					}
				})
			}
			next.ServeHTTP(w, r)
		})
	})
	st = api.st
	files := map[string]string{"raw/orders.sql": "SELECT 1 AS id\n"}
	_, errOut, code := execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, maestrotest.WriteTree(t, files))
	require.Equal(t, 0, code, errOut)

	_, errOut, code = execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin,
		maestrotest.WriteTree(t, map[string]string{"raw/orders.sql": "SELECT 2 AS id\n"}))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "table raw.orders was changed on the server since apply read it (revision 1); it was left as it is")
	require.Contains(t, errOut, "412")
	rec, err := api.st.TableGet(ctx, "raw.orders")
	require.NoError(t, err)
	require.Equal(t, "SELECT 42 AS id\n", rec.Table.SQL, "the other person's change stays")
}

// maps is base with the entries of over (a copy).
func maps(base, over map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// TestApplyAfterPush: definitions saved by another route (maestro push, maestro dev's sync:
// file names kept, tables without an owner) are the folder's: apply finds nothing to change.
func TestApplyAfterPush(t *testing.T) {
	api := newAPIServer(t, service.APIConfig{DefaultProject: "quickstart", DefaultDataset: "raw"}, nil)
	qs := filepath.Join("..", "..", "examples", "quickstart")
	_, errOut, code := execForTest(t, newPushCmd(), "", "--api", api.url, "--token", api.admin, qs)
	require.Equal(t, 0, code, errOut)
	before := revisions(t, api.st)
	require.Len(t, before, 14)

	out, errOut, code := execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, qs)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "no changes\n", out)
	require.Equal(t, before, revisions(t, api.st))
}

// TestApplyWarnsAboutCostlyTables: the server's dry-run estimate of a saved table (BigQuery's,
// here bqfake's) above pricing.estimate_warn_usd is printed as a warning; the change is applied.
func TestApplyWarnsAboutCostlyTables(t *testing.T) {
	ctx := context.Background()
	fake, err := bqfake.New(ctx, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(fake)
	t.Cleanup(func() { hs.Close(); fake.Close() })
	wh, err := bigquerywarehouse.Open(ctx, "shop", option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() { wh.Close() })
	fake.Script(bqfake.Script{SQLContains: "big_scan", Stats: &bqfake.Stats{BytesProcessed: 2 << 40}})
	api := newAPIServer(t, service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw", DryRun: wh,
		Pricing: spec.Pricing{Model: "on_demand", USDPerTiB: 6.25, EstimateWarnUSD: 5}}, nil)

	out, errOut, code := execForTest(t, newApplyCmd(), "", "--api", api.url, "--token", api.admin, maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: shop\ndefault_dataset: raw\n",
		"mart/big.sql": "SELECT 1 AS big_scan\n", "mart/small.sql": "SELECT 1 AS a\n",
	}))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "applied: 2 tables created")
	require.Equal(t, "warning: mart.big: a run would process about 2.0 TiB, about $12.50 at on_demand pricing (more than the $5.00 warning threshold)\n", errOut)
}

// TestApplyAndPushToMaestroDev: against a running maestro dev (its own token, found in its state
// folder), the folder it started with is already applied and pushed; a changed copy is applied
// once, and then there is nothing left to apply.
func TestApplyAndPushToMaestroDev(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := chainProject(t)
	state := filepath.Join(t.TempDir(), "state")
	addr := freeAddr(t)
	var out, logs bytes.Buffer
	devCtx, stopDev := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runDev(devCtx, dir, devFlags{stateDir: state, logFormat: "json", addr: addr}, &out, &logs)
	}()
	defer func() {
		stopDev()
		require.NoError(t, <-done, logs.String())
	}()
	api := []string{"--api", "http://" + addr, "--state", state}
	for {
		if devToken(t, state) != "" {
			if _, _, code := execForTest(t, newTablesCmd(), "", api...); code == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("maestro dev did not answer: %s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	got, errOut, code := execForTest(t, newApplyCmd(), "", append(api, dir)...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "no changes\n", got)
	got, errOut, code = execForTest(t, newPushCmd(), "", append(api, dir)...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "pushed 3 tables: 0 created, 0 updated, 0 deleted, 3 unchanged\n", got)

	changed := copyTree(t, dir)
	require.NoError(t, os.WriteFile(filepath.Join(changed, "ds", "c.sql"), []byte("SELECT SUM(y) AS total, COUNT(*) AS n FROM ds.b"), 0o644))
	got, errOut, code = execForTest(t, newApplyCmd(), "", append(api, changed)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, got, "~ table ds.c: SQL changed\n")
	require.Contains(t, got, "applied: 0 tables created, 1 changed, 0 deleted")
	got, errOut, code = execForTest(t, newApplyCmd(), "", append(api, changed)...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "no changes\n", got)
}
