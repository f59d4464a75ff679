package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/devmode"
)

type slackPost struct{ channel, text, threadTS, ts, blocks string }

// slackRecorder is Slack's test server recording chat.postMessage calls; ana is a Slack user.
type slackRecorder struct {
	mu    sync.Mutex
	posts []slackPost
}

func (s *slackRecorder) start(t *testing.T) string {
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			v, _ := url.ParseQuery(string(body))
			s.mu.Lock()
			ts := fmt.Sprintf("1700000000.%06d", len(s.posts)+1)
			s.posts = append(s.posts, slackPost{channel: v.Get("channel"), text: v.Get("text"), threadTS: v.Get("thread_ts"), ts: ts, blocks: v.Get("blocks")})
			s.mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": v.Get("channel"), "ts": ts})
		})
		c.Handle("/users.lookupByEmail", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			v, _ := url.ParseQuery(string(body))
			if v.Get("email") == "ana@example.com" {
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": "UANA"}})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "users_not_found"})
		})
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	return srv.GetAPIURL()
}

func (s *slackRecorder) withPrefix(prefix string) []slackPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []slackPost
	for _, p := range s.posts {
		if strings.HasPrefix(p.text, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// TestDevSlack runs the quickstart with two tables broken: each failure is one Slack message
// mentioning the table's owner, each run one summary, and the next day's failures reply in the
// first ones' threads.
func TestDevSlack(t *testing.T) {
	t.Setenv(devmode.CallbackKeyEnv, "")
	t.Setenv("QUICKSTART_SHOP_DSN", "")
	rec := &slackRecorder{}
	t.Setenv(devmode.SlackAPIURLEnv, rec.start(t))
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-test-token")

	addr := freeAddr(t)
	dir := quickstartCopy(t, addr)
	breakTable := func(file, sql string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "marts", file+".sql"), []byte(sql), 0o644))
		f, err := os.OpenFile(filepath.Join(dir, "marts", file+".yaml"), os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString("retries: 0\n")
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	breakTable("customer_ltv", "SELECT no_such_column FROM staging.orders_enriched")
	breakTable("kpi_snapshot", "SELECT missing_col FROM staging.orders_enriched")

	state := filepath.Join(t.TempDir(), "state")
	flags := devFlags{once: true, stateDir: state, logFormat: "json", addr: addr}
	var out, logs bytes.Buffer
	require.Error(t, runDev(context.Background(), dir, flags, &out, &logs), "failed tables fail --once")
	require.Regexp(t, `marts\.customer_ltv\s+failed`, out.String())

	ltv := rec.withPrefix("marts.customer_ltv failed")
	require.Len(t, ltv, 1, "one message per failure:\n%s", logs.String())
	require.Equal(t, "#data-alerts", ltv[0].channel)
	require.Contains(t, ltv[0].text, "owner <@UANA>", "the owner is mentioned")
	require.Contains(t, ltv[0].blocks, "no_such_column", "the error is quoted")
	require.Contains(t, ltv[0].blocks, "http://"+addr+"/tables/marts.customer_ltv")
	kpi := rec.withPrefix("marts.kpi_snapshot failed")
	require.Len(t, kpi, 1)
	require.Contains(t, kpi[0].text, "owner ben@example.com", "not a Slack user: the plain email")
	summaries := rec.withPrefix("Run of ")
	require.Len(t, summaries, 2, "one summary per run (daily and hourly)")
	require.Contains(t, strings.Join([]string{summaries[0].text, summaries[1].text}, "\n"), "Run of daily failed:")
	require.Contains(t, summaries[0].text+summaries[1].text, "cost unknown", "the quickstart sets no pricing")

	out.Reset()
	logs.Reset()
	require.Error(t, runDev(context.Background(), dir, flags, &out, &logs))
	ltv = rec.withPrefix("marts.customer_ltv failed")
	require.Len(t, ltv, 2)
	require.Equal(t, ltv[0].ts, ltv[1].threadTS, "the second failure replies in the first one's thread")
	kpi = rec.withPrefix("marts.kpi_snapshot failed")
	require.Len(t, kpi, 2)
	require.Equal(t, kpi[0].ts, kpi[1].threadTS)
	require.Len(t, rec.withPrefix("Run of "), 4)
}
