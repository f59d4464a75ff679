package service_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

var signingSecret = []byte("8f742231b10e8888abcd99yyyzzz85a5")

// slackEnv is the API with Slack configured: Slack's test server answers users.info for the
// users below, and a response URL server records what Maestro posts back.
type slackEnv struct {
	st        *sqlitestore.Store
	srv       *httptest.Server
	responses chan map[string]any
	respURL   string
	editorTok string
}

// Slack users and who they are in Maestro.
var slackUsers = map[string]string{
	"UEDITOR": "finance@example.com", // editor of finance
	"UVIEWER": "viewer@example.com",  // viewer
	"UOTHER":  "marketing@example.com",
	"USTRAY":  "stranger@example.com", // in Slack, not in Maestro
}

func newSlackEnv(t *testing.T) *slackEnv {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	for _, tb := range []spec.Table{
		{Name: "fin.base", Kind: "query", SQL: "SELECT 1 AS x", Group: "finance", Owner: "finance@example.com"},
		{Name: "fin.revenue", Kind: "query", SQL: "SELECT x FROM fin.base", Group: "finance"},
	} {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: tb, User: "fixture", Create: true})
		require.NoError(t, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	require.NoError(t, st.RunCreate(ctx, &run.Run{ID: "r-failed", State: run.RunRunning, Trigger: run.TriggerSchedule, CreatedAt: now.Add(-time.Hour)},
		[]*run.Node{{RunID: "r-failed", Name: "fin.base", Kind: "query", State: run.NodeFailed, Attempt: 1, MaxAttempts: 1, FinishedAt: now, Error: "boom"}}))
	require.NoError(t, st.RunFinish(ctx, &store.RunFinishParams{ID: "r-failed", State: run.RunFailed, FinishedAt: now}))
	e := &slackEnv{st: st, responses: make(chan map[string]any, 16)}
	e.editorTok = userToken(t, st, "finance@example.com", "editor", "finance")
	userToken(t, st, "viewer@example.com", "viewer", "finance")
	userToken(t, st, "marketing@example.com", "editor", "marketing")

	sl := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/users.info", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			v, _ := url.ParseQuery(string(body))
			email, ok := slackUsers[v.Get("user")]
			if !ok {
				_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "user_not_found"})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "user": map[string]any{"id": v.Get("user"), "profile": map[string]any{"email": email}}})
		})
	})
	sl.Start()
	t.Cleanup(sl.Stop)
	resp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Asserted by the test goroutine: what is posted, and that it was JSON.
		m := map[string]any{}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&m) != nil {
			m = map[string]any{"error": "not a JSON message"}
		}
		e.responses <- m
	}))
	t.Cleanup(resp.Close)
	e.respURL = resp.URL + "/actions/T1/123/abc"

	q := memqueue.New(nil)
	t.Cleanup(func() { q.Close() })
	_, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "tasks"})
	require.NoError(t, err)
	sched := scheduler.New(st, q.Topic("tasks"), scheduler.ProjectGraph("", ""), nil, zap.NewNop(), scheduler.Config{})
	e.srv = httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{
		Slack: service.SlackConfig{SigningSecret: signingSecret, Users: service.SlackWebUsers(sl.GetAPIURL(), "xoxb-test", nil)}}))
	t.Cleanup(e.srv.Close)
	return e
}

// post sends body to a Slack route signed as Slack signs, at time at.
func (e *slackEnv) post(t *testing.T, path, body string, at time.Time, secret []byte) (int, string) {
	t.Helper()
	ts, sig := service.SignSlack(secret, at, []byte(body))
	return e.postSigned(t, path, body, ts, sig)
}

func (e *slackEnv) postSigned(t *testing.T, path, body, ts, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+service.APIPrefix+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// response waits for what Maestro posts to the response URL.
func (e *slackEnv) response(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m := <-e.responses:
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("nothing was posted to the response URL")
		return nil
	}
}

// interaction is a block_actions payload as Slack sends it for a button of a failure message.
func (e *slackEnv) interaction(user, actionID, value string) string {
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": "someone"},
		"team":         map[string]any{"id": "T1"},
		"response_url": e.respURL,
		"message": map[string]any{"type": "message", "text": "fin.base failed", "blocks": []any{
			map[string]any{"type": "section", "block_id": "b1", "text": map[string]any{"type": "mrkdwn", "text": "*fin.base* failed"}},
		}},
		"actions": []any{map[string]any{"type": "button", "action_id": actionID, "block_id": "maestro_failure", "value": value,
			"text": map[string]any{"type": "plain_text", "text": "Re-run table"}}},
	}
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}.Encode()
}

func runsOf(t *testing.T, st store.Store) []*run.Run {
	t.Helper()
	runs, err := st.RunList(context.Background(), &store.RunListParams{})
	require.NoError(t, err)
	return runs
}

func TestSlackButtons(t *testing.T) {
	t.Parallel()

	t.Run("AnEditorsReRunStartsARunAndUpdatesTheMessage", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		code, body := e.post(t, "/slack/interactions", e.interaction("UEDITOR", notify.ActionRerunDownstream, notify.ActionValue("fin.base", "r-failed")), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code, body)
		m := e.response(t)
		require.Equal(t, true, m["replace_original"], "the message is updated in place")
		text := m["text"].(string)
		require.Contains(t, text, "Re-run of fin.base and everything downstream started by finance@example.com — run ")
		blocks, _ := json.Marshal(m["blocks"])
		require.Contains(t, string(blocks), "*fin.base* failed", "the original message is kept")
		require.Contains(t, string(blocks), "started by finance@example.com", "with what happened and who did it")

		runs := runsOf(t, e.st)
		require.Len(t, runs, 2)
		rn := runs[0]
		require.Contains(t, text, rn.ID)
		require.Equal(t, run.TriggerSlack, rn.Trigger)
		require.Equal(t, "slack:UEDITOR (finance@example.com)", rn.CreatedBy, "audited: who, from Slack")
		nodes, err := e.st.NodeList(context.Background(), rn.ID)
		require.NoError(t, err)
		require.Len(t, nodes, 2, "fin.base and its downstream fin.revenue")

		// The run listing shows who started it from where.
		c := client{t: t, base: e.srv.URL + service.APIPrefix, token: e.editorTok}
		code, _, out := c.do("GET", "/runs/"+rn.ID, nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "slack", out["trigger"])
		require.Equal(t, "slack:UEDITOR (finance@example.com)", out["created_by"])
	})

	t.Run("AViewersReRunChangesNothingAndIsToldWhy", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		before := snapshot(t, e.st)
		code, _ := e.post(t, "/slack/interactions", e.interaction("UVIEWER", notify.ActionRerun, notify.ActionValue("fin.base", "r-failed")), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		m := e.response(t)
		require.Equal(t, "ephemeral", m["response_type"], "told only to the presser")
		require.Equal(t, false, m["replace_original"], "the message stays as it was")
		require.Equal(t, "Nothing was done: viewer@example.com is a viewer in Maestro, and re-running fin.base needs the editor role.", m["text"])
		require.Equal(t, before, snapshot(t, e.st), "the store is unchanged")
		require.Len(t, runsOf(t, e.st), 1)
	})

	t.Run("SomeoneMaestroDoesNotKnowIsRefused", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		before := snapshot(t, e.st)
		for user, want := range map[string]string{
			"USTRAY":   "stranger@example.com is not a Maestro user: ask an admin to add you",
			"UNOBODY!": "Maestro could not find your email in Slack",
		} {
			code, _ := e.post(t, "/slack/interactions", e.interaction(user, notify.ActionRerun, notify.ActionValue("fin.base", "r-failed")), time.Now(), signingSecret)
			require.Equal(t, http.StatusOK, code)
			m := e.response(t)
			require.Equal(t, "ephemeral", m["response_type"])
			require.Contains(t, m["text"], want)
		}
		require.Equal(t, before, snapshot(t, e.st))
	})

	t.Run("BadlySignedStaleAndReplayedRequestsAreRefused", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		body := e.interaction("UEDITOR", notify.ActionRerun, notify.ActionValue("fin.base", "r-failed"))
		now := time.Now()
		code, out := e.post(t, "/slack/interactions", body, now, []byte("not-the-secret"))
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, out, "does not match")
		code, out = e.post(t, "/slack/interactions", body, now.Add(-6*time.Minute), signingSecret)
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, out, "stale")
		code, out = e.post(t, "/slack/interactions", body, now.Add(6*time.Minute), signingSecret)
		require.Equal(t, http.StatusUnauthorized, code, "from the future too")
		ts, sig := service.SignSlack(signingSecret, now, []byte(body))
		code, out = e.postSigned(t, "/slack/interactions", body+"&x=1", ts, sig)
		require.Equal(t, http.StatusUnauthorized, code, "a changed body")
		code, out = e.postSigned(t, "/slack/interactions", body, "", "")
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, out, "not signed by Slack")
		require.Len(t, runsOf(t, e.st), 1, "no refused request started anything")

		code, _ = e.postSigned(t, "/slack/interactions", body, ts, sig)
		require.Equal(t, http.StatusOK, code)
		e.response(t)
		code, out = e.postSigned(t, "/slack/interactions", body, ts, sig)
		require.Equal(t, http.StatusUnauthorized, code, "the same request again")
		require.Contains(t, out, "replay")
		require.Len(t, runsOf(t, e.st), 2, "one run from the one accepted request")
	})

	t.Run("ResumeStartsTheRunsFailedTables", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		code, _ := e.post(t, "/slack/interactions", e.interaction("UEDITOR", notify.ActionResume, notify.ActionValue("", "r-failed")), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		m := e.response(t)
		require.Contains(t, m["text"], "Run r-failed resumed by finance@example.com — run ")
		rn := runsOf(t, e.st)[0]
		require.Equal(t, "r-failed", rn.ResumedFrom)
		require.Equal(t, "slack:UEDITOR (finance@example.com)", rn.CreatedBy)
	})

	t.Run("MuteSilencesTheTableForADayAndTheAPIShowsAndClearsIt", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		// An editor of another group may not mute finance's table.
		code, _ := e.post(t, "/slack/interactions", e.interaction("UOTHER", notify.ActionMute, notify.ActionValue("fin.base", "r-failed")), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		m := e.response(t)
		require.Equal(t, "Nothing was done: fin.base belongs to group finance, and marketing@example.com may not change it.", m["text"])
		ms, err := e.st.MuteList(context.Background())
		require.NoError(t, err)
		require.Empty(t, ms)

		code, _ = e.post(t, "/slack/interactions", e.interaction("UEDITOR", notify.ActionMute, notify.ActionValue("fin.base", "r-failed")), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		m = e.response(t)
		require.Equal(t, true, m["replace_original"])
		require.Contains(t, m["text"], "Alerts of fin.base muted until ")
		require.Contains(t, m["text"], "by finance@example.com")

		c := client{t: t, base: e.srv.URL + service.APIPrefix, token: e.editorTok}
		code, _, out := c.do("GET", "/mutes", nil)
		require.Equal(t, http.StatusOK, code)
		mutes := out["mutes"].([]any)
		require.Len(t, mutes, 1)
		mute := mutes[0].(map[string]any)
		require.Equal(t, "fin.base", mute["table"])
		require.Equal(t, true, mute["active"])
		require.Equal(t, "slack:UEDITOR (finance@example.com)", mute["by"])
		until, err := time.Parse(time.RFC3339, mute["until"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().Add(24*time.Hour), until, time.Hour, "muted for a day")

		code, _, _ = c.do("DELETE", "/mutes/fin.base", nil)
		require.Equal(t, http.StatusNoContent, code)
		code, _, out = c.do("GET", "/mutes", nil)
		require.Equal(t, http.StatusOK, code)
		require.Empty(t, out["mutes"])
	})
}

func TestSlackSlashCommand(t *testing.T) {
	t.Parallel()
	command := func(user, text, responseURL string) string {
		return url.Values{"command": {"/maestro"}, "text": {text}, "user_id": {user}, "team_id": {"T1"},
			"channel_id": {"C1"}, "response_url": {responseURL}}.Encode()
	}
	decode := func(t *testing.T, body string) map[string]any {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &m), body)
		return m
	}

	t.Run("RunIsAcknowledgedAtOnceAndFollowedUp", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		code, body := e.post(t, "/slack/commands", command("UEDITOR", "run fin.base --downstream", e.respURL), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		ack := decode(t, body)
		require.Equal(t, "ephemeral", ack["response_type"])
		require.Equal(t, "Starting a run of fin.base…", ack["text"])
		m := e.response(t)
		require.Equal(t, "in_channel", m["response_type"])
		rn := runsOf(t, e.st)[0]
		require.Equal(t, "Run "+rn.ID+" of fin.base and everything downstream started by finance@example.com", m["text"])
		require.Equal(t, run.TriggerSlack, rn.Trigger)
		require.Equal(t, "slack:UEDITOR (finance@example.com)", rn.CreatedBy)
	})

	t.Run("AViewersRunIsRefused", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		before := snapshot(t, e.st)
		code, _ := e.post(t, "/slack/commands", command("UVIEWER", "run fin.base", e.respURL), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		m := e.response(t)
		require.Equal(t, "ephemeral", m["response_type"])
		require.Equal(t, "Nothing was done: viewer@example.com is a viewer in Maestro, and running fin.base needs the editor role.", m["text"])
		require.Equal(t, before, snapshot(t, e.st))
	})

	t.Run("StatusAndRunsAreAnsweredDirectly", func(t *testing.T) {
		t.Parallel()
		e := newSlackEnv(t)
		code, body := e.post(t, "/slack/commands", command("UVIEWER", "status fin.base", e.respURL), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		m := decode(t, body)
		require.Equal(t, "ephemeral", m["response_type"])
		require.Contains(t, m["text"], "fin.base (owner finance@example.com, group finance): failed in run r-failed (attempt 1")
		require.Contains(t, m["text"], ": boom")

		code, body = e.post(t, "/slack/commands", command("UVIEWER", "runs", e.respURL), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, decode(t, body)["text"], "• r-failed failed (schedule")

		code, body = e.post(t, "/slack/commands", command("USTRAY", "runs", e.respURL), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "stranger@example.com is not a Maestro user: ask an admin to add you.", decode(t, body)["text"])

		code, body = e.post(t, "/slack/commands", command("UVIEWER", "frobnicate", e.respURL), time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, decode(t, body)["text"], "Usage: `/maestro status TABLE`")

		code, _ = e.post(t, "/slack/commands", command("UVIEWER", "runs", e.respURL), time.Now().Add(-10*time.Minute), signingSecret)
		require.Equal(t, http.StatusUnauthorized, code, "stale")
	})
}

// TestSlackSignaturesAreSlacks checks the signing against others' implementations of Slack's
// scheme: a request Slack signed (the vector of slack-go's own tests) verifies, and what the
// tests sign passes slack-go's verifier.
func TestSlackSignaturesAreSlacks(t *testing.T) {
	t.Parallel()
	const (
		secret = "e6b19c573432dcc6b075501d51b51bb8"
		body   = `{"token":"aF5ynEYQH0dFN9imlgcADxDB","team_id":"XXXXXXXXX","api_app_id":"YYYYYYYYY","event":{"type":"app_mention","user":"AAAAAAAAA","text":"<@EEEEEEEEE> hello world","client_msg_id":"477cc591-ch73-a14z-4db8-g0cd76321bec","ts":"1531431954.000073","channel":"TTTTTTTTT","event_ts":"1531431954.000073"},"type":"event_callback","event_id":"TvBP7LRED7","event_time":1531431954,"authed_users":["EEEEEEEEE"]}`
	)
	h := http.Header{}
	h.Set("X-Slack-Signature", "v0=adada4ed31709aef585c2580ca3267678c6a8eaeb7e0c1aca3ee57b656886b2c")
	h.Set("X-Slack-Request-Timestamp", "1531431954")
	at := time.Unix(1531431954, 0)
	_, err := service.VerifySlack([]byte(secret), h, []byte(body), at.Add(time.Minute))
	require.NoError(t, err)
	_, err = service.VerifySlack([]byte(secret), h, []byte(body+" "), at)
	require.ErrorContains(t, err, "does not match")
	_, err = service.VerifySlack([]byte(secret), h, []byte(body), at.Add(5*time.Minute+time.Second))
	require.ErrorContains(t, err, "stale")

	now := time.Now()
	ts, sig := service.SignSlack([]byte(secret), now, []byte("text=runs"))
	h = http.Header{}
	h.Set("X-Slack-Signature", sig)
	h.Set("X-Slack-Request-Timestamp", ts)
	v, err := slack.NewSecretsVerifier(h, secret)
	require.NoError(t, err)
	_, err = v.Write([]byte("text=runs"))
	require.NoError(t, err)
	require.NoError(t, v.Ensure(), "slack-go accepts what the tests sign")
}
