package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// receiver is a webhook endpoint that checks signatures and keeps what it accepted.
type receiver struct {
	key string
	// fail answers 500 to the first fail requests.
	fail int

	mu       sync.Mutex
	requests int
	got      []callback.Payload
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if rc.requests <= rc.fail {
		http.Error(w, "busy", http.StatusInternalServerError)
		return
	}
	if err := callback.Verify([]byte(rc.key), r.Header.Get(callback.SignatureHeader), body, time.Now(), time.Minute); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p callback.Payload
	if err := json.Unmarshal(body, &p); err != nil || r.Header.Get("Maestro-Event") != p.Event {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, p)
}

func (rc *receiver) events() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, p := range rc.got {
		out = append(out, p.Event)
	}
	sort.Strings(out)
	return out
}

func TestWebhooksPostSignedEventsAndRecordEveryAttempt(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	_, err = st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "sales.orders", SQL: "SELECT 1", Owner: "ana@example.com"},
		User: "ana", Create: true})
	require.NoError(t, err)

	all := &receiver{key: "key-all"}
	failures := &receiver{key: "key-failures", fail: 1}
	allSrv, failSrv := httptest.NewServer(all), httptest.NewServer(failures)
	defer allSrv.Close()
	defer failSrv.Close()
	env := map[string]string{"ALL_KEY": "key-all", "FAILURES_KEY": "key-failures"}
	client := callback.New(callback.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond})
	hooks := notify.NewWebhooks(client, []spec.Webhook{
		{URL: allSrv.URL + "/all", SecretRef: "env:ALL_KEY"},
		{URL: failSrv.URL + "/failures?token=t0p", SecretRef: "env:FAILURES_KEY", Events: []string{callback.EventTableFailed}},
		{URL: allSrv.URL + "/unkeyed", SecretRef: "env:MISSING_KEY"},
	}, st, zap.NewNop(), notify.WebhooksConfig{Resolve: secret.Resolver{Getenv: func(k string) string { return env[k] }}.Resolve,
		// cost.Anomalies is tested in internal/cost; here, what a jump becomes.
		CostJumps: func(_ context.Context, r *run.Run, _ []*run.Node) ([]cost.Anomaly, error) {
			return []cost.Anomaly{{Table: "sales.daily", USD: 12.5, MedianUSD: 2.5, Runs: 4}}, nil
		}})

	created := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	r := &run.Run{ID: "r1", Schedule: "daily", Trigger: run.TriggerSchedule, State: run.RunRunning, CreatedAt: created}
	hooks.RunStarted(ctx, r)
	failed := &run.Node{RunID: "r1", Name: "sales.orders", State: run.NodeFailed, Attempt: 3, MaxAttempts: 3,
		JobID: "maestro_r1_sales-orders_a3", Error: "Syntax error: Unexpected keyword FROM at [1:8]", FinishedAt: created.Add(time.Minute)}
	hooks.NodeFailed(ctx, r, failed)
	hooks.NodeFailed(ctx, r, failed) // told twice: completions are at least once
	r.State, r.FinishedAt = run.RunFailed, created.Add(2*time.Minute)
	r.Counts = map[run.NodeState]int{run.NodeFailed: 1, run.NodeSkipped: 2}
	hooks.RunFinished(ctx, r, []*run.Node{failed, {Name: "sales.daily", State: run.NodeSkipped}})
	hooks.Wait()

	require.Equal(t, []string{"run.failed", "run.started", "table.cost_jump", "table.failed", "table.failed"}, all.events(),
		"the keyless target sent nothing; the repeat carries the same id for the receiver to drop")
	require.Equal(t, []string{"table.failed", "table.failed"}, failures.events(), "a target gets only its events")
	var tableFailed, runFailed, jump callback.Payload
	for _, p := range all.got {
		switch p.Event {
		case callback.EventTableCostJump:
			jump = p
		case callback.EventTableFailed:
			tableFailed = p
		case callback.EventRunFailed:
			runFailed = p
		}
	}
	require.Equal(t, "maestro_r1_sales-orders_a3_table.failed", tableFailed.ID)
	require.Equal(t, "sales.orders", tableFailed.Table)
	require.Equal(t, &callback.NodeInfo{Attempt: 3, MaxAttempts: 3, JobID: "maestro_r1_sales-orders_a3",
		Error: "Syntax error: Unexpected keyword FROM at [1:8]", Owner: "ana@example.com"}, tableFailed.Node)
	require.Equal(t, &callback.RunInfo{State: "failed", Schedule: "daily", Trigger: "schedule", CreatedAt: created,
		FinishedAt: created.Add(2 * time.Minute), Counts: map[string]int{"failed": 1, "skipped": 2}, Failed: []string{"sales.orders"}}, runFailed.Run)

	require.Equal(t, "maestro_r1_sales-daily_table.cost_jump", jump.ID)
	require.Equal(t, "sales.daily", jump.Table)
	require.Equal(t, &callback.CostInfo{USD: 12.5, MedianUSD: 2.5, Runs: 4}, jump.Cost)

	deliveries, err := st.DeliveryList(ctx, "r1")
	require.NoError(t, err)
	var toFailures []*store.Delivery
	for _, d := range deliveries {
		require.NotContains(t, d.URL, "t0p", "a receiver's token stays out of records")
		if d.URL == failSrv.URL+"/failures" {
			toFailures = append(toFailures, d)
		}
	}
	require.Len(t, deliveries, 5+3, "every attempt to both receivers is recorded")
	var attempts []string
	for _, d := range toFailures {
		attempts = append(attempts, fmt.Sprintf("attempt %d: %d", d.Attempt, d.StatusCode))
	}
	sort.Strings(attempts)
	require.Equal(t, []string{"attempt 1: 200", "attempt 1: 500", "attempt 2: 200"}, attempts,
		"the first delivery was refused once and retried; the repeat went through at once")
}
