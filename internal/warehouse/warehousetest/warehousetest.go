// Package warehousetest is the conformance suite every warehouse.Warehouse implementation passes.
//
// The suite seeds its source tables through Query jobs whose SQL is literal rows
// (SELECT ... UNION ALL SELECT ...), so it needs nothing from a backend but the Warehouse itself
// and a dataset to write into. All SQL is GoogleSQL, as users write it.
package warehousetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Harness is what the suite needs from one backend for one subtest.
type Harness struct {
	// Warehouse is fresh for the subtest: no job ids submitted and no tables in Dataset. The
	// harness closes it (t.Cleanup); the suite does not.
	Warehouse warehouse.Warehouse
	// Project is the project the suite's tables live in. A dashed name (my-project-1) exercises
	// dashed project paths.
	Project string
	// Dataset is the dataset the suite's tables live in. It exists, or the warehouse creates
	// datasets on demand.
	Dataset string
}

// Run runs the conformance suite. newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			require.NotNil(t, h.Warehouse, "harness gave no warehouse")
			require.NotEmpty(t, h.Project, "harness gave no project")
			require.NotEmpty(t, h.Dataset, "harness gave no dataset")
			c.fn(t, &bundle{Harness: h, t: t})
		})
	}
}

// bundle carries a harness and helpers for one subtest.
type bundle struct {
	Harness
	t *testing.T
	n int
}

func (b *bundle) name(table string) sqlref.TableName {
	return sqlref.TableName{Project: b.Project, Dataset: b.Dataset, Table: table}
}

// path renders a table as a backticked fully qualified GoogleSQL path.
func (b *bundle) path(table string) string {
	return "`" + b.Project + "." + b.Dataset + "." + table + "`"
}

// jobID returns a job id unique within the subtest (and across backends sharing a project).
func (b *bundle) jobID(what string) string {
	b.n++
	return fmt.Sprintf("wt_%s_%s_%d_%d", strings.ReplaceAll(b.t.Name(), "/", "_"), what, time.Now().UnixNano(), b.n)
}

func (b *bundle) job(table, sql string, d spec.Disposition) *warehouse.QueryJob {
	return &warehouse.QueryJob{
		JobID:          b.jobID(table),
		SQL:            sql,
		Destination:    b.name(table),
		Disposition:    d,
		DefaultProject: b.Project,
		DefaultDataset: b.Dataset,
	}
}

// query runs job and requires it to succeed.
func (b *bundle) query(job *warehouse.QueryJob) run.Stats {
	b.t.Helper()
	stats, err := b.Warehouse.Query(context.Background(), job)
	require.NoError(b.t, err, "job %s: %s", job.JobID, job.SQL)
	return stats
}

// seed creates table with rows id 1..3 and names a, b, c.
func (b *bundle) seed(table string) {
	b.t.Helper()
	b.query(b.job(table, seedSQL, spec.DispositionTruncate))
}

const seedSQL = "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, 'b' UNION ALL SELECT 3, 'c'"

func (b *bundle) table(table string) *warehouse.Table {
	b.t.Helper()
	tb, err := b.Warehouse.Table(context.Background(), b.name(table))
	require.NoError(b.t, err, "table %s", table)
	return tb
}

// count returns how many rows of table satisfy where, by running a query into a scratch table:
// the interface has no way to read rows, and row counts are all the suite needs.
func (b *bundle) count(table, where string) int64 {
	b.t.Helper()
	scratch := fmt.Sprintf("count_%d", b.n+1)
	b.query(b.job(scratch, "SELECT * FROM "+b.path(table)+" WHERE "+where, spec.DispositionTruncate))
	return b.table(scratch).Rows
}

// normalType maps the legacy type names of BigQuery's schema API to GoogleSQL names.
func normalType(t string) string {
	switch strings.ToUpper(t) {
	case "INTEGER", "INT64":
		return "INT64"
	case "FLOAT", "FLOAT64":
		return "FLOAT64"
	case "BOOLEAN", "BOOL":
		return "BOOL"
	}
	return strings.ToUpper(t)
}

func columns(tb *warehouse.Table) []string {
	var out []string
	for _, c := range tb.Columns {
		out = append(out, strings.ToLower(c.Name)+" "+normalType(c.Type))
	}
	return out
}

func requireJobError(t *testing.T, err error, jobID string) *warehouse.JobError {
	t.Helper()
	require.Error(t, err)
	var je *warehouse.JobError
	require.True(t, errors.As(err, &je), "want *warehouse.JobError, got %T: %v", err, err)
	require.Equal(t, jobID, je.JobID)
	require.False(t, je.Retryable, "a bad query is not retryable: %v", je)
	require.NotEmpty(t, je.Message)
	return je
}

var cases = []struct {
	name string
	fn   func(t *testing.T, b *bundle)
}{
	{"QueryCreatesDestinationWithRows", func(t *testing.T, b *bundle) {
		start := time.Now()
		stats := b.query(b.job("dest", seedSQL, spec.DispositionTruncate))
		tb := b.table("dest")
		require.Equal(t, b.name("dest"), tb.Name)
		require.EqualValues(t, 3, tb.Rows)
		require.Equal(t, []string{"id INT64", "name STRING"}, columns(tb))
		require.EqualValues(t, 3, stats.Rows)
		require.False(t, tb.Modified.IsZero(), "Modified is set")
		require.WithinDuration(t, start, tb.Modified, time.Minute)
	}},
	{"QueryTypesMapToGoogleSQL", func(t *testing.T, b *bundle) {
		b.query(b.job("typed", "SELECT 1 AS i, 1.5 AS f, 'x' AS s, TRUE AS ok, DATE '2024-01-31' AS d",
			spec.DispositionTruncate))
		require.Equal(t, []string{"i INT64", "f FLOAT64", "s STRING", "ok BOOL", "d DATE"}, columns(b.table("typed")))
	}},
	{"WriteTruncateReplacesRows", func(t *testing.T, b *bundle) {
		b.seed("dest")
		b.query(b.job("dest", "SELECT 7 AS id, 'z' AS name", spec.DispositionTruncate))
		require.EqualValues(t, 1, b.table("dest").Rows)
		require.EqualValues(t, 1, b.count("dest", "id = 7"))
	}},
	{"WriteTruncateReplacesSchema", func(t *testing.T, b *bundle) {
		b.seed("dest")
		b.query(b.job("dest", "SELECT 'only' AS label", spec.DispositionTruncate))
		require.Equal(t, []string{"label STRING"}, columns(b.table("dest")))
	}},
	{"WriteAppendAppendsRows", func(t *testing.T, b *bundle) {
		b.seed("dest")
		stats := b.query(b.job("dest", "SELECT 4 AS id, 'd' AS name UNION ALL SELECT 5, 'e'", spec.DispositionAppend))
		require.EqualValues(t, 2, stats.Rows, "rows written by the append")
		require.EqualValues(t, 5, b.table("dest").Rows)
		require.EqualValues(t, 3, b.count("dest", "id <= 3"))
	}},
	{"WriteAppendCreatesMissingTable", func(t *testing.T, b *bundle) {
		b.query(b.job("fresh", seedSQL, spec.DispositionAppend))
		require.EqualValues(t, 3, b.table("fresh").Rows)
	}},
	{"EmptyDispositionTruncates", func(t *testing.T, b *bundle) {
		b.seed("dest")
		b.query(b.job("dest", "SELECT 9 AS id, 'q' AS name", ""))
		require.EqualValues(t, 1, b.table("dest").Rows)
	}},
	{"SameJobIDRunsOnce", func(t *testing.T, b *bundle) {
		b.seed("dest")
		job := b.job("dest", "SELECT 4 AS id, 'd' AS name", spec.DispositionAppend)
		first := b.query(job)
		again := *job
		second := b.query(&again)
		require.Equal(t, first, second, "the second submission returns the first job's stats")
		require.EqualValues(t, 4, b.table("dest").Rows, "the appended row is there once")
	}},
	{"ConcurrentSubmissionsOfOneJobIDRunOnce", func(t *testing.T, b *bundle) {
		b.seed("dest")
		job := b.job("dest", "SELECT 4 AS id, 'd' AS name UNION ALL SELECT 5, 'e'", spec.DispositionAppend)
		const n = 8
		var wg sync.WaitGroup
		stats := make([]run.Stats, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j := *job
				stats[i], errs[i] = b.Warehouse.Query(context.Background(), &j)
			}()
		}
		wg.Wait()
		for i := 0; i < n; i++ {
			require.NoError(t, errs[i])
			require.Equal(t, stats[0], stats[i])
		}
		require.EqualValues(t, 5, b.table("dest").Rows, "two rows appended once")
	}},
	{"DifferentJobIDWithSameSQLRunsAgain", func(t *testing.T, b *bundle) {
		b.seed("dest")
		sql := "SELECT 4 AS id, 'd' AS name"
		b.query(b.job("dest", sql, spec.DispositionAppend))
		b.query(b.job("dest", sql, spec.DispositionAppend))
		require.EqualValues(t, 5, b.table("dest").Rows)
	}},
	{"InvalidSQLIsAPermanentJobError", func(t *testing.T, b *bundle) {
		job := b.job("dest", "SELEC 1 AS id", spec.DispositionTruncate)
		_, err := b.Warehouse.Query(context.Background(), job)
		requireJobError(t, err, job.JobID)
		_, err = b.Warehouse.Table(context.Background(), b.name("dest"))
		require.ErrorIs(t, err, warehouse.ErrNotFound, "a failed job creates no table")
	}},
	{"MissingTableIsAPermanentJobError", func(t *testing.T, b *bundle) {
		job := b.job("dest", "SELECT * FROM "+b.path("no_such_table"), spec.DispositionTruncate)
		_, err := b.Warehouse.Query(context.Background(), job)
		requireJobError(t, err, job.JobID)
	}},
	{"FailedJobIDKeepsItsErrorAndANewJobIDRuns", func(t *testing.T, b *bundle) {
		job := b.job("dest", "SELECT * FROM "+b.path("late"), spec.DispositionTruncate)
		_, err := b.Warehouse.Query(context.Background(), job)
		requireJobError(t, err, job.JobID)

		b.seed("late")
		again := *job
		_, err = b.Warehouse.Query(context.Background(), &again)
		requireJobError(t, err, job.JobID)
		_, err = b.Warehouse.Table(context.Background(), b.name("dest"))
		require.ErrorIs(t, err, warehouse.ErrNotFound, "resubmitting a failed job id does not run it")

		retry := *job
		retry.JobID = b.jobID("retry")
		b.query(&retry)
		require.EqualValues(t, 3, b.table("dest").Rows)
	}},
	{"StatsAreFilled", func(t *testing.T, b *bundle) {
		b.seed("src")
		stats := b.query(b.job("dest", "SELECT id, name FROM "+b.path("src")+" WHERE id > 1", spec.DispositionTruncate))
		require.EqualValues(t, 2, stats.Rows)
		require.Positive(t, stats.BytesProcessed, "bytes processed (an estimate where the backend has none)")
		require.GreaterOrEqual(t, stats.BytesBilled, int64(0))
		require.Positive(t, stats.DurationMillis)
	}},
	{"MissingTableIsNotFound", func(t *testing.T, b *bundle) {
		_, err := b.Warehouse.Table(context.Background(), b.name("never_created"))
		require.ErrorIs(t, err, warehouse.ErrNotFound)
		_, err = b.Warehouse.Table(context.Background(), sqlref.TableName{Project: b.Project, Dataset: b.Dataset + "_nope", Table: "t"})
		require.ErrorIs(t, err, warehouse.ErrNotFound, "missing dataset")
	}},
	{"BacktickedPathsResolve", func(t *testing.T, b *bundle) {
		b.seed("src")
		p, d := b.Project, b.Dataset
		for i, from := range []string{
			"`" + p + "." + d + ".src`",
			"`" + p + "`.`" + d + "`.`src`",
			"`" + p + "." + d + "`.src",
		} {
			dest := fmt.Sprintf("dest%d", i)
			b.query(b.job(dest, "SELECT s.id FROM "+from+" AS s WHERE s.`name` <> 'b'", spec.DispositionTruncate))
			require.EqualValues(t, 2, b.table(dest).Rows, "FROM %s", from)
		}
	}},
	{"PartialPathsUseDefaults", func(t *testing.T, b *bundle) {
		b.seed("src")
		b.query(b.job("dest1", "SELECT * FROM "+b.Dataset+".src", spec.DispositionTruncate))
		require.EqualValues(t, 3, b.table("dest1").Rows)
		b.query(b.job("dest2", "SELECT * FROM src JOIN `"+b.Dataset+".src` AS o USING (id)", spec.DispositionTruncate))
		require.EqualValues(t, 3, b.table("dest2").Rows)
	}},
	{"CTEsAndCommentsAreNotTables", func(t *testing.T, b *bundle) {
		b.seed("src")
		sql := "-- reads " + b.path("ghost") + "\n" +
			"WITH src AS (SELECT id FROM " + b.path("src") + " WHERE id > 1) /* not " + b.Dataset + ".ghost */\n" +
			"SELECT id, 'src.ghost' AS note FROM src"
		b.query(b.job("dest", sql, spec.DispositionTruncate))
		require.EqualValues(t, 2, b.table("dest").Rows)
	}},
	{"PartitionClusterAndLabelsAreAccepted", func(t *testing.T, b *bundle) {
		job := b.job("dest", "SELECT 1 AS id, DATE '2024-01-31' AS day UNION ALL SELECT 2, DATE '2024-02-01'", spec.DispositionTruncate)
		job.PartitionBy = "day"
		job.ClusterBy = []string{"id"}
		job.Labels = map[string]string{"maestro_run": "r1", "maestro_table": "dest"}
		b.query(job)
		require.EqualValues(t, 2, b.table("dest").Rows)
	}},
	{"CancelledContextIsNotAJobError", func(t *testing.T, b *bundle) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		job := b.job("dest", seedSQL, spec.DispositionTruncate)
		_, err := b.Warehouse.Query(ctx, job)
		require.ErrorIs(t, err, context.Canceled)
		var je *warehouse.JobError
		require.False(t, errors.As(err, &je), "cancellation is not a job failure")
		b.query(job)
		require.EqualValues(t, 3, b.table("dest").Rows, "the job runs when submitted again")
	}},
}
