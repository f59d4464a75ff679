package webui_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// page GETs a web UI page with a token and returns its status, headers and body.
func getPage(t testing.TB, srv *httptest.Server, token, path string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// putTables stores query tables: name → the tables its SQL reads.
func storeTables(t testing.TB, st store.Store, tables map[string][]string) {
	t.Helper()
	for name, reads := range tables {
		sql := "SELECT 1 AS x"
		if len(reads) > 0 {
			sql = "SELECT x FROM " + strings.Join(reads, " JOIN ") + " USING (x)"
			if len(reads) == 1 {
				sql = "SELECT x FROM " + reads[0]
			}
		}
		_, err := st.TablePut(t.Context(), &store.TablePutParams{Create: true, User: "t", Table: spec.Table{Name: name, Kind: "query", SQL: sql}})
		require.NoError(t, err)
	}
}

// failedRun stores a finished run of ds.a → ds.b → ds.c and ds.a → ds.d where ds.b failed
// (after ds.d ended) and ds.c was skipped.
func storeFailedRun(t testing.TB, st store.Store, id string, t0 time.Time) {
	t.Helper()
	node := func(name string, state run.NodeState, start, end int, up ...string) *run.Node {
		n := &run.Node{RunID: id, Name: name, Kind: "query", State: state, Attempt: 1, MaxAttempts: 1, Upstream: up, Propagated: true,
			Stats: run.Stats{BytesBilled: 1 << 40}}
		if start >= 0 {
			n.StartedAt = t0.Add(time.Duration(start) * time.Second)
		}
		if end >= 0 {
			n.FinishedAt = t0.Add(time.Duration(end) * time.Second)
		}
		return n
	}
	b := node("ds.b", run.NodeFailed, 2, 9, "ds.a")
	b.Error = `Conversion Error: could not convert "<script>alert(1)</script>" to INT64`
	nodes := []*run.Node{node("ds.a", run.NodeSucceeded, 0, 2), b, node("ds.c", run.NodeSkipped, -1, -1, "ds.b"), node("ds.d", run.NodeSucceeded, 2, 4, "ds.a")}
	require.NoError(t, st.RunCreate(t.Context(), &run.Run{ID: id, State: run.RunRunning, Trigger: run.TriggerManual, CreatedBy: "ana@example.com", CreatedAt: t0}, nodes))
	require.NoError(t, st.RunFinish(t.Context(), &store.RunFinishParams{ID: id, State: run.RunFailed, FinishedAt: t0.Add(9 * time.Second),
		Counts: map[run.NodeState]int{run.NodeSucceeded: 2, run.NodeFailed: 1, run.NodeSkipped: 1}}))
}

func TestRunPages(t *testing.T) {
	t.Parallel()
	b := setup(t, service.APIConfig{Pricing: spec.Pricing{Model: "on_demand", USDPerTiB: 6.25}})
	st, srv := b.st, b.srv
	storeTables(t, st, map[string][]string{"ds.a": nil, "ds.b": {"ds.a"}, "ds.c": {"ds.b"}, "ds.d": {"ds.a"}})
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	storeFailedRun(t, st, "r1", t0)
	require.NoError(t, st.RunCreate(t.Context(), &run.Run{ID: "r2", State: run.RunRunning, Trigger: run.TriggerSchedule, Schedule: "daily", CreatedAt: t0.Add(time.Minute)},
		[]*run.Node{{RunID: "r2", Name: "ds.a", Kind: "query", State: run.NodeRunning, Attempt: 1, MaxAttempts: 1, StartedAt: t0.Add(time.Minute)},
			{RunID: "r2", Name: "ds.b", Kind: "query", State: run.NodePending, Attempt: 1, MaxAttempts: 1, Upstream: []string{"ds.a"}, PendingUpstream: 1}}))
	viewer := token(t, st, "v@example.com", "viewer", "")
	editor := token(t, st, "e@example.com", "editor", "g")

	t.Run("RunShowsEveryTableOnTheTimelineWithTheCriticalPathAndErrors", func(t *testing.T) {
		t.Parallel()
		status, h, body := getPage(t, srv, viewer, "/runs/r1")
		require.Equal(t, http.StatusOK, status, body)
		require.Regexp(t, `^page;dur=[0-9.]+, render;dur=[0-9.]+$`, h.Get("Server-Timing"), "the server time counts the reads and the template")
		var rows []string
		for _, m := range regexp.MustCompile(`<tr class="g-row[^"]*" data-name="([^"]+)" data-state="([^"]+)"`).FindAllStringSubmatch(body, -1) {
			rows = append(rows, m[1]+"="+m[2])
		}
		// By depth, then name: a row never moves while a run goes on.
		require.Equal(t, []string{"ds.a=succeeded", "ds.b=failed", "ds.d=succeeded", "ds.c=skipped"}, rows)
		crit := regexp.MustCompile(`<tr class="g-row crit" data-name="([^"]+)"`).FindAllStringSubmatch(body, -1)
		require.Len(t, crit, 2, "the critical path is ds.a then ds.b, which ended the run")
		require.Equal(t, "ds.a", crit[0][1])
		require.Equal(t, "ds.b", crit[1][1])
		require.Contains(t, body, `could not convert &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34; to INT64`, "the error shows, escaped")
		require.NotContains(t, body, "<script>alert(1)")
		require.Contains(t, body, "did not run", "a skipped table says it did not run")
		require.Contains(t, body, "$6.25", "a table's cost is priced (1 TiB at $6.25)")
		require.Contains(t, body, "cost $25.00", "the run's cost is the sum of its tables'")
		require.Contains(t, body, `style="left:22.22%;width:77.78%"`, "ds.b's bar runs from 2 s to 9 s of 9 s")
		require.NotContains(t, body, "/resume", "a viewer is offered no resume")
	})

	t.Run("EditorMayResumeAFailedRunAndCancelARunningOne", func(t *testing.T) {
		t.Parallel()
		_, _, body := getPage(t, srv, editor, "/runs/r1")
		require.Contains(t, body, `data-api="POST /runs/r1/resume"`)
		require.NotContains(t, body, "/cancel")
		_, _, body = getPage(t, srv, editor, "/runs/r2")
		require.Contains(t, body, `data-api="POST /runs/r2/cancel"`)
		require.Contains(t, body, `data-live="/runs/r2/live" data-interval="1010"`, "a run of two tables is polled about every second")
		require.Contains(t, body, "waiting for upstream")
	})

	t.Run("LivePartAnswers304WhenNothingChanged", func(t *testing.T) {
		t.Parallel()
		status, h, body := getPage(t, srv, viewer, "/runs/r1/live")
		require.Equal(t, http.StatusOK, status)
		etag := h.Get("ETag")
		require.NotEmpty(t, etag)
		require.Equal(t, "failed", h.Get("X-Run-State"))
		require.NotContains(t, body, "<html", "the live part is a fragment of the page")
		require.Contains(t, body, `data-name="ds.b"`)
		status, _, body = getPage(t, srv, viewer, "/runs/r1/live", "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, status)
		require.Empty(t, body)
		status, _, _ = getPage(t, srv, viewer, "/runs/r1/live", "If-None-Match", `"stale"`)
		require.Equal(t, http.StatusOK, status)
	})

	t.Run("RunsListNewestFirstAndFilters", func(t *testing.T) {
		t.Parallel()
		status, _, body := getPage(t, srv, viewer, "/runs")
		require.Equal(t, http.StatusOK, status)
		i1, i2 := strings.Index(body, `href="/runs/r1"`), strings.Index(body, `href="/runs/r2"`)
		require.True(t, i1 > 0 && i2 > 0 && i2 < i1, "r2 (newer) is listed before r1")
		require.Contains(t, body, "1 failed")
		_, _, body = getPage(t, srv, viewer, "/runs?state=failed")
		require.Contains(t, body, `href="/runs/r1"`)
		require.NotContains(t, body, `href="/runs/r2"`)
	})

	t.Run("BadInputGetsAPlainAnswer", func(t *testing.T) {
		t.Parallel()
		for path, want := range map[string]string{
			"/runs?state=done": "not &#34;done&#34;",
			"/runs?limit=0":    "from 1 to 1000",
			"/runs/nope":       "Not found",
		} {
			status, _, body := getPage(t, srv, viewer, path)
			require.Contains(t, []int{http.StatusBadRequest, http.StatusNotFound}, status, path)
			require.Contains(t, body, want, path)
		}
		status, _, _ := getPage(t, srv, viewer, "/runs/nope/live")
		require.Equal(t, http.StatusNotFound, status)
	})

	t.Run("AnonymousIsSentToSignIn", func(t *testing.T) {
		t.Parallel()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(srv.URL + "/runs/r1")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/signin?next="))
	})
}

func TestGraphPage(t *testing.T) {
	t.Parallel()
	b := setup(t, service.APIConfig{})
	st, srv := b.st, b.srv
	storeTables(t, st, map[string][]string{"ds.a": nil, "ds.b": {"ds.a"}, "ds.c": {"ds.b"}, "ds.d": {"ds.a", "ext.src"}, "ds.e": {"ds.d"}})
	storeFailedRun(t, st, "r1", time.Now().Add(-time.Hour))
	viewer := token(t, st, "v@example.com", "viewer", "")
	box := regexp.MustCompile(`<(?:a href="[^"]*"|g) data-id="([^"]+)" data-state="([^"]*)"`)
	boxes := func(body string) map[string]string {
		out := map[string]string{}
		for _, m := range box.FindAllStringSubmatch(body, -1) {
			out[m[1]] = m[2]
		}
		return out
	}

	t.Run("WholeProjectColouredByLastRun", func(t *testing.T) {
		t.Parallel()
		status, _, body := getPage(t, srv, viewer, "/graph")
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, map[string]string{"ds.a": "succeeded", "ds.b": "failed", "ds.c": "skipped", "ds.d": "succeeded", "ds.e": "", "ext.src": ""}, boxes(body))
		require.Contains(t, body, `<a href="/tables/ds.b" data-id="ds.b"`, "a table's box links to its page")
		require.Contains(t, body, `<g data-id="ext.src"`, "an external source has no page to link to")
		require.Contains(t, body, "<title>ds.b: failed</title>")
	})

	t.Run("NeighbourhoodToDepth", func(t *testing.T) {
		t.Parallel()
		_, _, body := getPage(t, srv, viewer, "/graph?table=ds.b&depth=1")
		require.Equal(t, map[string]string{"ds.a": "succeeded", "ds.b": "failed", "ds.c": "skipped"}, boxes(body))
		require.Contains(t, body, "3 of 5 tables, to depth 1")
		_, _, body = getPage(t, srv, viewer, "/graph?table=ds.e&depth=2")
		require.Equal(t, map[string]string{"ds.a": "succeeded", "ds.d": "succeeded", "ds.e": "", "ext.src": ""}, boxes(body))
	})

	t.Run("BadInputGetsAPlainAnswer", func(t *testing.T) {
		t.Parallel()
		status, _, body := getPage(t, srv, viewer, "/graph?table=ds.nope")
		require.Equal(t, http.StatusNotFound, status)
		require.Contains(t, body, "no table ds.nope")
		status, _, body = getPage(t, srv, viewer, "/graph?table=ds.b&depth=x")
		require.Equal(t, http.StatusBadRequest, status)
		require.Contains(t, body, "from 1 to 50")
	})
}

// The graph is kept between views while the tables stay the same; a table saved through the
// API shows at once.
func TestGraphPageShowsATableSavedThroughTheAPIAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, service.APIConfig{})
	st, srv := b.st, b.srv
	storeTables(t, st, map[string][]string{"ds.d": nil, "ds.e": {"ds.d"}})
	viewer := token(t, st, "v@example.com", "viewer", "")
	box := regexp.MustCompile(`<(?:a href="[^"]*"|g) data-id="([^"]+)" data-state="([^"]*)"`)
	boxes := func(body string) map[string]string {
		out := map[string]string{}
		for _, m := range box.FindAllStringSubmatch(body, -1) {
			out[m[1]] = m[2]
		}
		return out
	}
	_, _, body := getPage(t, srv, viewer, "/graph")
	require.NotContains(t, body, `data-id="ds.f"`)
	admin := b.admin
	c := &http.Client{}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/tables", strings.NewReader(`{"name":"ds.f","kind":"query","sql":"SELECT x FROM ds.e"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	_, _, body = getPage(t, srv, viewer, "/graph?table=ds.f&depth=1")
	require.Equal(t, map[string]string{"ds.e": "", "ds.f": ""}, boxes(body))
}

func TestGraphPageCollapsesDatasetsOfABigProject(t *testing.T) {
	t.Parallel()
	b := setup(t, service.APIConfig{})
	st, srv := b.st, b.srv
	tables := map[string][]string{}
	for d := range 4 {
		for i := range 60 {
			var reads []string
			if d > 0 {
				reads = []string{fmt.Sprintf("d%d.t%02d", d-1, (i*7)%60)}
			}
			tables[fmt.Sprintf("d%d.t%02d", d, i)] = reads
		}
	}
	storeTables(t, st, tables)
	viewer := token(t, st, "v@example.com", "viewer", "")

	_, _, body := getPage(t, srv, viewer, "/graph")
	ids := regexp.MustCompile(`data-id="([^"]+)"`).FindAllStringSubmatch(body, -1)
	require.Len(t, ids, 4, "240 tables in 4 datasets: one box per dataset")
	require.Contains(t, body, `<a href="/graph?expand=d2" data-id="dataset:d2"`)
	require.Contains(t, body, "dataset d2: 60 tables, 60 not run yet")

	_, _, body = getPage(t, srv, viewer, "/graph?expand=d2")
	ids = regexp.MustCompile(`data-id="([^"]+)"`).FindAllStringSubmatch(body, -1)
	require.Len(t, ids, 3+60, "d2 opened: its 60 tables and 3 dataset boxes")
	require.Contains(t, body, `href="/graph?expand=d2&amp;expand=d1"`, "opening another keeps d2 open")

	_, _, body = getPage(t, srv, viewer, "/graph?all=1")
	require.Len(t, regexp.MustCompile(`data-id="([^"]+)"`).FindAllStringSubmatch(body, -1), 240)
}

// Odd query strings and ids on the graph and runs pages get a 4xx page or an ordinary one,
// never a 5xx, and what they say is shown escaped.
func TestGraphAndRunPagesHostileRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, service.APIConfig{})
	storeTables(t, b.st, map[string][]string{"ds.a": nil, "ds.b": {"ds.a"}})
	storeFailedRun(t, b.st, "r1", time.Now().Add(-time.Hour))
	for _, p := range []string{
		"/graph?table=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/graph?expand=%3Cscript%3Ealert(1)%3C%2Fscript%3E&expand=ds",
		"/graph?table=ds.a&depth=-1", "/graph?table=ds.a&depth=99999999999999999999", "/graph?table=%00", "/graph?all=%3Cb%3E",
		"/runs?limit=99999999999999999999", "/runs?state=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/runs/%2e%2e", "/runs/..%2f..%2fetc",
		"/runs/%3Cscript%3Ealert(1)%3C%2Fscript%3E/live", "/runs/r1/live?x=%3Cscript%3E",
	} {
		status, _, body := getPage(t, b.srv, b.admin, p)
		require.Less(t, status, 500, "%s: %s", p, body)
		require.NotContains(t, body, "<script>alert(1)", p)
	}
	_, _, body := getPage(t, b.srv, b.admin, "/graph?expand=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
	require.Contains(t, body, `value="&lt;script&gt;alert(1)&lt;/script&gt;"`, "an opened dataset is kept, escaped")
}
