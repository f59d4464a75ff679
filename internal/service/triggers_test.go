package service_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

type triggerEnv struct {
	st  store.Store
	srv *httptest.Server
	ed  client // editor of finance
}

func newTriggerEnv(t *testing.T) *triggerEnv {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	for _, tb := range []spec.Table{
		{Name: "fin.base", Kind: "query", SQL: "SELECT 1 AS x", Group: "finance"},
		{Name: "fin.revenue", Kind: "query", SQL: "SELECT x FROM fin.base", Group: "finance"},
	} {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: tb, User: "fixture", Create: true})
		require.NoError(t, err)
	}
	q := memqueue.New(nil)
	t.Cleanup(func() { q.Close() })
	_, err := q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "tasks"})
	require.NoError(t, err)
	sched := scheduler.New(st, q.Topic("tasks"), scheduler.ProjectGraph("", ""), nil, zap.NewNop(), scheduler.Config{})
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{TriggerKey: []byte("server-trigger-key")}))
	t.Cleanup(srv.Close)
	return &triggerEnv{st: st, srv: srv,
		ed: client{t: t, base: srv.URL + service.APIPrefix, token: userToken(t, st, "finance@example.com", "editor", "finance")}}
}

// deliver posts body to a trigger URL signed with secret at time at, as another system would.
func (e *triggerEnv) deliver(t *testing.T, path, secret, body, key string, at time.Time) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(callback.SignatureHeader, callback.Sign([]byte(secret), at, []byte(body)))
	if key != "" {
		req.Header.Set(service.IdempotencyKeyHeader, key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func (e *triggerEnv) create(t *testing.T, body map[string]any) (id, path, secret string) {
	t.Helper()
	code, hdr, out := e.ed.do("POST", "/triggers", body)
	require.Equal(t, http.StatusCreated, code, out)
	require.Equal(t, service.APIPrefix+"/triggers/"+out["id"].(string), hdr.Get("Location"))
	require.Len(t, out["secret"], 64, "the secret is shown on creation")
	return out["id"].(string), out["path"].(string), out["secret"].(string)
}

func TestTriggers(t *testing.T) {
	t.Parallel()

	t.Run("ASignedDeliveryStartsARunAndIsRecorded", func(t *testing.T) {
		t.Parallel()
		e := newTriggerEnv(t)
		id, path, secret := e.create(t, map[string]any{"table": "fin.base", "downstream": true})
		require.Equal(t, service.APIPrefix+"/hooks/"+id, path)

		code, _, out := e.ed.do("GET", "/triggers", nil)
		require.Equal(t, http.StatusOK, code)
		require.Len(t, out["triggers"], 1)
		tr := out["triggers"].([]any)[0].(map[string]any)
		require.NotContains(t, tr, "secret", "a secret is shown once, never listed")
		require.Equal(t, "finance@example.com", tr["created_by"])

		code, body := e.deliver(t, path, secret, `{"landed":"orders","rows":1200}`, "batch-2026-11-26", time.Now())
		require.Equal(t, http.StatusAccepted, code, body)
		require.Contains(t, body, `"outcome":"accepted"`)
		runs := runsOf(t, e.st)
		require.Len(t, runs, 1)
		require.Equal(t, run.TriggerWebhook, runs[0].Trigger)
		require.Equal(t, "trigger:"+id+" from 127.0.0.1", runs[0].CreatedBy, "audited: which trigger, from where")
		nodes, err := e.st.NodeList(context.Background(), runs[0].ID)
		require.NoError(t, err)
		require.Len(t, nodes, 2, "the table and its downstream")
	})

	t.Run("ARetriedDeliveryWithTheSameKeyStartsOneRun", func(t *testing.T) {
		t.Parallel()
		e := newTriggerEnv(t)
		id, path, secret := e.create(t, map[string]any{"table": "fin.base"})
		code, first := e.deliver(t, path, secret, `{"landed":"orders"}`, "k-1", time.Now())
		require.Equal(t, http.StatusAccepted, code, first)
		// The sender retries (re-signed, as callbacks are) after a timeout it saw.
		code, second := e.deliver(t, path, secret, `{"landed":"orders"}`, "k-1", time.Now().Add(time.Second))
		require.Equal(t, http.StatusOK, code, second)
		require.Contains(t, second, `"outcome":"duplicate"`)
		runs := runsOf(t, e.st)
		require.Len(t, runs, 1, "exactly one run")
		require.Contains(t, first, runs[0].ID)
		require.Contains(t, second, runs[0].ID, "the duplicate names the run its key started")

		// Eight deliveries of one new key at once, as retries racing on several instances.
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = e.deliver(t, path, secret, `{}`, "k-2", time.Now())
			}()
		}
		wg.Wait()
		accepted := 0
		for _, c := range codes {
			require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, c)
			if c == http.StatusAccepted {
				accepted++
			}
		}
		require.Equal(t, 1, accepted, "one of the racing deliveries starts the run: %v", codes)
		require.Len(t, runsOf(t, e.st), 2, "one run per key")

		code, _, out := e.ed.do("GET", "/triggers/"+id+"/deliveries", nil)
		require.Equal(t, http.StatusOK, code)
		ds := out["deliveries"].([]any)
		require.Len(t, ds, 10, "every delivery is recorded")
		outcomes := map[string]int{}
		for _, d := range ds {
			outcomes[d.(map[string]any)["outcome"].(string)]++
			require.Equal(t, "127.0.0.1", d.(map[string]any)["remote"])
		}
		require.Equal(t, map[string]int{"accepted": 2, "duplicate": 8}, outcomes)
	})

	t.Run("BadStaleAndReplayedDeliveriesAreRefusedAndRecorded", func(t *testing.T) {
		t.Parallel()
		e := newTriggerEnv(t)
		id, path, secret := e.create(t, map[string]any{"table": "fin.base"})
		_, _, otherSecret := e.create(t, map[string]any{"table": "fin.revenue"})

		code, body := e.deliver(t, path, otherSecret, `{}`, "", time.Now())
		require.Equal(t, http.StatusUnauthorized, code, "another trigger's secret")
		require.Contains(t, body, "the signature does not verify")
		code, body = e.deliver(t, path, secret, `{}`, "", time.Now().Add(-10*time.Minute))
		require.Equal(t, http.StatusUnauthorized, code, "stale")
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "unsigned")
		require.Empty(t, runsOf(t, e.st), "nothing refused started a run")

		// Without an Idempotency-Key, the very same signed request is accepted once.
		at := time.Now()
		code, body = e.deliver(t, path, secret, `{"n":1}`, "", at)
		require.Equal(t, http.StatusAccepted, code, body)
		code, body = e.deliver(t, path, secret, `{"n":1}`, "", at)
		require.Equal(t, http.StatusConflict, code, body)
		require.Contains(t, body, "received already")
		require.Len(t, runsOf(t, e.st), 1)

		code, _, out := e.ed.do("GET", "/triggers/"+id+"/deliveries", nil)
		require.Equal(t, http.StatusOK, code)
		var reasons []string
		for _, d := range out["deliveries"].([]any) {
			m := d.(map[string]any)
			reasons = append(reasons, m["outcome"].(string)+": "+firstWords(m["reason"]))
		}
		require.Equal(t, []string{
			"refused: this signed delivery",
			"accepted: ",
			"refused: the delivery is",
			"refused: the signature does",
			"refused: the signature does",
		}, reasons, "newest first, each with why")
		code, _, _ = e.ed.do("GET", "/triggers/t-none/deliveries", nil)
		require.Equal(t, http.StatusNotFound, code)
	})

	t.Run("OnlyTheTablesEditorsMakeRotateAndDeleteItsTriggers", func(t *testing.T) {
		t.Parallel()
		e := newTriggerEnv(t)
		other := client{t: t, base: e.ed.base, token: userToken(t, e.st, "marketing@example.com", "editor", "marketing")}
		code, _, out := other.do("POST", "/triggers", map[string]any{"table": "fin.base"})
		require.Equal(t, http.StatusForbidden, code, out)
		code, _, out = e.ed.do("POST", "/triggers", map[string]any{"schedule": "daily"})
		require.Equal(t, http.StatusForbidden, code, "a schedule's trigger is an admin's")
		require.Contains(t, out["detail"], "needs the admin role")
		code, _, out = e.ed.do("POST", "/triggers", map[string]any{"table": "fin.nope"})
		require.Equal(t, http.StatusUnprocessableEntity, code, out)
		code, _, _ = e.ed.do("POST", "/triggers", map[string]any{"table": "fin.base", "schedule": "daily"})
		require.Equal(t, http.StatusUnprocessableEntity, code)

		id, path, secret := e.create(t, map[string]any{"table": "fin.base"})
		code, _, _ = other.do("POST", "/triggers/"+id+"/rotate", nil)
		require.Equal(t, http.StatusForbidden, code)
		code, _, out = e.ed.do("POST", "/triggers/"+id+"/rotate", nil)
		require.Equal(t, http.StatusOK, code, out)
		rotated := out["secret"].(string)
		require.NotEqual(t, secret, rotated)
		code, _ = e.deliver(t, path, secret, `{}`, "k0", time.Now())
		require.Equal(t, http.StatusUnauthorized, code, "the old secret stopped working")
		code, _ = e.deliver(t, path, rotated, `{}`, "k0", time.Now())
		require.Equal(t, http.StatusAccepted, code, "the new one works")
		require.Len(t, runsOf(t, e.st), 1)
		secret = rotated

		code, _, _ = other.do("DELETE", "/triggers/"+id, nil)
		require.Equal(t, http.StatusForbidden, code)
		code, _, _ = e.ed.do("DELETE", "/triggers/"+id, nil)
		require.Equal(t, http.StatusNoContent, code)
		code, _ = e.deliver(t, path, secret, `{}`, "k", time.Now())
		require.Equal(t, http.StatusNotFound, code, "a deleted trigger starts nothing")
		require.Len(t, runsOf(t, e.st), 1)
	})
}

func firstWords(v any) string {
	s, _ := v.(string)
	w := strings.Fields(s)
	if len(w) > 3 {
		w = w[:3]
	}
	return strings.Join(w, " ")
}

func TestTriggerSecretDependsOnKeyIDAndGeneration(t *testing.T) {
	t.Parallel()
	a := service.TriggerSecret([]byte("k"), "t-1", 1)
	require.Len(t, a, 64)
	require.Equal(t, a, service.TriggerSecret([]byte("k"), "t-1", 1))
	require.NotEqual(t, a, service.TriggerSecret([]byte("k"), "t-1", 2), "a new generation is a new secret")
	require.NotEqual(t, a, service.TriggerSecret([]byte("k"), "t-2", 1))
	require.NotEqual(t, a, service.TriggerSecret([]byte("other"), "t-1", 1))
}
