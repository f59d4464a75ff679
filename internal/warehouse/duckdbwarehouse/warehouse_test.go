package duckdbwarehouse

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

type testBundle struct {
	w   *Warehouse
	ctx context.Context
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	w, err := Open(context.Background(), "", nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	return &testBundle{w: w, ctx: context.Background()}
}

func (b *testBundle) query(t *testing.T, id, table, sql string) {
	t.Helper()
	_, err := b.w.Query(b.ctx, &warehouse.QueryJob{
		JobID: id, SQL: sql, Destination: sqlref.TableName{Project: "acme-data", Dataset: "shop", Table: table},
		DefaultProject: "acme-data", DefaultDataset: "shop",
	})
	require.NoError(t, err, sql)
}

// rows reads a table directly, rendering every value with DuckDB's VARCHAR cast.
func (b *testBundle) rows(t *testing.T, sql string) [][]string {
	t.Helper()
	rs, err := b.w.db.QueryContext(b.ctx, "SELECT COLUMNS(*)::VARCHAR FROM ("+sql+")")
	require.NoError(t, err)
	defer rs.Close()
	cols, err := rs.Columns()
	require.NoError(t, err)
	var out [][]string
	for rs.Next() {
		vals := make([]*string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rs.Scan(ptrs...))
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = *v
			}
		}
		out = append(out, row)
	}
	require.NoError(t, rs.Err())
	return out
}

func TestWarehouse(t *testing.T) {
	t.Parallel()

	t.Run("RunsAQuickstartPipelineWrittenForBigQuery", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.query(t, "j1", "orders", `
			SELECT 1 AS order_id, 'alice' AS customer, DATE '2024-01-15' AS order_date, 20.0 AS amount, "paid" AS status
			UNION ALL SELECT 2, 'alice', DATE '2024-02-03', 0.0, 'refunded'
			UNION ALL SELECT 3, 'bob', DATE '2024-02-20', 30.5, 'paid'`)
		b.query(t, "j2", "monthly", `
			# revenue per month
			WITH paid AS (
			  SELECT * FROM `+"`acme-data.shop.orders`"+` WHERE status = "paid"
			)
			SELECT
			  DATE_TRUNC(o.order_date, MONTH) AS month,
			  FORMAT_DATE('%Y-%m', o.order_date) AS label,
			  COUNT(DISTINCT o.customer) AS customers,
			  COUNTIF(o.status = 'paid') AS paid_orders,
			  SAFE_DIVIDE(SUM(o.amount), COUNTIF(o.amount = 12345)) AS nothing,
			  CAST(SUM(o.amount) AS NUMERIC) AS revenue,
			  SAFE_CAST('x' AS INT64) AS bad,
			  MAX(DATE_DIFF(DATE '2024-03-01', o.order_date, DAY)) AS age_days,
			  ARRAY_AGG(o.order_id ORDER BY o.order_id) AS ids,
			  MIN(EXTRACT(DAYOFWEEK FROM o.order_date)) AS dow
			FROM shop.orders AS o
			WHERE o.order_id IN (SELECT order_id FROM paid)
			GROUP BY month, label
			ORDER BY month`)
		require.Equal(t, [][]string{
			{"2024-01-01", "2024-01", "1", "1", "NULL", "20.000000000", "NULL", "46", "[1]", "2"},
			{"2024-02-01", "2024-02", "1", "1", "NULL", "30.500000000", "NULL", "10", "[3]", "3"},
		}, b.rows(t, `SELECT * FROM "acme-data.shop"."monthly" ORDER BY month`))
		tb, err := b.w.Table(b.ctx, sqlref.TableName{Project: "acme-data", Dataset: "shop", Table: "monthly"})
		require.NoError(t, err)
		require.Equal(t, []warehouse.Column{
			{Name: "month", Type: "DATE"}, {Name: "label", Type: "STRING"}, {Name: "customers", Type: "INT64"},
			{Name: "paid_orders", Type: "INT64"}, {Name: "nothing", Type: "FLOAT64"}, {Name: "revenue", Type: "NUMERIC"},
			{Name: "bad", Type: "INT64"}, {Name: "age_days", Type: "INT64"}, {Name: "ids", Type: "ARRAY<INT64>"},
			{Name: "dow", Type: "INT64"},
		}, tb.Columns)
	})

	t.Run("MacrosStandInForBigQueryFunctions", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.query(t, "a", "m", `SELECT
			SAFE_DIVIDE(1, 0) AS a, SAFE_DIVIDE(3, 2) AS b, DIV(7, 2) AS c,
			FORMAT_DATE('%Y/%m/%d', DATE '2024-03-05') AS d, PARSE_DATE('%Y%m%d', '20240305') AS e,
			REGEXP_CONTAINS('order-42', r'\d+') AS f, UNIX_DATE(DATE '1970-01-11') AS g,
			UNIX_SECONDS(TIMESTAMP_SECONDS(86400)) AS h, TO_JSON_STRING([1, 2]) AS i,
			(SELECT LOGICAL_OR(x > 2) FROM UNNEST([1, 3]) AS x) AS j`)
		require.Equal(t, [][]string{{"NULL", "1.5", "3", "2024/03/05", "2024-03-05", "true", "10", "86400", "[1,2]", "true"}},
			b.rows(t, `SELECT * FROM "acme-data.shop"."m"`))
	})

	t.Run("ReadsWildcardTablesWithSuffix", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.query(t, "a", "events_20240101", "SELECT 'open' AS kind UNION ALL SELECT 'click'")
		b.query(t, "b", "events_20240102", "SELECT 'open' AS kind, 7 AS extra")
		b.query(t, "c", "events_summary", "SELECT 1 AS not_an_event")
		b.query(t, "d", "daily", "SELECT _TABLE_SUFFIX AS day, COUNT(*) AS n FROM `acme-data.shop.events_2024*` GROUP BY 1")
		// As in BigQuery, the suffix is what follows the wildcard's prefix.
		require.Equal(t, [][]string{{"0101", "2"}, {"0102", "1"}},
			b.rows(t, `SELECT * FROM "acme-data.shop"."daily" ORDER BY day`))
	})

	t.Run("QueriesMayReadTheirOwnDestination", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.query(t, "a", "t", "SELECT 1 AS id")
		b.query(t, "b", "t", "SELECT id FROM shop.t UNION ALL SELECT MAX(id) + 1 FROM shop.t")
		_, err := b.w.Query(b.ctx, &warehouse.QueryJob{JobID: "c", Disposition: spec.DispositionAppend,
			SQL:         "SELECT MAX(id) + 1 AS id FROM `acme-data.shop.t`",
			Destination: sqlref.TableName{Project: "acme-data", Dataset: "shop", Table: "t"}})
		require.NoError(t, err)
		require.Equal(t, [][]string{{"1"}, {"2"}, {"3"}}, b.rows(t, `SELECT id FROM "acme-data.shop"."t" ORDER BY id`))
	})

	t.Run("UnnestAliasIsTheElement", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.query(t, "a", "orders", "SELECT 1 AS id, [10, 20] AS items")
		b.query(t, "b", "items", "SELECT o.id, item FROM shop.orders AS o, UNNEST(o.items) AS item")
		require.Equal(t, [][]string{{"1", "10"}, {"1", "20"}},
			b.rows(t, `SELECT * FROM "acme-data.shop"."items" ORDER BY item`))
	})

	t.Run("JobLogRecordsSucceededAndFailedJobs", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		job := &warehouse.QueryJob{
			JobID: "ok", SQL: "SELECT 1 AS x", Destination: sqlref.TableName{Project: "p", Dataset: "d", Table: "t"},
			Disposition: spec.DispositionAppend, Labels: map[string]string{"maestro_run": "r1"},
		}
		stats, err := b.w.Query(b.ctx, job)
		require.NoError(t, err)
		bad := *job
		bad.JobID, bad.SQL = "bad", "SELECT CAST('x' AS INT64) AS x"
		_, err = b.w.Query(b.ctx, &bad)
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je))
		require.Contains(t, je.Message, "Conversion Error")

		jobs, err := b.w.Jobs(b.ctx)
		require.NoError(t, err)
		require.Len(t, jobs, 2)
		byID := map[string]JobRecord{jobs[0].JobID: jobs[0], jobs[1].JobID: jobs[1]}
		require.Equal(t, JobSucceeded, byID["ok"].State)
		require.Equal(t, stats, byID["ok"].Stats)
		require.Equal(t, job.Destination, byID["ok"].Destination)
		require.Equal(t, spec.DispositionAppend, byID["ok"].Disposition)
		require.Equal(t, job.Labels, byID["ok"].Labels)
		require.Nil(t, byID["ok"].Error)
		require.Equal(t, JobFailed, byID["bad"].State)
		require.Equal(t, je, byID["bad"].Error)
		require.Equal(t, [][]string{{"1"}}, b.rows(t, `SELECT count(*) FROM "p.d"."t"`))
	})

	t.Run("JobsAndTablesSurviveReopening", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "warehouse.duckdb")
		w, err := Open(context.Background(), path, nil)
		require.NoError(t, err)
		job := &warehouse.QueryJob{JobID: "j", SQL: "SELECT 1 AS x", Disposition: spec.DispositionAppend,
			Destination: sqlref.TableName{Project: "p", Dataset: "d", Table: "t"}}
		first, err := w.Query(context.Background(), job)
		require.NoError(t, err)
		require.NoError(t, w.Close())

		w, err = Open(context.Background(), path, nil)
		require.NoError(t, err)
		defer w.Close()
		again, err := w.Query(context.Background(), job)
		require.NoError(t, err)
		require.Equal(t, first, again)
		tb, err := w.Table(context.Background(), job.Destination)
		require.NoError(t, err)
		require.EqualValues(t, 1, tb.Rows, "the redelivered job did not append again")
	})

	t.Run("FailedWriteLeavesNeitherTableNorSucceededJob", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		// The error surfaces while rows are written, after DuckDB created the table in the transaction.
		_, err := b.w.Query(b.ctx, &warehouse.QueryJob{JobID: "j", Destination: sqlref.TableName{Project: "p", Dataset: "d", Table: "t"},
			SQL: "SELECT CAST(s AS INT64) AS n FROM UNNEST(['1', '2', 'x']) AS s"})
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je), "got %v", err)
		_, err = b.w.Table(b.ctx, sqlref.TableName{Project: "p", Dataset: "d", Table: "t"})
		require.ErrorIs(t, err, warehouse.ErrNotFound)
		jobs, err := b.w.Jobs(b.ctx)
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		require.Equal(t, JobFailed, jobs[0].State)
	})
}

func TestTableMeasuresTextBytesAndNamesDatetime(t *testing.T) {
	b := setup(t)
	b.query(t, "j1", "texts", `SELECT 'héllo ✓' AS s, b'\x00\xff' AS raw, JSON '{"a": "é"}' AS js,
		DATETIME '2024-02-29 13:45:30' AS wall, TIMESTAMP '2024-02-29 13:45:30+00' AS instant`)
	tb, err := b.w.Table(b.ctx, sqlref.TableName{Project: "acme-data", Dataset: "shop", Table: "texts"})
	require.NoError(t, err, "non-ASCII text must not break the size estimate")
	// 2 + 10 UTF-8 bytes, 2 + 2 bytes, 2 + len(`{"a":"é"}`) = 2 + 10, 8, 8.
	require.EqualValues(t, 12+4+12+8+8, tb.Bytes)
	require.Equal(t, []warehouse.Column{{Name: "s", Type: "STRING"}, {Name: "raw", Type: "BYTES"},
		{Name: "js", Type: "JSON"}, {Name: "wall", Type: "DATETIME"}, {Name: "instant", Type: "TIMESTAMP"}}, tb.Columns)
}
