package bqfake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// runFaulty runs n queries with distinct job ids through Maestro's BigQuery warehouse (the real
// client) against a server injecting faults, and returns the server and the ids that failed.
func runFaulty(t *testing.T, f bqfake.Faults, n int) (*bqfake.Server, []string) {
	t.Helper()
	ctx := context.Background()
	srv, err := bqfake.New(ctx, nil)
	require.NoError(t, err)
	srv.InjectFaults(f)
	hs := httptest.NewServer(srv)
	w, err := bigquerywarehouse.OpenWithOptions(ctx, project,
		&bigquerywarehouse.Options{PollInitial: 2 * time.Millisecond, PollMax: 20 * time.Millisecond},
		option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, w.Close())
		hs.Close()
		require.NoError(t, srv.Close())
	})
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("job_%d", i)
			_, err := w.Query(ctx, &warehouse.QueryJob{JobID: id, SQL: fmt.Sprintf("SELECT %d AS x", i),
				Destination: sqlref.TableName{Project: project, Dataset: "d", Table: fmt.Sprintf("t%d", i)},
				Labels:      map[string]string{"n": fmt.Sprint(i)}})
			if err == nil {
				return
			}
			var je *warehouse.JobError
			if !errors.As(err, &je) {
				t.Errorf("query %s: %v is not a job error: an injected fault must end as a retryable job failure or not at all", id, err)
				return
			}
			if !je.Retryable {
				t.Errorf("query %s failed for good (%s) from an injected fault", id, je.Reason)
			}
			mu.Lock()
			failed = append(failed, id)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Strings(failed)
	return srv, failed
}

// TestInjectedFaultsAreRetriedOrRetryableAndNoJobRunsTwice: transient 5xx and rate-limit answers
// are retried by the client, lost insert responses end in 409 and an attach, slow jobs are waited
// for; every job's work runs at most once, the job log records each, and the same seed hits the
// same jobs again.
func TestInjectedFaultsAreRetriedOrRetryableAndNoJobRunsTwice(t *testing.T) {
	t.Parallel()
	f := bqfake.Faults{Seed: 7, TransientErrors: 0.1, LostInserts: 0.3, JobFailures: 0.2, SlowJobs: 0.3, SlowJobDelay: 30 * time.Millisecond}
	const n = 30
	srv, failed := runFaulty(t, f, n)

	counts := srv.FaultCounts()
	require.Positive(t, counts.TransientErrors, "%+v", counts)
	require.Positive(t, counts.LostInserts, "%+v", counts)
	require.Positive(t, counts.JobFailures, "%+v", counts)
	require.Positive(t, counts.SlowJobs, "%+v", counts)
	require.Len(t, failed, counts.JobFailures, "exactly the jobs hit by an injected failure failed")

	jobs := srv.Jobs()
	require.Len(t, jobs, n)
	failedSet := map[string]bool{}
	for _, id := range failed {
		failedSet[id] = true
	}
	for _, j := range jobs {
		require.NotEmpty(t, j.Labels["n"], j.ID)
		require.False(t, j.Ended.IsZero(), j.ID)
		if failedSet[j.ID] {
			require.Zero(t, j.Executions, "a job failed by injection runs nothing: %s", j.ID)
			require.False(t, j.Succeeded())
			continue
		}
		require.Equal(t, 1, j.Executions, "job %s ran %d times", j.ID, j.Executions)
		require.True(t, j.Succeeded(), j.ID)
		require.False(t, j.Started.Before(j.Created), j.ID)
	}

	_, again := runFaulty(t, f, n)
	require.Equal(t, failed, again, "the same seed fails the same jobs")
}
