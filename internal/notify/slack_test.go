package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// fakeSlack is Slack's test server with chat.postMessage and users.lookupByEmail answering as
// the Web API does, recording what was posted.
type fakeSlack struct {
	srv *slacktest.Server

	mu       sync.Mutex
	posts    []post
	lookups  map[string]int
	users    map[string]string // email -> user id
	limit429 int               // answer this many posts 429 first
}

type post struct {
	Channel, Text, ThreadTS, TS string
	Blocks                      string // every text of the blocks, one a line
	BlocksJSON                  string // the blocks as posted
}

// blockTexts collects the "text" strings of a blocks JSON document.
func blockTexts(doc string) string {
	var v any
	if json.Unmarshal([]byte(doc), &v) != nil {
		return ""
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				out = append(out, s)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return strings.Join(out, "\n")
}

func newFakeSlack(t *testing.T, users map[string]string) *fakeSlack {
	f := &fakeSlack{lookups: map[string]int{}, users: users}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.postMessage)
		c.Handle("/users.lookupByEmail", f.lookup)
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *fakeSlack) postMessage(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	v, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit429 > 0 {
		f.limit429--
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	ts := fmt.Sprintf("1700000000.%06d", len(f.posts)+1)
	f.posts = append(f.posts, post{Channel: v.Get("channel"), Text: v.Get("text"), ThreadTS: v.Get("thread_ts"), TS: ts, Blocks: blockTexts(v.Get("blocks")), BlocksJSON: v.Get("blocks")})
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": v.Get("channel"), "ts": ts})
}

func (f *fakeSlack) lookup(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	v, _ := url.ParseQuery(string(body))
	email := v.Get("email")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups[email]++
	if id, ok := f.users[email]; ok {
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": id, "name": email}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "users_not_found"})
}

func (f *fakeSlack) Posts() []post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]post(nil), f.posts...)
}

type harness struct {
	slack *fakeSlack
	st    *sqlitestore.Store
	n     *notify.Slack
	now   time.Time
	slept []time.Duration
}

func newHarness(t *testing.T, cfg notify.Config, tables ...spec.Table) *harness {
	h := &harness{slack: newFakeSlack(t, map[string]string{"ana@acme.test": "UANA"}), now: time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)}
	var err error
	h.st, err = sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { h.st.Close() })
	for _, tb := range tables {
		_, err := h.st.TablePut(t.Context(), &store.TablePutParams{Table: tb, User: "u", Create: true})
		require.NoError(t, err)
	}
	cfg.Now = func() time.Time { return h.now }
	cfg.Sleep = func(_ context.Context, d time.Duration) error { h.slept = append(h.slept, d); return nil }
	api := slack.New("xoxb-test", slack.OptionAPIURL(h.slack.srv.GetAPIURL()))
	h.n = notify.NewSlack(api, h.st, zap.NewNop(), cfg)
	return h
}

func failedNode(runID, name, msg string) *run.Node {
	return &run.Node{RunID: runID, Name: name, Kind: "query", State: run.NodeFailed, Attempt: 3, MaxAttempts: 3,
		JobID: run.JobID(runID, name, 3), Error: msg}
}

var orders = spec.Table{Name: "sales.orders", SQL: "SELECT 1", Owner: "ana@acme.test", Group: "finance"}

func TestNodeFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, notify.Config{Channel: "#data", UIURL: "https://maestro.acme.test/", ErrorExcerpt: 200}, orders)
	ctx := t.Context()
	long := "job failed: invalidQuery: Unrecognized name: totl <at> [3:8] & more " + strings.Repeat("x", 5000)
	r1 := &run.Run{ID: "r1", Schedule: "daily"}

	h.n.NodeFailed(ctx, r1, failedNode("r1", "sales.orders", long))
	h.n.NodeFailed(ctx, r1, failedNode("r1", "sales.orders", long)) // a duplicate completion
	posts := h.slack.Posts()
	require.Len(t, posts, 1, "one message per failure")
	p := posts[0]
	require.Equal(t, "#data", p.Channel)
	require.Empty(t, p.ThreadTS)
	require.Contains(t, p.Text, "<@UANA>", "the owner is mentioned")
	require.Contains(t, p.Blocks, "<@UANA>")
	require.Contains(t, p.Blocks, "<https://maestro.acme.test/tables/sales.orders|sales.orders>", "links to the table in the UI")
	require.Contains(t, p.Blocks, "<https://maestro.acme.test/runs/r1|r1>")
	require.Contains(t, p.Blocks, "3 of 3", "the attempt")
	require.Contains(t, p.Blocks, "Unrecognized name: totl &lt;at&gt; [3:8] &amp; more", "the error, escaped")
	require.Contains(t, p.Blocks, "more characters)", "a long error is cut")
	require.Less(t, len(p.Blocks), 2000, "the excerpt is bounded")
	require.Contains(t, p.Blocks, run.JobID("r1", "sales.orders", 3))

	// The next run fails too: a reply in the first failure's thread.
	h.n.NodeFailed(ctx, &run.Run{ID: "r2", Schedule: "daily"}, failedNode("r2", "sales.orders", "boom"))
	posts = h.slack.Posts()
	require.Len(t, posts, 2)
	require.Equal(t, posts[0].TS, posts[1].ThreadTS, "threaded under the first failure")
	require.Contains(t, posts[1].Blocks, "failed again")

	// It succeeds in r3: the thread closes, and the next failure starts a new one.
	h.n.RunFinished(ctx, &run.Run{ID: "r3", State: run.RunSucceeded}, []*run.Node{{RunID: "r3", Name: "sales.orders", State: run.NodeSucceeded}})
	h.n.NodeFailed(ctx, &run.Run{ID: "r4"}, failedNode("r4", "sales.orders", "boom"))
	posts = h.slack.Posts()
	require.Len(t, posts, 4, "failure, reply, r3's summary, new failure")
	require.Empty(t, posts[3].ThreadTS)
	require.Equal(t, 1, h.slack.lookups["ana@acme.test"], "the owner's Slack user is cached")
}

func TestOwnerNotInSlackIsPlainEmailAndCachedForTTL(t *testing.T) {
	t.Parallel()
	bob := spec.Table{Name: "a.x", SQL: "SELECT 1", Owner: "bob@acme.test"}
	bob2 := spec.Table{Name: "a.y", SQL: "SELECT 1", Owner: "bob@acme.test"}
	h := newHarness(t, notify.Config{Channel: "#data", OwnerTTL: time.Hour}, bob, bob2)
	h.n.NodeFailed(t.Context(), &run.Run{ID: "r1"}, failedNode("r1", "a.x", "boom"))
	h.n.NodeFailed(t.Context(), &run.Run{ID: "r1"}, failedNode("r1", "a.y", "boom"))
	posts := h.slack.Posts()
	require.Len(t, posts, 2)
	require.Contains(t, posts[0].Text, "owner bob@acme.test:")
	require.NotContains(t, posts[0].Text, "<@")
	require.Equal(t, 1, h.slack.lookups["bob@acme.test"], "not found is remembered too")
	h.now = h.now.Add(2 * time.Hour)
	h.n.NodeFailed(t.Context(), &run.Run{ID: "r2"}, failedNode("r2", "a.x", "boom"))
	require.Equal(t, 2, h.slack.lookups["bob@acme.test"], "asked again after the TTL")
}

func TestRouting(t *testing.T) {
	t.Parallel()
	tables := []spec.Table{orders,
		{Name: "sales.daily_revenue", SQL: "SELECT 1", Owner: "ana@acme.test"},
		{Name: "mart.kpis", SQL: "SELECT 1", Group: "finance"},
		{Name: "mart.other", SQL: "SELECT 1"},
	}
	h := newHarness(t, notify.Config{Channel: "#data", Routes: []spec.NotifyRoute{
		{Tables: []string{"sales.*"}, Group: "finance", SlackChannel: "#sales-finance"},
		{Tables: []string{"*.daily_*"}, SlackChannel: "#daily"},
		{Group: "finance", SlackChannel: "#finance"},
		{Schedule: "hourly", SlackChannel: "#hourly"},
	}}, tables...)
	r := &run.Run{ID: "r1", Schedule: "hourly", State: run.RunFailed}
	var nodes []*run.Node
	for _, tb := range tables {
		nodes = append(nodes, failedNode("r1", tb.Name, "boom"))
	}
	h.n.RunFinished(t.Context(), r, nodes)
	got := map[string]string{}
	for _, p := range h.slack.Posts() {
		name, _, _ := strings.Cut(p.Text, " ")
		got[name] = p.Channel
	}
	require.Equal(t, map[string]string{
		"sales.orders":        "#sales-finance", // tables and group both match
		"sales.daily_revenue": "#daily",         // not finance: the next route
		"mart.kpis":           "#finance",
		"mart.other":          "#hourly", // the run's schedule
		"Run":                 "#hourly", // the summary of a run of hourly
	}, got)
}

func TestRunSummary(t *testing.T) {
	t.Parallel()
	h := newHarness(t, notify.Config{Channel: "#data", Pricing: spec.Pricing{Model: "on_demand", USDPerTiB: 6.25}}, orders)
	start := time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)
	r := &run.Run{ID: "r1", Schedule: "daily", State: run.RunFailed, CreatedAt: start, FinishedAt: start.Add(95 * time.Second),
		Stats: run.Stats{BytesBilled: 3 << 40}} // 3 TiB × $6.25
	nodes := []*run.Node{
		{RunID: "r1", Name: "a.ok", State: run.NodeSucceeded},
		{RunID: "r1", Name: "a.ok2", State: run.NodeSucceeded},
		failedNode("r1", "sales.orders", "boom"),
		{RunID: "r1", Name: "a.after", State: run.NodeSkipped},
	}
	h.n.NodeFailed(t.Context(), r, nodes[2]) // told at once, as the completion arrived
	h.n.RunFinished(t.Context(), r, nodes)
	posts := h.slack.Posts()
	require.Len(t, posts, 2, "the failure (not told twice) and one summary")
	s := posts[1]
	require.Equal(t, "Run of daily failed: 2 succeeded, 1 failed, 1 skipped in 1m35s, cost $18.75", s.Text)
	require.Contains(t, s.Blocks, "*Failed*\n• sales.orders")

	// Without pricing the cost is unknown, not $0.
	h2 := newHarness(t, notify.Config{Channel: "#data"})
	h2.n.RunFinished(t.Context(), &run.Run{ID: "r9", State: run.RunSucceeded, Stats: run.Stats{BytesBilled: 1 << 40}},
		[]*run.Node{{RunID: "r9", Name: "a.ok", State: run.NodeSucceeded}})
	require.Contains(t, h2.slack.Posts()[0].Text, "cost unknown")
}

func TestRateLimitWaitsRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, notify.Config{Channel: "#data"}, orders)
	h.slack.limit429 = 2
	h.n.NodeFailed(t.Context(), &run.Run{ID: "r1"}, failedNode("r1", "sales.orders", "boom"))
	require.Len(t, h.slack.Posts(), 1, "posted once the limit passed")
	require.Equal(t, []time.Duration{7 * time.Second, 7 * time.Second}, h.slept, "waited as Retry-After said")
}

func TestCostJumpAlert(t *testing.T) {
	t.Parallel()
	p := spec.Pricing{Model: "on_demand", USDPerTiB: 6.25, AnomalyMultiple: 3, AnomalyRuns: 5}
	h := newHarness(t, notify.Config{Channel: "#data", Pricing: p}, orders)
	ctx := t.Context()
	start := time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)
	finish := func(i int, tib10 int64) {
		id := fmt.Sprintf("r%02d", i)
		at := start.Add(time.Duration(i) * time.Hour)
		n := &run.Node{RunID: id, Name: "sales.orders", Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1,
			Propagated: true, Stats: run.Stats{BytesBilled: tib10 << 40 / 10}, StartedAt: at, FinishedAt: at}
		r := &run.Run{ID: id, State: run.RunRunning, CreatedAt: at}
		require.NoError(t, h.st.RunCreate(ctx, r, []*run.Node{n}))
		require.NoError(t, h.st.RunFinish(ctx, &store.RunFinishParams{ID: id, State: run.RunSucceeded, FinishedAt: at, Stats: n.Stats}))
		r, err := h.st.RunGet(ctx, id)
		require.NoError(t, err)
		h.n.RunFinished(ctx, r, []*run.Node{n})
	}
	for i, v := range []int64{10, 13, 8, 11, 9, 12} {
		finish(i, v)
	}
	alerts := func() []post {
		var out []post
		for _, p := range h.slack.Posts() {
			if strings.HasPrefix(p.Text, "Cost jump") {
				out = append(out, p)
			}
		}
		return out
	}
	require.Empty(t, alerts(), "normal variation")
	finish(6, 60) // 6 TiB against a median of 1.1
	finish(7, 10)
	got := alerts()
	require.Len(t, got, 1, "the planted jump, once")
	require.Equal(t, "Cost jump: sales.orders cost $37.50, 5.5× its median $6.87 (owner <@UANA>)", got[0].Text)
}
