package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// recorder is a FailureNotifier that records what it was told, in order.
type recorder struct {
	mu   sync.Mutex
	told []string
}

func (r *recorder) NodeFailed(_ context.Context, rn *run.Run, n *run.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.told = append(r.told, "failed "+n.Name+" "+n.Error)
}

func (r *recorder) RunFinished(_ context.Context, rn *run.Run, _ []*run.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.told = append(r.told, "finished "+string(rn.State))
}

func TestFailureIsToldWhenItsCompletionArrives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, []spec.Table{{Name: "ds.a", SQL: "SELECT 1"}, {Name: "ds.b", SQL: "SELECT 1"}})
	rec := &recorder{}
	s := scheduler.New(b.store, b.queue.Topic("tasks"),
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return maestrotest.Graph{}, nil },
		rec, zap.NewNop(), scheduler.Config{Now: b.clock.Now})
	r, err := s.Start(ctx, scheduler.StartParams{Tables: []string{"ds.a", "ds.b"}, Trigger: run.TriggerManual})
	require.NoError(t, err)

	finish := func(name string, state run.NodeState, msg string) run.Completion {
		n, err := b.store.NodeClaim(ctx, &store.NodeClaimParams{RunID: r.ID, Name: name, Attempt: 1, Lease: "l-" + name,
			LeaseExpiresAt: b.clock.Now().Add(time.Minute), Now: b.clock.Now()})
		require.NoError(t, err)
		_, res, err := b.store.NodeFinish(ctx, &store.NodeRecordOutcomeParams{RunID: r.ID, Name: name, Attempt: n.Attempt,
			Lease: "l-" + name, State: state, Error: msg, Now: b.clock.Now()})
		require.NoError(t, err)
		return run.Completion{RunID: r.ID, Node: name, Attempt: 1, State: state, Propagated: true, RunDone: res.RunDone}
	}
	handle := func(c run.Completion) {
		require.NoError(t, s.HandleCompletion(ctx, &queue.Message{Data: run.EncodeCompletion(c)}))
	}

	handle(finish("ds.a", run.NodeFailed, "boom"))
	require.Equal(t, []string{"failed ds.a boom"}, rec.told, "told at once, before the run ends")
	handle(finish("ds.b", run.NodeSucceeded, ""))
	require.Equal(t, []string{"failed ds.a boom", "finished failed"}, rec.told)
}
