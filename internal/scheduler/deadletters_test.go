package scheduler_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// TestDeadLettersReportEachMessageWithWhy: every dead-lettered task and completion is logged at
// error level with its message id and reason and counted by subscription, and the handler acks
// (returns nil) even for garbage, so a report is made once.
func TestDeadLettersReportEachMessageWithWhy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	r := &run.Run{ID: "r1", State: run.RunRunning, Trigger: run.TriggerManual, CreatedAt: time.Now()}
	require.NoError(t, st.RunCreate(ctx, r, []*run.Node{{RunID: r.ID, Name: "ds.t", Kind: "query", State: run.NodeReady, Attempt: 1, MaxAttempts: 1}}))
	core, logs := observer.New(zap.InfoLevel)
	dl := scheduler.NewDeadLetters(st, zap.New(core))
	tasks, completions := dl.Handler("tasks-dead", false), dl.Handler("completions-dead", true)

	deliver := func(h queue.Handler, id string, data []byte) {
		require.NoError(t, h(ctx, &queue.Message{ID: id, Data: data}), "a dead letter is acked once reported")
	}
	deliver(tasks, "m1", []byte("\x00not json"))
	deliver(tasks, "m2", run.EncodeTask(run.Task{RunID: "r-missing", Node: "ds.t", Attempt: 1}))
	deliver(tasks, "m3", run.EncodeTask(run.Task{RunID: "r1", Node: "ds.missing", Attempt: 1}))
	deliver(tasks, "m4", run.EncodeTask(run.Task{RunID: "r1", Node: "ds.t", Attempt: 1}))
	deliver(completions, "m5", []byte(`[]`))

	rep := dl.Report()
	require.Equal(t, map[string]int{"tasks-dead": 4, "completions-dead": 1}, rep.Counts)
	why := map[string]string{}
	for _, d := range rep.Recent {
		why[d.MessageID] = d.Reason
	}
	require.Contains(t, why["m1"], "malformed")
	require.Equal(t, "unknown run", why["m2"])
	require.Equal(t, "unknown node", why["m3"])
	require.Equal(t, "not handled within the subscription's deliveries", why["m4"])
	require.Contains(t, why["m5"], "malformed")

	logged := logs.FilterMessage("dead-lettered message").All()
	require.Len(t, logged, 5)
	for _, e := range logged {
		require.Equal(t, zap.ErrorLevel, e.Level)
		fields := e.ContextMap()
		require.Equal(t, why[fields["message_id"].(string)], fields["reason"])
	}
}
