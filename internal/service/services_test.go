package service_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

func TestTick(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	_, err = st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "ds.a", SQL: "SELECT 1", Kind: "query",
		Schedules: []string{"every-minute"}}, User: "t", Create: true})
	require.NoError(t, err)
	require.NoError(t, st.SchedulePut(ctx, spec.Schedule{Name: "every-minute", Cron: "* * * * *"}))
	// The schedule fired long ago: it is due.
	require.NoError(t, st.ScheduleFire(ctx, "every-minute", time.Time{}, time.Now().Add(-time.Hour)))
	q := memqueue.New(nil)
	defer q.Close()
	sched := scheduler.New(st, q.Topic("tasks"), func(context.Context, []spec.Table) (scheduler.Graph, error) {
		return maestrotest.Graph{"ds.a": nil}, nil
	}, nil, zap.NewNop(), scheduler.Config{})

	var allowed atomic.Bool
	h, _ := service.SchedulerService(sched, zap.NewNop(), service.SchedulerConfig{
		TickAuth: func(r *http.Request) error {
			if !allowed.Load() {
				return errors.New("not the scheduler job's account")
			}
			return nil
		},
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	tick := func() int {
		resp, err := http.Post(srv.URL+"/tick", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	require.Equal(t, http.StatusForbidden, tick())
	runs, err := st.RunList(ctx, &store.RunListParams{})
	require.NoError(t, err)
	require.Empty(t, runs, "a refused tick starts nothing")

	allowed.Store(true)
	require.Equal(t, http.StatusOK, tick())
	runs, err = st.RunList(ctx, &store.RunListParams{})
	require.NoError(t, err)
	require.Len(t, runs, 1, "the due schedule started a run")
	require.Equal(t, run.TriggerSchedule, runs[0].Trigger)

	resp, err := http.Get(srv.URL + "/tick")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "a GET changes nothing")
}

func TestServeFinishesRunningRequestsOnShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	loopStopped := make(chan struct{})
	loop := func(ctx context.Context) error {
		<-ctx.Done()
		close(loopStopped)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- service.Serve(ctx, "127.0.0.1:0", mux, loop, zap.NewNop(), func(addr string) { addrc <- addr })
	}()
	addr := <-addrc

	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	<-entered
	cancel() // SIGTERM
	// New connections are refused while the running request finishes.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	close(release)
	require.Equal(t, http.StatusOK, <-got, "the request running at shutdown was answered")
	require.NoError(t, <-served)
	<-loopStopped
}
