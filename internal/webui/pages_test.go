package webui_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/exporter"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

const tib = 1 << 40

// shop is a small project with history: three tables in two datasets, two revisions of one
// (with messages), a finished run a day ago and one today (which failed one table), an
// export file written, a connection and a schedule.
type shop struct {
	*testBundle
	viewer, editor string // tokens
}

func newShop(t testing.TB) *shop {
	t.Helper()
	ctx := context.Background()
	bucket, err := localblob.Open(filepath.Join(t.TempDir(), "objects"))
	require.NoError(t, err)
	t.Cleanup(func() { bucket.Close() })
	b := setup(t, service.APIConfig{Pricing: spec.Pricing{Model: "on_demand", USDPerTiB: 6.25},
		External:  service.ExternalConfig{Bucket: bucket},
		ExportURL: func(_ context.Context, key string) (string, error) { return "file:///objects/" + key, nil }})
	st := b.st
	require.NoError(t, st.SchedulePut(ctx, spec.Schedule{Name: "daily", Cron: "0 6 * * *", Description: "every morning"}))
	require.NoError(t, st.ConnectionPut(ctx, spec.Connection{Name: "shopdb", Driver: "postgres", SecretRef: "env:SHOP_DSN"}))
	export := spec.Export{Format: "csv", Path: "exports/{table}/{run}.csv", Header: true}
	for _, p := range []store.TablePutParams{
		{Table: spec.Table{Name: "raw.orders", Kind: "query", SQL: "SELECT 1 AS id -- the seed\n", Owner: "ana@example.com", Group: "sales", Schedules: []string{"daily"}}, Message: "first orders", Create: true},
		{Table: spec.Table{Name: "raw.customers", Kind: "import", SQL: "SELECT * FROM customers", Import: &spec.Import{Connection: "shopdb"}, Owner: "ben@example.com"}, Create: true},
		{Table: spec.Table{Name: "marts.revenue", Kind: "query", SQL: "SELECT id, 'x<y' AS s FROM raw.orders JOIN raw.customers USING (id)",
			Owner: "ana@example.com", Group: "sales", Description: "Revenue <b>by day</b>", Schedules: []string{"daily"}, Exports: []spec.Export{export}}, Message: "revenue v1", Create: true},
	} {
		p.User = "ana@example.com"
		_, err := st.TablePut(ctx, &p)
		require.NoError(t, err)
	}
	_, err = st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "marts.revenue", Kind: "query", SQL: "SELECT id, 'x<y' AS s, 2 AS v FROM raw.orders JOIN raw.customers USING (id)",
		Owner: "ana@example.com", Group: "sales", Description: "Revenue <b>by day</b>", Schedules: []string{"daily"}, Exports: []spec.Export{export}},
		User: "ana@example.com", Message: "adds v, which finance asked for", IfRevision: 1})
	require.NoError(t, err)

	now := time.Now().UTC()
	finish := func(id string, at time.Time, state run.RunState, nodes ...*run.Node) {
		for _, n := range nodes {
			n.RunID, n.Attempt, n.MaxAttempts = id, 1, 1
			if n.StartedAt.IsZero() {
				n.StartedAt, n.FinishedAt = at, at.Add(90*time.Second)
			}
		}
		require.NoError(t, st.RunCreate(ctx, &run.Run{ID: id, State: run.RunRunning, Trigger: run.TriggerSchedule, Schedule: "daily", CreatedAt: at}, nodes))
		require.NoError(t, st.RunFinish(ctx, &store.RunFinishParams{ID: id, State: state, FinishedAt: at.Add(2 * time.Minute)}))
	}
	finish("r-yesterday", now.Add(-24*time.Hour), run.RunSucceeded,
		&run.Node{Name: "raw.orders", Kind: "query", State: run.NodeSucceeded, Stats: run.Stats{BytesBilled: tib, Rows: 10}},
		&run.Node{Name: "marts.revenue", Kind: "query", State: run.NodeSucceeded, Stats: run.Stats{BytesBilled: tib / 2, Rows: 3}})
	finish("r-today", now.Add(-time.Hour), run.RunFailed,
		&run.Node{Name: "raw.orders", Kind: "query", State: run.NodeSucceeded, Stats: run.Stats{BytesBilled: 4 * tib, Rows: 12}},
		&run.Node{Name: "marts.revenue", Kind: "query", State: run.NodeFailed, Error: "Division by zero: <oops>"})
	key := exporter.Key(export, "marts.revenue", "r-yesterday")
	require.NoError(t, bucket.Write(ctx, key, strings.NewReader("id,s\n1,x\n")))
	return &shop{testBundle: b, viewer: token(t, st, "vic@example.com", "viewer", "sales"),
		editor: token(t, st, "ed@example.com", "editor", "marketing")}
}

// page GETs a page as the holder of tok.
func (s *shop) page(t testing.TB, tok, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", s.srv.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestTablesPage(t *testing.T) {
	t.Parallel()
	s := newShop(t)

	t.Run("ShowsEachTablesLastRun", func(t *testing.T) {
		code, hdr, page := s.page(t, s.viewer, "/")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, hdr.Get("Server-Timing"), "page;dur=")
		require.Contains(t, page, "3 of 3 tables")
		row := rowOf(t, page, `href="/tables/raw.orders"`)
		require.Contains(t, row, `<span class="state succeeded">succeeded</span>`)
		require.Contains(t, row, "1m 30s")
		require.Contains(t, row, "$25.00", "4 TiB billed at $6.25")
		require.Contains(t, rowOf(t, page, `href="/tables/marts.revenue"`), `<span class="state failed">failed</span>`)
		require.Contains(t, rowOf(t, page, `href="/tables/raw.customers"`), `never`)
		require.Contains(t, page, "Revenue &lt;b&gt;by day&lt;/b&gt;", "descriptions are escaped")
	})

	t.Run("Filters", func(t *testing.T) {
		for q, want := range map[string][]string{
			"?dataset=marts":               {"marts.revenue"},
			"?owner=ben@example.com":       {"raw.customers"},
			"?schedule=daily":              {"marts.revenue", "raw.orders"},
			"?state=failed":                {"marts.revenue"},
			"?state=never":                 {"raw.customers"},
			"?q=REVENUE":                   {"marts.revenue"},
			"?q=by+day&dataset=raw":        {},
			"?dataset=raw&state=succeeded": {"raw.orders"},
		} {
			_, _, page := s.page(t, s.viewer, "/tables"+q)
			var got []string
			for _, name := range []string{"marts.revenue", "raw.customers", "raw.orders"} {
				if strings.Contains(page, `<a href="/tables/`+name+`">`) {
					got = append(got, name)
				}
			}
			require.ElementsMatch(t, want, got, q)
		}
	})
}

func TestTablePage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	code, _, page := s.page(t, s.viewer, "/tables/marts.revenue")
	require.Equal(t, http.StatusOK, code, page)

	t.Run("HighlightsTheSQLFromTheLexersTokens", func(t *testing.T) {
		require.Contains(t, page, `<span class="k">SELECT</span> id, <span class="s">&#39;x&lt;y&#39;</span> <span class="k">AS</span> s`)
		_, _, orders := s.page(t, s.viewer, "/tables/raw.orders")
		require.Contains(t, orders, `<span class="c">-- the seed`)
	})

	t.Run("ShowsRevisionsNewestFirstWithMessagesAndDiffs", func(t *testing.T) {
		i2, i1 := strings.Index(page, "Revision 2"), strings.Index(page, "Revision 1")
		require.True(t, i2 > 0 && i1 > i2, "newest first")
		require.Contains(t, page, "<em>adds v, which finance asked for</em>")
		require.Contains(t, page, "<em>revenue v1</em>")
		require.Contains(t, page, `<span class="dl da">+SELECT id, &#39;x&lt;y&#39; AS s, 2 AS v FROM raw.orders JOIN raw.customers USING (id)</span>`)
		require.Contains(t, page, `<span class="dl dd">-SELECT id, &#39;x&lt;y&#39; AS s FROM raw.orders JOIN raw.customers USING (id)</span>`)
	})

	t.Run("ShowsNeighboursRunsAndErrors", func(t *testing.T) {
		require.Contains(t, page, `<li><a href="/tables/raw.orders">raw.orders</a></li>`)
		require.Contains(t, page, `<li><a href="/tables/raw.customers">raw.customers</a></li>`)
		require.Contains(t, page, "Division by zero: &lt;oops&gt;")
		require.Less(t, strings.Index(page, "r-today"), strings.Index(page, "r-yesterday"), "newest run first")
		require.Contains(t, page, `aria-label="Daily cost of marts.revenue: $3.12 in total over 30 days"`, "half a TiB at $6.25")
	})

	t.Run("LinksTheLastExportFilesAndServesThem", func(t *testing.T) {
		link := `/tables/marts.revenue/exports/r-yesterday/1`
		require.Contains(t, page, `href="`+link+`"`)
		code, hdr, body := s.page(t, s.viewer, link)
		require.Equal(t, http.StatusOK, code, body)
		require.Equal(t, "id,s\n1,x\n", body)
		require.Contains(t, hdr.Get("Content-Disposition"), `filename=r-yesterday.csv`)
		code, _, _ = s.page(t, s.viewer, "/tables/marts.revenue/exports/r-yesterday/9")
		require.Equal(t, http.StatusNotFound, code)
	})

	t.Run("OffersRunAndEditToThoseWhoMay", func(t *testing.T) {
		require.NotContains(t, page, "Run now", "a viewer starts no run")
		require.NotContains(t, page, "/tables/marts.revenue/edit")
		_, _, asEditor := s.page(t, s.editor, "/tables/marts.revenue")
		require.Contains(t, asEditor, `data-api="POST /runs" data-body="{&#34;downstream&#34;:true,&#34;tables&#34;:[&#34;marts.revenue&#34;]}"`)
		require.NotContains(t, asEditor, "/tables/marts.revenue/edit", "an editor of another group edits nothing here")
		_, _, asAdmin := s.page(t, s.admin, "/tables/marts.revenue")
		require.Contains(t, asAdmin, `href="/tables/marts.revenue/edit"`)
	})

	t.Run("SaysWhenThereIsNoSuchTable", func(t *testing.T) {
		code, _, page := s.page(t, s.viewer, "/tables/raw.nope")
		require.Equal(t, http.StatusNotFound, code)
		require.Contains(t, page, "There is no table raw.nope.")
	})
}

func TestEditPage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	code, _, _ := s.page(t, s.viewer, "/tables/new")
	require.Equal(t, http.StatusForbidden, code, "a viewer creates no table")
	code, _, page := s.page(t, s.editor, "/tables/marts.revenue/edit")
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, page, "belongs to group sales; ed@example.com may not change it")
	code, _, page = s.page(t, s.admin, "/tables/marts.revenue/edit")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, page, `data-revision="2"`)
	require.Contains(t, page, `&#34;exports&#34;:[{&#34;format&#34;:&#34;csv&#34;`, "the stored definition rides along, so the form keeps what it does not show")
	require.Contains(t, page, `<input type="checkbox" name="schedules" value="daily" checked>`)
	require.Contains(t, page, "SELECT id, &#39;x&lt;y&#39; AS s, 2 AS v", "the textarea holds the SQL, escaped")
}

func TestCostsPage(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	code, _, page := s.page(t, s.viewer, "/costs")
	require.Equal(t, http.StatusOK, code, page)
	require.Contains(t, page, `<strong id="cost-total">$34.38</strong>`, "5.5 TiB at $6.25")
	require.Contains(t, rowOf(t, page, `<td>ana@example.com</td>`), "$34.38")
	require.Contains(t, rowOf(t, page, `<td><a href="/tables/raw.orders">raw.orders</a></td><td class="num">2</td>`), "$31.25")
	// Both runs fall in the last 7 days: every table is new against the 7 days before.
	movers := page[strings.Index(page, `id="movers-h"`):]
	require.Contains(t, movers, `<a href="/tables/raw.orders">raw.orders</a></td><td class="num">$0.00</td><td class="num">$31.25</td>`)
	require.Contains(t, movers, "▲ new")
	code, _, page = s.page(t, s.viewer, "/costs?days=abc")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, page, "days must be a whole number from 1 to 366")
}

func TestAdminPages(t *testing.T) {
	t.Parallel()
	s := newShop(t)

	t.Run("ConnectionsShowTheSecretReferenceOnly", func(t *testing.T) {
		_, _, page := s.page(t, s.viewer, "/admin/connections")
		require.Contains(t, page, "<code>env:SHOP_DSN</code>")
		require.Contains(t, page, `<a href="/tables/raw.customers">raw.customers</a>`)
		require.NotContains(t, page, "Save connection", "a viewer changes no connection")
		_, _, page = s.page(t, s.admin, "/admin/connections")
		require.Contains(t, page, `data-send="PUT /connections/{name}"`)
	})

	t.Run("SchedulesCountTheirTables", func(t *testing.T) {
		_, _, page := s.page(t, s.editor, "/admin/schedules")
		require.Contains(t, page, `<a href="/tables?schedule=daily">2</a>`)
		require.Contains(t, page, `data-body="{&#34;schedule&#34;:&#34;daily&#34;}"`, "an editor may run a schedule")
		require.NotContains(t, page, "DELETE /schedules/daily", "only an admin deletes")
	})

	t.Run("UsersAreForAdmins", func(t *testing.T) {
		code, _, page := s.page(t, s.editor, "/admin/users")
		require.Equal(t, http.StatusForbidden, code)
		require.Contains(t, page, "This page needs the admin role; ed@example.com is editor.")
		code, _, page = s.page(t, s.admin, "/admin/users")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, page, "vic@example.com")
	})

	t.Run("TokensShowOnlyTheirIdsAndOnlyOnesOwnToNonAdmins", func(t *testing.T) {
		_, _, page := s.page(t, s.viewer, "/admin/tokens")
		require.Equal(t, 1, strings.Count(page, "<code>mae_"), "the viewer's own token only")
		require.NotContains(t, page, s.viewer[len("mae_")+16:], "never a token's secret")
		_, _, page = s.page(t, s.admin, "/admin/tokens")
		require.Equal(t, 3, strings.Count(page, "<code>mae_"), "an admin sees everyone's")
	})
}

// rowOf returns the table row of page that contains marker.
func rowOf(t *testing.T, page, marker string) string {
	t.Helper()
	i := strings.Index(page, marker)
	require.Positive(t, i, "no %s in the page", marker)
	start := strings.LastIndex(page[:i], "<tr")
	end := strings.Index(page[i:], "</tr>")
	require.True(t, start >= 0 && end >= 0)
	return page[start : i+end]
}

// BenchmarkPages measures each page's server time over the shop fixture, through the real
// API and its SQLite store: go test ./internal/webui -run '^$' -bench Pages.
func BenchmarkPages(b *testing.B) {
	s := newShop(b)
	for _, p := range []string{"/tables", "/tables/marts.revenue", "/tables/marts.revenue/edit", "/costs",
		"/admin/schedules", "/admin/connections", "/admin/users", "/admin/tokens"} {
		b.Run(strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_"), func(b *testing.B) {
			for b.Loop() {
				if code, _, _ := s.page(b, s.admin, p); code != http.StatusOK {
					b.Fatalf("%s: %d", p, code)
				}
			}
		})
	}
}

func TestTablePageShowsTheNewestRevisions(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	for i := 2; i <= 30; i++ {
		_, err := s.st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "raw.orders", Kind: "query", SQL: "SELECT " + strconv.Itoa(i) + " AS id",
			Owner: "ana@example.com", Group: "sales", Schedules: []string{"daily"}}, User: "ana@example.com", Message: "take " + strconv.Itoa(i), IfRevision: i - 1})
		require.NoError(t, err)
	}
	_, _, page := s.page(t, s.viewer, "/tables/raw.orders")
	require.Contains(t, page, "<strong>Revision 30</strong>")
	require.Contains(t, page, "<strong>Revision 6</strong>")
	require.NotContains(t, page, "<strong>Revision 5</strong>")
	require.Contains(t, page, `<span class="dl dd">-SELECT 5 AS id</span>`, "revision 6 is diffed against 5")
	require.Contains(t, page, "the API's full history")
}

func TestEditorHighlightsWithTheServersLexer(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	post := func(tok, body string) (int, string) {
		req, err := http.NewRequest("POST", s.srv.URL+"/highlight", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "text/plain")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, out := post(s.viewer, "SELECT '<b>' -- hi")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, `<span class="k">SELECT</span> <span class="s">&#39;&lt;b&gt;&#39;</span> <span class="c">-- hi</span>`, out)
	code, _ = post("", "SELECT 1")
	require.Equal(t, http.StatusSeeOther, code, "only for the signed-in")
}

// BenchmarkPages2000 measures the pages of a 2,000-table project with a run of every table:
// go test ./internal/webui -run '^$' -bench Pages2000.
func BenchmarkPages2000(b *testing.B) {
	s := newShop(b)
	ctx := context.Background()
	var nodes []*run.Node
	for i := range 2000 {
		name := fmt.Sprintf("ds%02d.t%04d", i%40, i)
		sql := "SELECT 1 AS x"
		if i >= 40 {
			sql = fmt.Sprintf("SELECT x FROM ds%02d.t%04d", (i-40)%40, i-40)
		}
		_, err := s.st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: name, Kind: "query", SQL: sql, Owner: "ana@example.com"}, User: "ana@example.com", Create: true})
		require.NoError(b, err)
		nodes = append(nodes, &run.Node{RunID: "r-big", Name: name, Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1,
			StartedAt: time.Now().Add(-time.Minute), FinishedAt: time.Now(), Stats: run.Stats{BytesBilled: int64(i) << 20}})
	}
	require.NoError(b, s.st.RunCreate(ctx, &run.Run{ID: "r-big", State: run.RunRunning, CreatedAt: time.Now()}, nodes))
	require.NoError(b, s.st.RunFinish(ctx, &store.RunFinishParams{ID: "r-big", State: run.RunSucceeded, FinishedAt: time.Now()}))
	for _, p := range []string{"/tables", "/tables/ds10.t1050", "/tables/ds10.t1050/edit", "/costs"} {
		b.Run(strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_"), func(b *testing.B) {
			var size int
			for b.Loop() {
				code, _, page := s.page(b, s.admin, p)
				if code != http.StatusOK {
					b.Fatal(code)
				}
				size = len(page)
			}
			b.ReportMetric(float64(size)/1024, "KiB/page")
		})
	}
}

func TestTablesPageShowsAPageAtATime(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	for i := range 205 {
		_, err := s.st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: fmt.Sprintf("big.t%03d", i), Kind: "query", SQL: "SELECT 1 AS x"},
			User: "ana@example.com", Create: true})
		require.NoError(t, err)
	}
	_, _, page := s.page(t, s.viewer, "/tables?dataset=big")
	require.Contains(t, page, "1–200 of 205 matching, 208 tables")
	require.Contains(t, page, `href="/tables?dataset=big&amp;page=2" rel="next"`)
	require.Contains(t, page, `href="/tables/big.t199"`)
	require.NotContains(t, page, `href="/tables/big.t200"`)
	_, _, page = s.page(t, s.viewer, "/tables?dataset=big&page=2")
	require.Contains(t, page, "201–205 of 205 matching")
	require.Contains(t, page, `href="/tables/big.t204"`)
	require.Contains(t, page, `rel="prev"`)
	require.NotContains(t, page, `rel="next"`)
}

// TestHostilePageRequests: odd paths and query strings get a 4xx page or an ordinary one,
// never a 5xx, and what a request says is shown escaped.
func TestHostilePageRequests(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	for _, p := range []string{
		"/tables/%2e%2e", "/tables/..%2f..%2fetc%2fpasswd", "/tables?page=-1", "/tables?page=99999999999999999999",
		"/costs?days=99999", "/costs?days=-3", "/tables/marts.revenue/exports/r-yesterday/x", "/tables/marts.revenue/exports/..%2f..%2fobjects/1",
		"/tables/marts.revenue/exports/nope/1", "/static/../webui.go", "/static/%2e%2e/webui.go", "/tables/%00/edit", "/admin/nope",
	} {
		code, _, page := s.page(t, s.admin, p)
		require.Less(t, code, 500, "%s: %s", p, page)
		require.NotContains(t, page, "package webui", p)
	}
	_, _, page := s.page(t, s.viewer, "/tables?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
	require.NotContains(t, page, "<script>alert(1)")
	require.Contains(t, page, `value="&lt;script&gt;alert(1)&lt;/script&gt;"`)
}

// A run still going is read afresh on every view; only finished runs' nodes are kept.
func TestTablesPageFollowsARunningRun(t *testing.T) {
	t.Parallel()
	s := newShop(t)
	ctx := context.Background()
	require.NoError(t, s.st.RunCreate(ctx, &run.Run{ID: "r-now", State: run.RunRunning, Trigger: run.TriggerManual, CreatedAt: time.Now()},
		[]*run.Node{{RunID: "r-now", Name: "raw.customers", Kind: "import", State: run.NodeReady, Attempt: 1, MaxAttempts: 1}}))
	_, _, page := s.page(t, s.viewer, "/tables")
	require.Contains(t, rowOf(t, page, `href="/tables/raw.customers"`), `<span class="state ready">ready</span>`)
	require.NoError(t, s.st.RunCancel(ctx, "r-now", time.Now()))
	_, _, page = s.page(t, s.viewer, "/tables")
	require.Contains(t, rowOf(t, page, `href="/tables/raw.customers"`), `<span class="state cancelled">cancelled</span>`)
}
