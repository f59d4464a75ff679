package bigquerywarehouse_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

func name(table string) sqlref.TableName {
	return sqlref.TableName{Project: testProject, Dataset: testDataset, Table: table}
}

func queryJob(id, table, sql string) *warehouse.QueryJob {
	return &warehouse.QueryJob{
		JobID: id, SQL: sql, Destination: name(table), Disposition: spec.DispositionTruncate,
		DefaultProject: testProject, DefaultDataset: testDataset,
	}
}

const seedSQL = "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b' UNION ALL SELECT 3, 'c'"

// requestsFor counts the requests of one kind ("insert", "get", "results") about job id.
func requestsFor(srv *bqfake.Server, kind, id string) (n int, statuses []int) {
	for _, r := range srv.Requests() {
		var match bool
		switch kind {
		case "insert":
			match = r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/jobs") && strings.Contains(string(r.Body), `"jobId":"`+id+`"`)
		case "get":
			match = r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/jobs/"+id)
		case "results":
			match = r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/queries/"+id)
		}
		if match {
			n++
			statuses = append(statuses, r.Status)
		}
	}
	return n, statuses
}

// insertedJob returns the body of the first jobs.insert of job id.
func insertedJob(t *testing.T, srv *bqfake.Server, id string) *bq.Job {
	t.Helper()
	for _, j := range srv.InsertedJobs() {
		if j.JobReference != nil && j.JobReference.JobId == id {
			return j
		}
	}
	require.Failf(t, "no jobs.insert", "job %s was not inserted", id)
	return nil
}

func TestQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("DuplicateJobIDAttachesToTheExistingJob", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		job := queryJob("dup_1", "dest", seedSQL)
		job.Disposition = spec.DispositionAppend
		first, err := b.w.Query(ctx, job)
		require.NoError(t, err)
		second, err := b.w.Query(ctx, job)
		require.NoError(t, err)

		require.Equal(t, first, second)
		require.Equal(t, 1, b.srv.Executions("dup_1"), "the SQL ran once")
		n, statuses := requestsFor(b.srv, "insert", "dup_1")
		require.Equal(t, 2, n)
		require.Equal(t, []int{http.StatusOK, http.StatusConflict}, statuses, "the second insert got 409 duplicate")
		tb, err := b.w.Table(ctx, name("dest"))
		require.NoError(t, err)
		require.EqualValues(t, 3, tb.Rows, "appended once")
	})

	t.Run("LostInsertResponseIsRetriedAndAttaches", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.srv.Script(bqfake.Script{JobID: "lost_1", LoseInsertResponse: true})
		stats, err := b.w.Query(ctx, queryJob("lost_1", "dest", seedSQL))
		require.NoError(t, err)
		require.EqualValues(t, 3, stats.Rows)
		require.Equal(t, 1, b.srv.Executions("lost_1"))
		_, statuses := requestsFor(b.srv, "insert", "lost_1")
		require.Equal(t, []int{http.StatusServiceUnavailable, http.StatusConflict}, statuses,
			"the client retried the insert and the warehouse attached to the job the first one created")
	})

	t.Run("FailedJobReasonsAreClassified", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, c := range []struct {
			reason    string
			retryable bool
		}{
			{"rateLimitExceeded", true},
			{"backendError", true},
			{"internalError", true},
			{"invalidQuery", false},
			{"notFound", false},
			{"accessDenied", false},
			{"quotaExceeded", false},
		} {
			id := "fail_" + c.reason
			b.srv.Script(bqfake.Script{JobID: id, Fail: &bqfake.Failure{Reason: c.reason, Message: "scripted " + c.reason}})
			_, err := b.w.Query(ctx, queryJob(id, "dest_"+c.reason, seedSQL))
			var je *warehouse.JobError
			require.True(t, errors.As(err, &je), "%s: want a JobError, got %T %v", c.reason, err, err)
			require.Equal(t, &warehouse.JobError{JobID: id, Reason: c.reason, Message: "scripted " + c.reason, Retryable: c.retryable}, je)
			require.Zero(t, b.srv.Executions(id), "a scripted failure runs nothing")
		}
	})

	t.Run("RefusedInsertIsAPermanentJobError", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.w.Query(ctx, queryJob("not a valid id!", "dest", seedSQL))
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je), "got %T %v", err, err)
		require.Equal(t, "invalid", je.Reason)
		require.False(t, je.Retryable)
	})

	t.Run("UnreachableServerIsNotAJobError", func(t *testing.T) {
		t.Parallel()
		hs := httptest.NewServer(http.NotFoundHandler())
		url := hs.URL
		hs.Close() // connections are refused from now on
		w, err := bigquerywarehouse.Open(ctx, testProject, option.WithEndpoint(url), option.WithoutAuthentication())
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err = w.Query(tctx, queryJob("net_1", "dest", seedSQL))
		require.ErrorIs(t, err, context.DeadlineExceeded, "the client retried until the deadline: outcome unknown")
		var je *warehouse.JobError
		require.False(t, errors.As(err, &je))
	})

	t.Run("VanishedJobIsNotAJobError", func(t *testing.T) {
		t.Parallel()
		srv, err := bqfake.New(ctx, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		// jobs.get answers 404 for every job, as if the job had been inserted elsewhere.
		hs := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/jobs/") {
				http.Error(rw, `{"error":{"code":404,"message":"Not found: Job","errors":[{"reason":"notFound","message":"Not found: Job"}]}}`, http.StatusNotFound)
				return
			}
			srv.ServeHTTP(rw, r)
		}))
		t.Cleanup(hs.Close)
		srv.Script(bqfake.Script{JobID: "gone_1", RunningPolls: 1})
		w, err := bigquerywarehouse.OpenWithOptions(ctx, testProject, &bigquerywarehouse.Options{PollInitial: time.Millisecond},
			option.WithEndpoint(hs.URL), option.WithoutAuthentication())
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		_, err = w.Query(ctx, queryJob("gone_1", "dest", seedSQL))
		require.Error(t, err)
		var je *warehouse.JobError
		require.False(t, errors.As(err, &je), "a job we cannot see has an unknown outcome: %v", err)
	})

	t.Run("WaitsWhileTheJobIsRunning", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.srv.Script(bqfake.Script{JobID: "slow_1", RunningPolls: 4})
		stats, err := b.w.Query(ctx, queryJob("slow_1", "dest", seedSQL))
		require.NoError(t, err)
		require.EqualValues(t, 3, stats.Rows)
		polls, _ := requestsFor(b.srv, "get", "slow_1")
		require.GreaterOrEqual(t, polls, 5, "four RUNNING answers, then DONE")
	})

	t.Run("WaitBacksOff", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w, err := bigquerywarehouse.OpenWithOptions(ctx, testProject,
			&bigquerywarehouse.Options{PollInitial: 10 * time.Millisecond, PollMax: 40 * time.Millisecond},
			option.WithEndpoint(b.url), option.WithoutAuthentication())
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		b.srv.Script(bqfake.Script{JobID: "slow_2", RunningPolls: 6})
		_, err = w.Query(ctx, queryJob("slow_2", "dest", seedSQL))
		require.NoError(t, err)
		var times []time.Time
		for _, r := range b.srv.Requests() {
			if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/jobs/slow_2") {
				times = append(times, r.Time)
			}
		}
		require.GreaterOrEqual(t, len(times), 7)
		first, last := times[1].Sub(times[0]), times[len(times)-1].Sub(times[len(times)-2])
		require.GreaterOrEqual(t, first, 15*time.Millisecond, "the second wait is 1.5 times the first")
		require.GreaterOrEqual(t, last, 40*time.Millisecond, "waits grow to PollMax")
	})

	t.Run("StatisticsAreMapped", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.srv.Script(bqfake.Script{JobID: "stats_1", Stats: &bqfake.Stats{
			BytesProcessed: 123_456_789, BytesBilled: 124_780_544, SlotMillis: 4321, CacheHit: true, Rows: 42,
		}})
		stats, err := b.w.Query(ctx, queryJob("stats_1", "dest", seedSQL))
		require.NoError(t, err)
		require.Positive(t, stats.DurationMillis)
		stats.DurationMillis = 0
		require.Equal(t, run.Stats{BytesProcessed: 123_456_789, BytesBilled: 124_780_544, SlotMillis: 4321, CacheHit: true, Rows: 42}, stats)
	})

	t.Run("StatisticsOfARealRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.w.Query(ctx, queryJob("seed_1", "src", seedSQL))
		require.NoError(t, err)
		src, err := b.w.Table(ctx, name("src"))
		require.NoError(t, err)
		stats, err := b.w.Query(ctx, queryJob("read_1", "dest", "SELECT * FROM src WHERE id > 1"))
		require.NoError(t, err)
		require.EqualValues(t, 2, stats.Rows)
		require.Equal(t, src.Bytes, stats.BytesProcessed, "the engine measures the table read")
		require.EqualValues(t, 10<<20, stats.BytesBilled, "at least 10 MiB per table read")
	})

	t.Run("RequestCarriesDestinationDispositionPartitioningClusteringAndLabels", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		job := queryJob("shape_1", "orders",
			"SELECT 1 AS id, TIMESTAMP '2024-01-31 10:00:00' AS created_at, 7 AS customer_id")
		job.Disposition = spec.DispositionAppend
		job.PartitionBy = "DATE(created_at)"
		job.ClusterBy = []string{"customer_id", "id"}
		job.Labels = map[string]string{"maestro_run": "Run-2024/01", "Table": "shop.Orders", "owner": "Alice@Example.com"}
		_, err := b.w.Query(ctx, job)
		require.NoError(t, err)

		got := insertedJob(t, b.srv, "shape_1")
		q := got.Configuration.Query
		require.Equal(t, job.SQL, q.Query)
		require.Equal(t, &bq.TableReference{ProjectId: testProject, DatasetId: testDataset, TableId: "orders"}, q.DestinationTable)
		require.Equal(t, "WRITE_APPEND", q.WriteDisposition)
		require.Equal(t, "CREATE_IF_NEEDED", q.CreateDisposition)
		require.NotNil(t, q.UseLegacySql)
		require.False(t, *q.UseLegacySql, "GoogleSQL")
		require.Equal(t, &bq.DatasetReference{ProjectId: testProject, DatasetId: testDataset}, q.DefaultDataset)
		require.Equal(t, &bq.TimePartitioning{Type: "DAY", Field: "created_at"}, q.TimePartitioning)
		require.Equal(t, &bq.Clustering{Fields: []string{"customer_id", "id"}}, q.Clustering)
		require.Equal(t, map[string]string{"maestro_run": "run-2024_01", "table": "shop_orders", "owner": "alice_example_com"},
			got.Configuration.Labels)
		require.Equal(t, &bq.JobReference{ProjectId: testProject, JobId: "shape_1"}, got.JobReference)

		res, ok := b.srv.Job(testProject, "shape_1")
		require.True(t, ok)
		require.Equal(t, "DONE", res.Status.State)
	})

	t.Run("TruncateIsTheDefault", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		job := queryJob("trunc_1", "dest", seedSQL)
		job.Disposition = ""
		_, err := b.w.Query(ctx, job)
		require.NoError(t, err)
		require.Equal(t, "WRITE_TRUNCATE", insertedJob(t, b.srv, "trunc_1").Configuration.Query.WriteDisposition)
	})

	t.Run("BadPartitionByIsRefusedBeforeSubmitting", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		job := queryJob("part_bad", "dest", seedSQL)
		job.PartitionBy = "MOD(id, 7)"
		_, err := b.w.Query(ctx, job)
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je))
		require.Equal(t, "invalid", je.Reason)
		require.False(t, je.Retryable)
		require.Contains(t, je.Message, "MOD(id, 7)")
		require.Empty(t, b.srv.Requests(), "nothing was sent")
	})

	t.Run("LocationIsSent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		w, err := bigquerywarehouse.OpenWithOptions(ctx, testProject, &bigquerywarehouse.Options{Location: "EU", PollInitial: time.Millisecond},
			option.WithEndpoint(b.url), option.WithoutAuthentication())
		require.NoError(t, err)
		t.Cleanup(func() { _ = w.Close() })
		job := queryJob("eu_1", "dest", seedSQL)
		_, err = w.Query(ctx, job)
		require.NoError(t, err)
		_, err = w.Query(ctx, job)
		require.NoError(t, err, "attaching looks the job up in its location")
		require.Equal(t, "EU", insertedJob(t, b.srv, "eu_1").JobReference.Location)
		for _, r := range b.srv.Requests() {
			if r.Method == http.MethodGet && strings.Contains(r.Path, "/jobs/eu_1") {
				require.Equal(t, "EU", r.Query.Get("location"))
			}
		}
	})
}

func TestTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	_, err := b.w.Query(ctx, queryJob("t_1", "typed",
		"SELECT 1 AS i, 1.5 AS f, 'x' AS s, TRUE AS ok, DATE '2024-01-31' AS d, TIMESTAMP '2024-01-31 10:00:00' AS ts, [1, 2] AS arr"))
	require.NoError(t, err)
	tb, err := b.w.Table(ctx, name("typed"))
	require.NoError(t, err)
	var cols []string
	for _, c := range tb.Columns {
		cols = append(cols, c.Name+" "+c.Type)
	}
	require.Equal(t, []string{"i INT64", "f FLOAT64", "s STRING", "ok BOOL", "d DATE", "ts TIMESTAMP", "arr ARRAY<INT64>"}, cols)
	require.EqualValues(t, 1, tb.Rows)
	require.Positive(t, tb.Bytes)

	_, err = b.w.Table(ctx, sqlref.TableName{Dataset: testDataset, Table: "typed"})
	require.NoError(t, err, "a table without a project is in the warehouse's project")
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	for _, tbl := range []string{"orders", "customers"} {
		_, err := b.w.Query(ctx, queryJob("seed_"+tbl, tbl, seedSQL))
		require.NoError(t, err)
	}
	orders, err := b.w.Table(ctx, name("orders"))
	require.NoError(t, err)
	customers, err := b.w.Table(ctx, name("customers"))
	require.NoError(t, err)

	t.Run("EstimatesBytesAndListsTables", func(t *testing.T) {
		dr, err := b.w.DryRun(ctx, queryJob("", "ignored",
			"WITH c AS (SELECT * FROM customers) SELECT o.id FROM `"+testProject+"."+testDataset+".orders` o JOIN c USING (id)"))
		require.NoError(t, err)
		require.Equal(t, orders.Bytes+customers.Bytes, dr.BytesProcessed)
		require.Equal(t, []sqlref.TableName{name("customers"), name("orders")}, dr.ReferencedTables)
		_, err = b.w.Table(ctx, name("ignored"))
		require.ErrorIs(t, err, warehouse.ErrNotFound, "a dry run writes nothing")
	})

	t.Run("SQLThatWouldFailIsAJobError", func(t *testing.T) {
		for sql, reason := range map[string]string{
			"SELECT * FROM no_such_table":       "notFound",
			"SELECT FROM WHERE ((":              "invalidQuery",
			"SELECT 1 FROM orders WHERE id = (": "invalidQuery",
		} {
			_, err := b.w.DryRun(ctx, queryJob("", "x", sql))
			var je *warehouse.JobError
			require.True(t, errors.As(err, &je), "%s: got %T %v", sql, err, err)
			require.Equal(t, reason, je.Reason, sql)
			require.False(t, je.Retryable)
		}
	})

	t.Run("RequestIsADryRun", func(t *testing.T) {
		var dry int
		for _, j := range b.srv.InsertedJobs() {
			if j.Configuration.DryRun {
				dry++
			}
		}
		require.Positive(t, dry)
		for _, tbl := range []string{"orders", "customers"} {
			require.Equal(t, 1, b.srv.Executions("seed_"+tbl))
		}
	})
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RequestShape", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.srv.Script(bqfake.Script{JobID: "load_1", Stats: &bqfake.Stats{Rows: 1000, BytesProcessed: 52_000}})
		stats, err := b.w.Load(ctx, &warehouse.LoadJob{
			JobID:       "load_1",
			SourceURIs:  []string{"gs://maestro-extracts/orders/part-*.parquet"},
			Format:      warehouse.FormatParquet,
			Destination: name("orders"),
			Disposition: spec.DispositionAppend,
			PartitionBy: "created_at",
			ClusterBy:   []string{"id"},
			Labels:      map[string]string{"maestro_table": "shop.orders"},
		})
		require.NoError(t, err)
		require.Equal(t, int64(1000), stats.Rows)
		require.Equal(t, int64(52_000), stats.BytesProcessed)
		require.Zero(t, stats.BytesBilled, "loads are free")

		l := insertedJob(t, b.srv, "load_1").Configuration.Load
		require.Equal(t, []string{"gs://maestro-extracts/orders/part-*.parquet"}, l.SourceUris)
		require.Equal(t, "PARQUET", l.SourceFormat)
		require.Equal(t, &bq.TableReference{ProjectId: testProject, DatasetId: testDataset, TableId: "orders"}, l.DestinationTable)
		require.Equal(t, "WRITE_APPEND", l.WriteDisposition)
		require.Equal(t, "CREATE_IF_NEEDED", l.CreateDisposition)
		require.False(t, l.Autodetect, "parquet carries its schema")
		require.Equal(t, &bq.TimePartitioning{Type: "DAY", Field: "created_at"}, l.TimePartitioning)
		require.Equal(t, &bq.Clustering{Fields: []string{"id"}}, l.Clustering)
		require.Equal(t, map[string]string{"maestro_table": "shop_orders"}, insertedJob(t, b.srv, "load_1").Configuration.Labels)
		require.Empty(t, l.SchemaUpdateOptions, "the schema changes only when asked")
	})

	t.Run("AllowFieldAddition", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.w.Load(ctx, &warehouse.LoadJob{JobID: "load_grow", SourceURIs: []string{"gs://b/a.parquet"},
			Format: warehouse.FormatParquet, Destination: name("t"), Disposition: spec.DispositionAppend, AllowFieldAddition: true})
		require.NoError(t, err)
		l := insertedJob(t, b.srv, "load_grow").Configuration.Load
		require.Equal(t, []string{"ALLOW_FIELD_ADDITION"}, l.SchemaUpdateOptions)
		require.Equal(t, []string{"NUMERIC", "BIGNUMERIC"}, l.DecimalTargetTypes, "wide decimals load as BIGNUMERIC")
	})

	t.Run("CSVWithSchemaAndHeader", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.w.Load(ctx, &warehouse.LoadJob{
			JobID: "load_csv", SourceURIs: []string{"gs://b/a.csv", "gs://b/b.csv"}, Format: warehouse.FormatCSV,
			Destination: name("t"), SkipLeadingRows: 1,
			Schema: []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "tags", Type: "ARRAY<STRING>"}, {Name: "at", Type: "TIMESTAMP"}},
		})
		require.NoError(t, err)
		l := insertedJob(t, b.srv, "load_csv").Configuration.Load
		require.Equal(t, "CSV", l.SourceFormat)
		require.EqualValues(t, 1, l.SkipLeadingRows)
		require.Equal(t, "WRITE_TRUNCATE", l.WriteDisposition)
		require.Equal(t, []*bq.TableFieldSchema{
			{Name: "id", Type: "INTEGER"}, {Name: "tags", Type: "STRING", Mode: "REPEATED"}, {Name: "at", Type: "TIMESTAMP"},
		}, l.Schema.Fields)
	})

	t.Run("JSONAutodetects", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.w.Load(ctx, &warehouse.LoadJob{JobID: "load_json", SourceURIs: []string{"gs://b/a.json"},
			Format: warehouse.FormatJSON, Destination: name("t")})
		require.NoError(t, err)
		l := insertedJob(t, b.srv, "load_json").Configuration.Load
		require.Equal(t, "NEWLINE_DELIMITED_JSON", l.SourceFormat)
		require.True(t, l.Autodetect)
	})

	t.Run("DuplicateJobIDAttaches", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		job := &warehouse.LoadJob{JobID: "load_dup", SourceURIs: []string{"gs://b/a.parquet"}, Format: warehouse.FormatParquet, Destination: name("t")}
		_, err := b.w.Load(ctx, job)
		require.NoError(t, err)
		_, err = b.w.Load(ctx, job)
		require.NoError(t, err)
		require.Equal(t, 1, b.srv.Executions("load_dup"))
	})

	t.Run("FailureIsAJobError", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.srv.Script(bqfake.Script{JobID: "load_bad", Fail: &bqfake.Failure{Reason: "invalid", Message: "Error while reading data"}})
		_, err := b.w.Load(ctx, &warehouse.LoadJob{JobID: "load_bad", SourceURIs: []string{"gs://b/a.csv"}, Destination: name("t")})
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je))
		require.Equal(t, &warehouse.JobError{JobID: "load_bad", Reason: "invalid", Message: "Error while reading data"}, je)
	})
}

func TestExtract(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	_, err := b.w.Query(ctx, queryJob("seed", "orders", seedSQL))
	require.NoError(t, err)
	orders, err := b.w.Table(ctx, name("orders"))
	require.NoError(t, err)

	t.Run("CSVWithHeaderGzipped", func(t *testing.T) {
		res, err := b.w.Extract(ctx, &warehouse.ExtractJob{
			JobID: "ext_1", Source: name("orders"), DestinationURI: "gs://exports/orders/*.csv.gz",
			Format: warehouse.FormatCSV, Header: true, Compression: warehouse.CompressionGzip,
			Labels: map[string]string{"maestro_run": "r1"},
		})
		require.NoError(t, err)
		require.EqualValues(t, 1, res.Files)
		require.Positive(t, res.Stats.DurationMillis)
		got := insertedJob(t, b.srv, "ext_1")
		e := got.Configuration.Extract
		require.Equal(t, &bq.TableReference{ProjectId: testProject, DatasetId: testDataset, TableId: "orders"}, e.SourceTable)
		require.Equal(t, []string{"gs://exports/orders/*.csv.gz"}, e.DestinationUris)
		require.Equal(t, "CSV", e.DestinationFormat)
		require.Equal(t, "GZIP", e.Compression)
		require.True(t, e.PrintHeader == nil || *e.PrintHeader, "BigQuery prints a header unless told not to")
		require.Equal(t, map[string]string{"maestro_run": "r1"}, got.Configuration.Labels)
		done, ok := b.srv.Job(testProject, "ext_1")
		require.True(t, ok)
		require.Equal(t, orders.Bytes, done.Statistics.Extract.InputBytes)
	})

	t.Run("JSONWithoutHeader", func(t *testing.T) {
		_, err := b.w.Extract(ctx, &warehouse.ExtractJob{JobID: "ext_2", Source: name("orders"),
			DestinationURI: "gs://exports/orders.json", Format: warehouse.FormatJSON})
		require.NoError(t, err)
		e := insertedJob(t, b.srv, "ext_2").Configuration.Extract
		require.Equal(t, "NEWLINE_DELIMITED_JSON", e.DestinationFormat)
		require.NotNil(t, e.PrintHeader)
		require.False(t, *e.PrintHeader)
	})

	t.Run("DuplicateJobIDAttaches", func(t *testing.T) {
		job := &warehouse.ExtractJob{JobID: "ext_dup", Source: name("orders"), DestinationURI: "gs://exports/o.csv"}
		first, err := b.w.Extract(ctx, job)
		require.NoError(t, err)
		second, err := b.w.Extract(ctx, job)
		require.NoError(t, err)
		require.Equal(t, first, second)
		require.Equal(t, 1, b.srv.Executions("ext_dup"))
	})

	t.Run("MissingTableIsNotFound", func(t *testing.T) {
		_, err := b.w.Extract(ctx, &warehouse.ExtractJob{JobID: "ext_missing", Source: name("nope"), DestinationURI: "gs://exports/x.csv"})
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je))
		require.Equal(t, "notFound", je.Reason)
		require.False(t, je.Retryable)
	})

	t.Run("BadDestinationIsRefused", func(t *testing.T) {
		_, err := b.w.Extract(ctx, &warehouse.ExtractJob{JobID: "ext_bad", Source: name("orders"), DestinationURI: "/tmp/x.csv"})
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je))
		require.Equal(t, "invalid", je.Reason)
	})
}
