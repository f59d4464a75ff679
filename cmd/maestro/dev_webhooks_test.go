package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/maestrotest"
)

// TestDevWebhooks: a run with a failing table tells the project's webhook that it started, that
// the table failed (owner named) and that the run failed, each message signed with the webhook's key.
func TestDevWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []callback.Payload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := callback.Verify([]byte("hook-key"), r.Header.Get(callback.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p callback.Payload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	defer hook.Close()
	t.Setenv("MAESTRO_TEST_WEBHOOK_KEY", "hook-key")

	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: shop\ndefault_dataset: marts\ndefault_schedule: daily\ndefault_retries: 0\n" +
			"schedules:\n  - name: daily\n    cron: \"0 6 * * *\"\n" +
			"notify:\n  webhooks:\n    - url: " + hook.URL + "/maestro\n      secret: env:MAESTRO_TEST_WEBHOOK_KEY\n",
		"marts/good.sql":  "SELECT 1 AS x",
		"marts/bad.sql":   "SELECT x FROM marts.good WHERE CAST('nope' AS INT64) = 1",
		"marts/bad.yaml":  "owner: ana@example.com\n",
		"marts/after.sql": "SELECT * FROM marts.bad",
	})
	var out, logs bytes.Buffer
	err := runDev(context.Background(), project, devFlags{once: true, stateDir: filepath.Join(t.TempDir(), "state"), logFormat: "json"}, &out, &logs)
	require.Error(t, err, "the run failed")

	mu.Lock()
	defer mu.Unlock()
	events := map[string]callback.Payload{}
	var names []string
	for _, p := range got {
		events[p.Event] = p
		names = append(names, p.Event)
	}
	sort.Strings(names)
	require.Equal(t, []string{"run.failed", "run.started", "table.failed"}, names, logs.String())
	require.Equal(t, "marts.bad", events["table.failed"].Table)
	require.Equal(t, "ana@example.com", events["table.failed"].Node.Owner)
	require.Contains(t, events["table.failed"].Node.Error, "nope")
	require.Equal(t, []string{"marts.bad"}, events["run.failed"].Run.Failed)
	require.Equal(t, map[string]int{"succeeded": 1, "failed": 1, "skipped": 1}, events["run.failed"].Run.Counts)
	require.Equal(t, events["run.started"].RunID, events["run.failed"].RunID)
}
