package external_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/external"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

type fixture struct {
	bucket *localblob.Bucket
	wh     *duckdbwarehouse.Warehouse
	ex     *external.Executor
}

// newFixture wires the executor to a real local bucket and a DuckDB warehouse loading from it,
// as maestro dev does.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	b, err := localblob.Open(filepath.Join(t.TempDir(), "objects"))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	wh, err := duckdbwarehouse.Open(ctx, filepath.Join(t.TempDir(), "wh"), &duckdbwarehouse.Options{DefaultProject: "acme", FilesDir: b.Dir()})
	require.NoError(t, err)
	t.Cleanup(func() { wh.Close() })
	return &fixture{bucket: b, wh: wh, ex: &external.Executor{
		Bucket: b, URI: func(key string) string { return "gs://local/" + key }, Warehouse: wh,
		DefaultProject: "acme", DefaultDataset: "ext", PollEvery: 5 * time.Millisecond,
	}}
}

func (f *fixture) put(t *testing.T, key, data string) {
	t.Helper()
	require.NoError(t, f.bucket.Write(context.Background(), key, strings.NewReader(data)))
}

func (f *fixture) query(t *testing.T, sql string) [][]any {
	t.Helper()
	rows, err := f.wh.Read(context.Background(), sql, sqlref.Options{DefaultProject: "acme"}, 100)
	require.NoError(t, err)
	return rows.Values
}

func csvTable(timeout time.Duration) spec.Table {
	return spec.Table{Name: "ext.partner", Kind: external.Kind, Disposition: spec.DispositionTruncate,
		External: &spec.External{Format: "csv", Timeout: timeout, Header: true}}
}

type result struct {
	stats run.Stats
	err   error
}

func (f *fixture) start(ctx context.Context, jobID string, tb spec.Table, runID string) <-chan result {
	done := make(chan result, 1)
	go func() {
		st, err := f.ex.Execute(ctx, jobID, tb, &run.Node{RunID: runID, Name: tb.Name, Kind: external.Kind, Attempt: 1})
		done <- result{st, err}
	}()
	return done
}

func TestExecutorLoadsOnceTheUploadIsMarkedReady(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tb := csvTable(time.Hour)
	done := f.start(ctx, "job_1", tb, "r1")

	// The file arrives, but nothing is loaded before the uploader says it is complete: a
	// half-written multi-part upload must never be read.
	f.put(t, external.DataKey("r1", "ext.partner", "csv"), "id,name\n1,ann\n2,bob\n3,\"c, d\"\n")
	for range 20 {
		_, err := f.bucket.Read(ctx, external.StartedKey("r1", "ext.partner"))
		if err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // ten polls: long enough for a wrong executor to show itself
	select {
	case r := <-done:
		t.Fatalf("the executor returned before the upload was marked ready: %+v", r)
	default:
	}
	_, err := f.wh.Table(ctx, sqlref.TableName{Project: "acme", Dataset: "ext", Table: "partner"})
	require.ErrorIs(t, err, warehouse.ErrNotFound)

	require.NoError(t, external.MarkReady(ctx, f.bucket, "r1", "ext.partner", time.Now()))
	r := <-done
	require.NoError(t, r.err)
	require.EqualValues(t, 3, r.stats.Rows, "the header is not a row")
	require.Equal(t, [][]any{{int64(1), "ann"}, {int64(2), "bob"}, {int64(3), "c, d"}},
		f.query(t, "SELECT id, name FROM ext.partner ORDER BY id"))
}

func TestExecutorLoadsJSONWithASchema(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tb := spec.Table{Name: "ext.feed", Kind: external.Kind, External: &spec.External{Format: "json", Timeout: time.Hour,
		Schema: []spec.Column{{Name: "id", Type: "INT64"}, {Name: "amount", Type: "FLOAT64"}}}}
	f.put(t, external.DataKey("r2", "ext.feed", "json"), `{"id": 1, "amount": 2.5}`+"\n"+`{"id": 2, "amount": 4}`+"\n")
	require.NoError(t, external.MarkReady(ctx, f.bucket, "r2", "ext.feed", time.Now()))
	r := <-f.start(ctx, "job_2", tb, "r2")
	require.NoError(t, r.err)
	require.Equal(t, [][]any{{6.5}}, f.query(t, "SELECT SUM(amount) FROM ext.feed"))
}

func TestExecutorTimesOutWithAClearPermanentError(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := <-f.start(context.Background(), "job_3", csvTable(30*time.Millisecond), "r3")
	var je *warehouse.JobError
	require.ErrorAs(t, r.err, &je)
	require.False(t, je.Retryable, "waiting again would only wait past the timeout")
	require.Equal(t, "timeout", je.Reason)
	require.Contains(t, je.Message, "no upload for ext.partner within 30ms (run r3)")
}

// A retry, or a worker taking over from one that crashed, waits on the same clock: the
// timeout counts from the run's first wait, not from the attempt.
func TestExecutorKeepsTheClockAcrossAttempts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first := time.Now().Add(-3 * time.Hour).UTC()
	f.put(t, external.StartedKey("r4", "ext.partner"), first.Format(time.RFC3339Nano))

	r := <-f.start(ctx, "job_4_a2", csvTable(2*time.Hour), "r4")
	var je *warehouse.JobError
	require.ErrorAs(t, r.err, &je)
	require.Contains(t, je.Message, "no upload for ext.partner within 2h0m0s")
	at, ok, err := external.Started(ctx, f.bucket, "r4", "ext.partner")
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, first.Equal(at), "the first wait's time is kept, not %s", at)

	// With time left, an upload made before this attempt started is loaded at once.
	f.put(t, external.StartedKey("r5", "ext.partner"), time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano))
	f.put(t, external.DataKey("r5", "ext.partner", "csv"), "id\n7\n")
	require.NoError(t, external.MarkReady(ctx, f.bucket, "r5", "ext.partner", time.Now()))
	r = <-f.start(ctx, "job_5_a2", csvTable(2*time.Hour), "r5")
	require.NoError(t, r.err)
	require.EqualValues(t, 1, r.stats.Rows)
}

func TestExecutorStopsWaitingWhenCancelled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := f.start(ctx, "job_6", csvTable(time.Hour), "r6")
	cancel()
	r := <-done
	require.True(t, errors.Is(r.err, context.Canceled), "got %v", r.err)
	var je *warehouse.JobError
	require.False(t, errors.As(r.err, &je), "a cancelled wait is not a failed job")
}

func TestExecutorLoadErrorsComeFromTheWarehouse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tb := csvTable(time.Hour)
	tb.External.Schema = []spec.Column{{Name: "id", Type: "INT64"}}
	f.put(t, external.DataKey("r7", "ext.partner", "csv"), "id\nnot-a-number\n")
	require.NoError(t, external.MarkReady(ctx, f.bucket, "r7", "ext.partner", time.Now()))
	r := <-f.start(ctx, "job_7", tb, "r7")
	var je *warehouse.JobError
	require.ErrorAs(t, r.err, &je, "a file that does not load fails the job: %v", r.err)
	require.Equal(t, "job_7", je.JobID)
}
