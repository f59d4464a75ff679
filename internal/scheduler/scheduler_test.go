package scheduler_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

type testBundle struct {
	store *sqlitestore.Store
	clock *maestrotest.Clock
	queue *memqueue.Queue
}

func setup(t *testing.T, tables []spec.Table, schedules ...spec.Schedule) *testBundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	for _, tb := range tables {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: tb, User: "test", Create: true})
		require.NoError(t, err)
	}
	for _, s := range schedules {
		require.NoError(t, st.SchedulePut(ctx, s))
	}
	q := memqueue.New(nil)
	t.Cleanup(func() { q.Close() })
	_, err = q.CreateSubscription("tasks-sub", queue.SubscriptionConfig{Topic: "tasks"})
	require.NoError(t, err)
	return &testBundle{store: st, clock: maestrotest.NewClock(time.Date(2026, 6, 1, 5, 0, 0, 0, time.UTC)), queue: q}
}

func (b *testBundle) scheduler() *scheduler.Scheduler {
	return scheduler.New(b.store, b.queue.Topic("tasks"),
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return maestrotest.Graph{}, nil },
		nil, zap.NewNop(), scheduler.Config{Now: b.clock.Now})
}

func (b *testBundle) runs(t *testing.T) []*run.Run {
	t.Helper()
	runs, err := b.store.RunList(context.Background(), &store.RunListParams{})
	require.NoError(t, err)
	return runs
}

var daily = spec.Schedule{Name: "daily", Cron: "0 6 * * *", TimeZone: "UTC"}

func TestTick(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ANewScheduleDoesNotFireForTicksBeforeItExisted", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []spec.Table{{Name: "ds.a", SQL: "SELECT 1", Schedules: []string{"daily"}}}, daily)
		b.clock.Set(time.Date(2026, 6, 1, 23, 0, 0, 0, time.UTC)) // 06:00 passed today, before it was saved
		require.NoError(t, b.scheduler().Tick(ctx))
		require.Empty(t, b.runs(t))
	})

	t.Run("ADueScheduleStartsExactlyOneRunAcrossConcurrentSchedulers", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []spec.Table{{Name: "ds.a", SQL: "SELECT 1", Schedules: []string{"daily"}}}, daily)
		require.NoError(t, b.scheduler().Tick(ctx)) // 05:00: starts counting
		b.clock.Set(time.Date(2026, 6, 1, 6, 0, 1, 0, time.UTC))
		var wg sync.WaitGroup
		for range 4 {
			s := b.scheduler()
			wg.Add(1)
			go func() { defer wg.Done(); require.NoError(t, s.Tick(ctx)) }()
		}
		wg.Wait()
		runs := b.runs(t)
		require.Len(t, runs, 1)
		require.Equal(t, "daily", runs[0].Schedule)
		require.Equal(t, run.TriggerSchedule, runs[0].Trigger)

		require.NoError(t, b.scheduler().Tick(ctx))
		require.Len(t, b.runs(t), 1, "a second tick in the same minute starts nothing")
	})

	t.Run("MissedTicksCoalesceIntoOneRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []spec.Table{{Name: "ds.a", SQL: "SELECT 1", Schedules: []string{"daily"}}}, daily)
		require.NoError(t, b.scheduler().Tick(ctx))
		b.clock.Set(time.Date(2026, 6, 4, 7, 0, 0, 0, time.UTC)) // down for three days
		require.NoError(t, b.scheduler().Tick(ctx))
		require.Len(t, b.runs(t), 1)
	})

	t.Run("SkipsAScheduleWhosePreviousRunIsStillGoing", func(t *testing.T) {
		t.Parallel()
		hourly := spec.Schedule{Name: "hourly", Cron: "0 * * * *"}
		b := setup(t, []spec.Table{{Name: "ds.a", SQL: "SELECT 1", Schedules: []string{"hourly"}}}, hourly)
		require.NoError(t, b.scheduler().Tick(ctx))
		b.clock.Set(time.Date(2026, 6, 1, 6, 0, 1, 0, time.UTC))
		require.NoError(t, b.scheduler().Tick(ctx))
		require.Len(t, b.runs(t), 1)
		b.clock.Set(time.Date(2026, 6, 1, 7, 0, 1, 0, time.UTC)) // nobody ran the first run's node
		require.NoError(t, b.scheduler().Tick(ctx))
		require.Len(t, b.runs(t), 1, "no second run on top of the unfinished one")
	})

	t.Run("IncludesOnlyTablesWhoseConditionsAllowTheFireTime", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []spec.Table{
			{Name: "ds.every_day", SQL: "SELECT 1", Schedules: []string{"daily"}},
			{Name: "ds.mondays", SQL: "SELECT 1", Schedules: []string{"daily"}, Conditions: spec.Conditions{Weekdays: []int{1}}},
			{Name: "ds.first_of_month", SQL: "SELECT 1", Schedules: []string{"daily"}, Conditions: spec.Conditions{Days: []int{1}}},
		}, daily)
		require.NoError(t, b.scheduler().Tick(ctx))
		b.clock.Set(time.Date(2026, 6, 2, 6, 0, 1, 0, time.UTC)) // Tuesday 2 June
		require.NoError(t, b.scheduler().Tick(ctx))
		runs := b.runs(t)
		require.Len(t, runs, 1)
		nodes, err := b.store.NodeList(ctx, runs[0].ID)
		require.NoError(t, err)
		require.Len(t, nodes, 1)
		require.Equal(t, "ds.every_day", nodes[0].Name)
	})
}

func TestStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RefusesAnUnknownTable", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		_, err := b.scheduler().Start(ctx, scheduler.StartParams{Tables: []string{"ds.nope"}, Trigger: run.TriggerManual})
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorContains(t, err, "ds.nope")
	})

	t.Run("SaysWhenAScheduleHasNothingToRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []spec.Table{{Name: "ds.a", SQL: "SELECT 1"}}, daily)
		_, err := b.scheduler().Start(ctx, scheduler.StartParams{Schedule: "daily", Trigger: run.TriggerManual})
		require.ErrorIs(t, err, scheduler.ErrNothingToRun)
		require.Empty(t, b.runs(t))
	})

	t.Run("ResumeRefusesARunThatSucceededOrIsStillGoing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []spec.Table{{Name: "ds.a", SQL: "SELECT 1", Schedules: []string{"daily"}}}, daily)
		s := b.scheduler()
		r, err := s.Start(ctx, scheduler.StartParams{Schedule: "daily", Trigger: run.TriggerManual})
		require.NoError(t, err)
		_, err = s.Resume(ctx, r.ID, "test")
		require.ErrorIs(t, err, store.ErrConflict)
	})
}

// A run finishes the lineage it started before it opens another: with room for one node, the
// node its last success unlocked goes before a root that waited since the run began.
func TestDispatchFinishesStartedLineagesFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tables := []spec.Table{
		{Name: "ds.a", SQL: "SELECT 1"}, {Name: "ds.b", SQL: "SELECT 1"},
		{Name: "ds.c", SQL: "SELECT * FROM ds.a"}, {Name: "ds.d", SQL: "SELECT * FROM ds.c JOIN ds.a USING (x)"},
	}
	b := setup(t, tables)
	graph := maestrotest.Graph{"ds.c": {"ds.a"}, "ds.d": {"ds.a", "ds.c"}}
	sched := scheduler.New(b.store, b.queue.Topic("tasks"),
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return graph, nil },
		nil, zap.NewNop(), scheduler.Config{Now: b.clock.Now, GlobalLimit: 1})
	r, err := sched.Start(ctx, scheduler.StartParams{Tables: []string{"ds.a", "ds.b", "ds.c", "ds.d"}, Trigger: run.TriggerManual})
	require.NoError(t, err)

	nodes, err := b.store.NodeList(ctx, r.ID)
	require.NoError(t, err)
	depths := map[string]int{}
	for _, n := range nodes {
		depths[n.Name] = n.Depth
	}
	require.Equal(t, map[string]int{"ds.a": 0, "ds.b": 0, "ds.c": 1, "ds.d": 2}, depths, "the longest chain above each")

	dispatched := func() []string {
		t.Helper()
		nodes, err := b.store.NodeList(ctx, r.ID)
		require.NoError(t, err)
		var out []string
		for _, n := range nodes {
			if n.State == run.NodeReady && !n.DispatchedAt.IsZero() {
				out = append(out, n.Name)
			}
		}
		return out
	}
	require.Equal(t, []string{"ds.a"}, dispatched(), "two roots, room for one: by name")

	succeed := func(name string) {
		t.Helper()
		n, err := b.store.NodeClaim(ctx, &store.NodeClaimParams{RunID: r.ID, Name: name, Attempt: 1, Lease: "l",
			LeaseExpiresAt: b.clock.Now().Add(time.Minute), JobID: run.JobID(r.ID, name, 1), Now: b.clock.Now()})
		require.NoError(t, err)
		_, _, err = b.store.NodeFinish(ctx, &store.NodeRecordOutcomeParams{RunID: r.ID, Name: name, Attempt: n.Attempt,
			Lease: "l", State: run.NodeSucceeded, Now: b.clock.Now()})
		require.NoError(t, err)
		require.NoError(t, sched.Dispatch(ctx))
	}
	succeed("ds.a")
	require.Equal(t, []string{"ds.c"}, dispatched(), "c, a level down, before the root b")
	succeed("ds.c")
	require.Equal(t, []string{"ds.d"}, dispatched(), "d before b")
	succeed("ds.d")
	require.Equal(t, []string{"ds.b"}, dispatched())
}
