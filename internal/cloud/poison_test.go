package cloud_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
)

// TestPoisonMessagesAreDeadLetteredAndReported publishes poison tasks and completions —
// malformed, naming an unknown run, naming an unknown node of a real run — to the worker and
// scheduler binaries on the Pub/Sub emulator: each is nacked on every delivery, reaches the
// dead-letter topic after the subscription's max deliveries, and is reported by the scheduler
// (its log names the message id and why; GET /dead-letters counts and lists it), and the worker
// keeps running and still runs real work.
func TestPoisonMessagesAreDeadLetteredAndReported(t *testing.T) {
	requireEmulators(t)
	ctx := context.Background()
	bin := buildServices(t)
	const project = "maestro-poison"

	q, err := pubsubqueue.Open(ctx, project)
	require.NoError(t, err)
	defer q.Close()
	// As deploy/ makes them, with Pub/Sub's fewest deliveries and no backoff so the test is short.
	for _, s := range []struct{ sub, topic, dead string }{
		{engine.TasksSubscription, engine.TasksTopic, engine.TasksDeadLetterTopic},
		{engine.CompletionsSubscription, engine.CompletionsTopic, engine.CompletionsDeadLetterTopic},
	} {
		_, err := q.CreateSubscription(ctx, s.sub, queue.SubscriptionConfig{Topic: s.topic, AckDeadline: 10 * time.Second,
			MaxDeliveries: pubsubqueue.MinMaxDeliveries, DeadLetterTopic: s.dead})
		require.NoError(t, err)
		require.NoError(t, q.CreateDeadLetterSubscription(ctx, s.dead, s.dead))
	}

	st, err := firestorestore.Open(ctx, project)
	require.NoError(t, err)
	defer st.Close()
	realRun := &run.Run{ID: "r-poison-1", State: run.RunRunning, Trigger: run.TriggerManual, CreatedAt: time.Now()}
	require.NoError(t, st.RunCreate(ctx, realRun, []*run.Node{{RunID: realRun.ID, Name: "ds.t", Kind: "query",
		State: run.NodePending, Attempt: 1, MaxAttempts: 1}}))

	env := []string{
		"MAESTRO_PROJECT=" + project,
		"FIRESTORE_EMULATOR_HOST=" + emulators.firestore.Host,
		"PUBSUB_EMULATOR_HOST=" + emulators.pubsub.Host,
		"MAESTRO_BIGQUERY_ENDPOINT=http://127.0.0.1:1",
		"MAESTRO_INSECURE_SKIP_AUTH=true",
		"MAESTRO_SWEEP_EVERY=1s",
		"K_SERVICE=",
	}
	sched, _ := start(t, bin, "scheduler", env)
	worker, _ := start(t, bin, "worker", env)

	publish := func(topic string, data []byte) string {
		m := &queue.Message{Data: data}
		require.NoError(t, q.Topic(topic).Publish(ctx, m))
		return m.ID
	}
	wantTasks := map[string]string{
		publish(engine.TasksTopic, []byte("{not json")):                                                         "malformed",
		publish(engine.TasksTopic, run.EncodeTask(run.Task{RunID: "r-missing", Node: "ds.t", Attempt: 1})):      "unknown run",
		publish(engine.TasksTopic, run.EncodeTask(run.Task{RunID: realRun.ID, Node: "ds.missing", Attempt: 1})): "unknown node",
	}
	wantCompletions := map[string]string{
		publish(engine.CompletionsTopic, []byte(`{"run_id": 7}`)): "malformed",
		publish(engine.CompletionsTopic, run.EncodeCompletion(run.Completion{RunID: "r-missing", Node: "ds.t", Attempt: 1,
			State: run.NodeSucceeded})): "unknown run",
	}

	var report scheduler.DeadLetterReport
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(sched.url + "/dead-letters")
		require.NoError(t, err)
		report = scheduler.DeadLetterReport{}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&report))
		resp.Body.Close()
		if report.Counts[engine.TasksDeadLetterSubscription] >= 3 && report.Counts[engine.CompletionsDeadLetterSubscription] >= 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the poison messages were not dead-lettered within 2 minutes: %+v\nworker:\n%s\nscheduler:\n%s",
			report, worker.output(), sched.output())
		time.Sleep(200 * time.Millisecond)
	}
	require.Equal(t, 3, report.Counts[engine.TasksDeadLetterSubscription])
	require.Equal(t, 2, report.Counts[engine.CompletionsDeadLetterSubscription])
	for _, dl := range report.Recent {
		want := wantTasks
		if dl.Subscription == engine.CompletionsDeadLetterSubscription {
			want = wantCompletions
		}
		// Dead-lettering publishes the message again, under a new id; its data is the same.
		var reason string
		for _, r := range want {
			if strings.HasPrefix(dl.Reason, r) {
				reason = r
			}
		}
		require.NotEmpty(t, reason, "dead letter %+v has an unexpected reason", dl)
		require.Contains(t, sched.output(), `"message_id":"`+dl.MessageID+`"`)
	}
	reasons := map[string]int{}
	for _, dl := range report.Recent {
		reasons[dl.Subscription+": "+strings.SplitN(dl.Reason, ":", 2)[0]]++
	}
	require.Equal(t, map[string]int{
		engine.TasksDeadLetterSubscription + ": malformed": 1, engine.TasksDeadLetterSubscription + ": unknown run": 1,
		engine.TasksDeadLetterSubscription + ": unknown node":    1,
		engine.CompletionsDeadLetterSubscription + ": malformed": 1, engine.CompletionsDeadLetterSubscription + ": unknown run": 1,
	}, reasons)

	// The worker reported each delivery with the message id and why, and is still serving.
	for id, why := range wantTasks {
		require.Contains(t, worker.output(), `"message_id":"`+id+`"`)
		require.Contains(t, worker.output(), `"reason":"`+why)
	}
	resp, err := http.Get(worker.url + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	worker.stop(t)
	sched.stop(t)
}
