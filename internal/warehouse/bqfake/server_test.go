package bqfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

const project = "fake-project-1"

type testBundle struct {
	srv    *bqfake.Server
	url    string
	client *bigquery.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	srv, err := bqfake.New(ctx, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	client, err := bigquery.NewClient(ctx, project, option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.Close()
		hs.Close()
		require.NoError(t, srv.Close())
	})
	return &testBundle{srv: srv, url: hs.URL, client: client}
}

// post sends a raw REST call and returns the status and decoded body.
func (b *testBundle) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func queryJobBody(id, sql string) map[string]any {
	return map[string]any{
		"jobReference":  map[string]any{"projectId": project, "jobId": id},
		"configuration": map[string]any{"query": map[string]any{"query": sql, "useLegacySql": false}},
	}
}

func TestDuplicateJobIDIs409AsBigQueryAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	code, _ := b.do(t, http.MethodPost, "/projects/"+project+"/jobs", queryJobBody("j1", "SELECT 1 AS x"))
	require.Equal(t, http.StatusOK, code)
	code, body := b.do(t, http.MethodPost, "/bigquery/v2/projects/"+project+"/jobs", queryJobBody("j1", "SELECT 2 AS x"))
	require.Equal(t, http.StatusConflict, code)
	require.Equal(t, map[string]any{"error": map[string]any{
		"code":    float64(409),
		"message": "Already Exists: Job fake-project-1:US.j1",
		"status":  "ALREADY_EXISTS",
		"errors": []any{map[string]any{
			"domain": "global", "reason": "duplicate", "message": "Already Exists: Job fake-project-1:US.j1",
		}},
	}}, body)
	code, body = b.do(t, http.MethodGet, "/projects/"+project+"/queries/j1?maxResults=0", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, true, body["jobComplete"], "getQueryResults waits for the job")
	require.Equal(t, 1, b.srv.Executions("j1"))

	// The real client sees a *googleapi.Error with code 409.
	q := b.client.Query("SELECT 1 AS x")
	q.JobID = "j1"
	_, err := q.Run(context.Background())
	var ge *googleapi.Error
	require.True(t, errors.As(err, &ge), "%T %v", err, err)
	require.Equal(t, http.StatusConflict, ge.Code)
	require.Equal(t, "duplicate", ge.Errors[0].Reason)
}

func TestFailedQueryIsAnHTTPErrorOfGetQueryResultsAndAStatusOfJobsGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for reason, code := range map[string]int{
		"rateLimitExceeded": 403, "backendError": 500, "internalError": 500,
		"invalidQuery": 400, "notFound": 404, "accessDenied": 403,
	} {
		id := "f_" + reason
		b.srv.Script(bqfake.Script{JobID: id, Fail: &bqfake.Failure{Reason: reason, Message: "boom " + reason}})
		got, _ := b.do(t, http.MethodPost, "/projects/"+project+"/jobs", queryJobBody(id, "SELECT 1 AS x"))
		require.Equal(t, http.StatusOK, got, "the insert succeeds; the job fails")

		got, body := b.do(t, http.MethodGet, "/projects/"+project+"/queries/"+id+"?maxResults=0", nil)
		require.Equal(t, code, got, reason)
		require.Equal(t, reason, body["error"].(map[string]any)["errors"].([]any)[0].(map[string]any)["reason"])

		got, body = b.do(t, http.MethodGet, "/projects/"+project+"/jobs/"+id, nil)
		require.Equal(t, http.StatusOK, got)
		status := body["status"].(map[string]any)
		require.Equal(t, "DONE", status["state"])
		require.Equal(t, map[string]any{"reason": reason, "message": "boom " + reason}, status["errorResult"])
	}

	// Through the real client: Job.Wait reports a non-retryable failure as its error, as with BigQuery.
	q := b.client.Query("SELECT 1 AS x")
	q.JobID = "f_client"
	b.srv.Script(bqfake.Script{JobID: "f_client", Fail: &bqfake.Failure{Reason: "invalidQuery", Message: "bad"}})
	j, err := q.Run(context.Background())
	require.NoError(t, err)
	_, err = j.Wait(context.Background())
	var ge *googleapi.Error
	require.True(t, errors.As(err, &ge), "%T %v", err, err)
	require.Equal(t, 400, ge.Code)
}

func TestClientRunsQueriesAndReadsRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	sql := "SELECT 1 AS i, 1.5 AS f, 'x' AS s, TRUE AS ok, DATE '2024-01-31' AS d, " +
		"TIMESTAMP '2024-01-31 10:00:00' AS ts, [1, 2] AS arr, CAST(NULL AS STRING) AS n"

	type row struct {
		I   int64
		F   float64
		S   string
		OK  bool
		D   civil.Date
		TS  time.Time
		Arr []int64
		N   bigquery.NullString
	}
	want := row{I: 1, F: 1.5, S: "x", OK: true, D: civil.Date{Year: 2024, Month: 1, Day: 31},
		TS: time.Date(2024, 1, 31, 10, 0, 0, 0, time.UTC), Arr: []int64{1, 2}}

	// Query.Read without a destination takes the jobs.query fast path.
	it, err := b.client.Query(sql).Read(ctx)
	require.NoError(t, err)
	var got row
	require.NoError(t, it.Next(&got))
	require.Equal(t, want, got)
	require.ErrorIs(t, it.Next(&got), iterator.Done)
	require.Contains(t, paths(b.srv), "POST /projects/"+project+"/queries")

	// Query.Run + Job.Read take jobs.insert and jobs.getQueryResults.
	q := b.client.Query(sql)
	q.JobID = "read_1"
	j, err := q.Run(ctx)
	require.NoError(t, err)
	st, err := j.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Err())
	it, err = j.Read(ctx)
	require.NoError(t, err)
	require.NoError(t, it.Next(&got))
	require.Equal(t, want, got)
}

func paths(srv *bqfake.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func TestResultsArePaged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	q := b.client.Query("SELECT x FROM UNNEST(GENERATE_ARRAY(1, 25)) AS x")
	q.JobID = "paged"
	j, err := q.Run(ctx)
	require.NoError(t, err)
	it, err := j.Read(ctx)
	require.NoError(t, err)
	it.PageInfo().MaxSize = 10
	var n int
	for {
		var r []bigquery.Value
		err := it.Next(&r)
		if errors.Is(err, iterator.Done) {
			break
		}
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 25, n)
	var tokens int
	for _, r := range b.srv.Requests() {
		if r.Query.Get("pageToken") != "" {
			tokens++
		}
	}
	require.Equal(t, 2, tokens, "three pages of at most 10 rows")
}

func TestTablesGetAnswersTheSchemaInLegacyNamesWithPartitioning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	q := b.client.Query("SELECT 1 AS id, DATE '2024-01-31' AS day, [1.5] AS fs")
	q.JobID = "tbl_1"
	q.Dst = b.client.Dataset("shop").Table("orders")
	q.TimePartitioning = &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "day"}
	q.Clustering = &bigquery.Clustering{Fields: []string{"id"}}
	j, err := q.Run(ctx)
	require.NoError(t, err)
	st, err := j.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Err())

	md, err := b.client.Dataset("shop").Table("orders").Metadata(ctx)
	require.NoError(t, err)
	require.Equal(t, bigquery.Schema{
		{Name: "id", Type: bigquery.IntegerFieldType},
		{Name: "day", Type: bigquery.DateFieldType},
		{Name: "fs", Type: bigquery.FloatFieldType, Repeated: true},
	}, md.Schema)
	require.EqualValues(t, 1, md.NumRows)
	require.Equal(t, &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: "day"}, md.TimePartitioning)
	require.Equal(t, &bigquery.Clustering{Fields: []string{"id"}}, md.Clustering)
	require.Equal(t, "fake-project-1:shop.orders", md.FullID)

	_, err = b.client.Dataset("shop").Table("missing").Metadata(ctx)
	var ge *googleapi.Error
	require.True(t, errors.As(err, &ge))
	require.Equal(t, http.StatusNotFound, ge.Code)
}

func TestWriteEmptyIsTheDefaultDisposition(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	run := func(id string) error {
		q := b.client.Query("SELECT 1 AS id")
		q.JobID = id
		q.Dst = b.client.Dataset("shop").Table("t")
		j, err := q.Run(ctx)
		require.NoError(t, err)
		st, err := j.Status(ctx)
		for err == nil && !st.Done() {
			st, err = j.Status(ctx)
		}
		require.NoError(t, err)
		return st.Err()
	}
	require.NoError(t, run("we_1"))
	err := run("we_2")
	var be *bigquery.Error
	require.True(t, errors.As(err, &be), "%T %v", err, err)
	require.Equal(t, "duplicate", be.Reason)
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	legacy := queryJobBody("legacy", "SELECT 1")
	legacy["configuration"].(map[string]any)["query"].(map[string]any)["useLegacySql"] = true
	code, _ := b.do(t, http.MethodPost, "/projects/"+project+"/jobs", legacy)
	require.Equal(t, http.StatusOK, code)
	_, body := b.do(t, http.MethodGet, "/projects/"+project+"/jobs/legacy", nil)
	for body["status"].(map[string]any)["state"] != "DONE" {
		_, body = b.do(t, http.MethodGet, "/projects/"+project+"/jobs/legacy", nil)
	}
	require.Equal(t, "invalidQuery", body["status"].(map[string]any)["errorResult"].(map[string]any)["reason"])

	code, _ = b.do(t, http.MethodGet, "/projects/"+project+"/jobs/nope", nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = b.do(t, http.MethodGet, "/projects/"+project+"/jobs/legacy?location=EU", nil)
	require.Equal(t, http.StatusNotFound, code, "a job is found in its own location only")
	code, body = b.do(t, http.MethodGet, "/projects/"+project+"/datasets", nil)
	require.Equal(t, http.StatusNotImplemented, code)
	require.Contains(t, body["error"].(map[string]any)["message"], "bqfake does not implement")
	code, _ = b.do(t, http.MethodPost, "/projects/"+project+"/jobs", queryJobBody("bad id", "SELECT 1"))
	require.Equal(t, http.StatusBadRequest, code)
	code, _ = b.do(t, http.MethodPost, "/projects/"+project+"/jobs", map[string]any{
		"configuration": map[string]any{"load": map[string]any{"sourceUris": []string{"/local/file.csv"},
			"destinationTable": map[string]any{"datasetId": "d", "tableId": "t"}}},
	})
	require.Equal(t, http.StatusBadRequest, code, "loads read Cloud Storage only")
}

func TestDryRunReportsBytesAndTablesAndStoresNoJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	q := b.client.Query("SELECT 1 AS id, 'abc' AS s")
	q.JobID = "seed"
	q.Dst = b.client.Dataset("shop").Table("src")
	j, err := q.Run(ctx)
	require.NoError(t, err)
	_, err = j.Wait(ctx)
	require.NoError(t, err)

	dry := b.client.Query("SELECT * FROM shop.src")
	dry.DryRun = true
	dj, err := dry.Run(ctx)
	require.NoError(t, err)
	st := dj.LastStatus()
	require.Equal(t, bigquery.Done, st.State)
	qs := st.Statistics.Details.(*bigquery.QueryStatistics)
	require.EqualValues(t, 8+2+3, qs.TotalBytesProcessed, "8 bytes per INT64, 2 + length per STRING")
	require.Len(t, qs.ReferencedTables, 1)
	require.Equal(t, "src", qs.ReferencedTables[0].TableID)
	require.Empty(t, dj.ID(), "dry runs have no job id")
}

func TestRunningPollsAndStats(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.srv.Script(bqfake.Script{SQLContains: "slow", RunningPolls: 2, Stats: &bqfake.Stats{BytesProcessed: 7, BytesBilled: 10 << 20, SlotMillis: 99, CacheHit: true}, Times: 1})
	q := b.client.Query("SELECT 'slow' AS s")
	q.JobID = "slow_1"
	j, err := q.Run(ctx)
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		st, err := j.Status(ctx)
		require.NoError(t, err)
		require.Equal(t, bigquery.Running, st.State, "poll %d", i)
	}
	st, err := j.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, bigquery.Done, st.State)
	qs := st.Statistics.Details.(*bigquery.QueryStatistics)
	require.EqualValues(t, 7, qs.TotalBytesProcessed)
	require.EqualValues(t, 10<<20, qs.TotalBytesBilled)
	require.EqualValues(t, 99, qs.SlotMillis)
	require.True(t, qs.CacheHit)

	q2 := b.client.Query("SELECT 'slow' AS s")
	q2.JobID = "slow_2"
	j2, err := q2.Run(ctx)
	require.NoError(t, err)
	st, err = j2.Wait(ctx)
	require.NoError(t, err)
	require.False(t, st.Statistics.Details.(*bigquery.QueryStatistics).CacheHit, "Times: 1 scripted one job only")
}
