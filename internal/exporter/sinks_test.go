package exporter_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/export/sheets/sheetsfake"
	"github.com/maestro-sql/maestro/internal/exporter"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

func pgDSN() string {
	if dsn := os.Getenv("PGEXPORT_TEST_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// pgSchema connects to PostgreSQL and makes a schema of the test's own.
func pgSchema(t *testing.T) (*pgx.Conn, string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgDSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI: %v", err)
		}
		t.Skip("PostgreSQL is not reachable:", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "exporter_" + hex.EncodeToString(b[:])
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	})
	return conn, schema
}

type deliveries struct {
	mu   sync.Mutex
	list []store.Delivery
}

func (d *deliveries) DeliveryRecord(_ context.Context, x *store.Delivery) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, *x)
	return nil
}

// setupSinks is setup with what sheet and PostgreSQL exports need.
func setupSinks(t *testing.T, sheetsURL string) (*exporter.Exporter, builder, string) {
	t.Helper()
	e, b, dir := setup(t)
	bucket, err := localblob.Open(dir)
	require.NoError(t, err)
	e.Bucket = bucket
	e.Resolve = secret.Resolver{Getenv: func(k string) string {
		return map[string]string{"HOOK_KEY": "s3cret", "PG_DSN": pgDSN()}[k]
	}}.Resolve
	e.Connections = func(context.Context) ([]spec.Connection, error) {
		return []spec.Connection{{Name: "shop", Driver: "mysql", SecretRef: "env:NOPE"}, {Name: "crm", Driver: "postgres", SecretRef: "env:PG_DSN"}}, nil
	}
	e.RunTime = func(context.Context, string) (time.Time, error) {
		return time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC), nil
	}
	e.Sheets = exporter.SheetsService(sheetsURL)
	return e, b, dir
}

// TestPostgresExportKeepsTypesAndSurvivesARedelivery: values whose type CSV would lose (a
// 29-digit decimal, a time of day, bytes, NULL beside ”) arrive exactly; the same task run
// twice (its files removed by the first) leaves the table as one run made it.
func TestPostgresExportKeepsTypesAndSurvivesARedelivery(t *testing.T) {
	ctx := context.Background()
	pg, schema := pgSchema(t)
	e, b, dir := setupSinks(t, "")
	table := spec.Table{Name: "marts.daily", Kind: "query",
		SQL: "SELECT 1 AS id, CAST('12345678901234567890.123456789' AS NUMERIC(38, 9)) AS amount, TIME '06:30:00.25' AS t, " +
			"CAST('hi' AS BLOB) AS raw, '' AS name UNION ALL SELECT 2, NULL, NULL, NULL, NULL",
		Exports: []spec.Export{{Postgres: &spec.PostgresExport{Connection: "crm", Table: schema + ".daily"}}}}
	check := func() {
		t.Helper()
		var rows [][]any
		r, err := pg.Query(ctx, "SELECT id, amount::text, t::text, raw, name FROM "+schema+".daily ORDER BY id")
		require.NoError(t, err)
		for r.Next() {
			v, err := r.Values()
			require.NoError(t, err)
			rows = append(rows, v)
		}
		require.NoError(t, r.Err())
		require.Equal(t, [][]any{
			{int64(1), "12345678901234567890.123456789", "06:30:00.25", []byte("hi"), ""},
			{int64(2), nil, nil, nil, nil},
		}, rows)
	}
	_, err := e.Wrap(b).Execute(ctx, "job-pg", table, &run.Node{RunID: "r1"})
	require.NoError(t, err)
	check()
	left, err := os.ReadDir(dir + "/_maestro/exports/r1/job-pg-export1")
	if err == nil {
		require.Empty(t, left, "the intermediate rows are removed")
	}

	_, err = e.Wrap(b).Execute(ctx, "job-pg", table, &run.Node{RunID: "r1"})
	require.NoError(t, err, "a redelivered task exports again")
	check()
}

func TestPostgresExportRefusesAColumnTypeItCannotWrite(t *testing.T) {
	ctx := context.Background()
	_, schema := pgSchema(t)
	e, b, _ := setupSinks(t, "")
	table := spec.Table{Name: "marts.daily", Kind: "query", SQL: "SELECT 1 AS id, [1, 2] AS tags",
		Exports: []spec.Export{{Postgres: &spec.PostgresExport{Connection: "crm", Table: schema + ".daily"}}}}
	_, err := e.Wrap(b).Execute(ctx, "job-arr", table, &run.Node{RunID: "r1"})
	var je *warehouse.JobError
	require.True(t, errors.As(err, &je), "got %v", err)
	require.False(t, je.Retryable, "a retry would meet the same column")
	require.Contains(t, je.Message, `column "tags"`)

	table.Exports[0].Postgres.Connection = "shop"
	table.SQL = "SELECT 1 AS id"
	_, err = e.Wrap(b).Execute(ctx, "job-mysql", table, &run.Node{RunID: "r1"})
	require.ErrorAs(t, err, &je)
	require.False(t, je.Retryable)
	require.Contains(t, je.Message, `no postgres connection "shop"`)
}

// TestSheetExportRedeliveredWritesOneTab: the same task run twice leaves one tab of the run,
// holding the table.
func TestSheetExportRedeliveredWritesOneTab(t *testing.T) {
	ctx := context.Background()
	fake := sheetsfake.New()
	fake.AddSpreadsheet("1Book_abcdefghij", sheetsfake.Tab{Title: "Notes"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, b, _ := setupSinks(t, srv.URL+"/")
	rec := &deliveries{}
	e.Deliveries = rec
	hook := &receiver{}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	table := daily
	table.Exports = []spec.Export{{Sheet: &spec.SheetExport{SpreadsheetID: "1Book_abcdefghij"},
		Callback: &spec.Callback{URL: hookSrv.URL + "/x?k=v", SecretRef: "env:HOOK_KEY"}}}
	for range 2 {
		_, err := e.Wrap(b).Execute(ctx, "job-sheet", table, &run.Node{RunID: "r1"})
		require.NoError(t, err)
	}
	tabs := fake.Tabs("1Book_abcdefghij")
	require.Len(t, tabs, 2, "Notes and one tab of the run")
	require.Equal(t, "2026-11-25 06:00 UTC", tabs[1].Title)
	values, ok := fake.Values("1Book_abcdefghij", "2026-11-25 06:00 UTC")
	require.True(t, ok)
	require.Equal(t, [][]any{{"day", "name"}, {float64(1), "a"}, {float64(2), "b,with comma"}, {float64(3)}}, values, "Sheets leaves trailing empty cells out")

	require.Len(t, rec.list, 2, "one attempt per delivery")
	for _, d := range rec.list {
		require.Equal(t, store.Delivery{RunID: "r1", Table: "marts.daily", DeliveryID: "job-sheet-export1",
			URL: hookSrv.URL + "/x", Event: "export.completed", Attempt: 1, Started: d.Started, Duration: d.Duration,
			StatusCode: 200}, d)
	}
}

// TestSheetExportOverTheCellLimitFailsForGood: a spreadsheet that cannot take the table is
// refused before anything is written, and the node is not retried (a retry would meet it too).
func TestSheetExportOverTheCellLimitFailsForGood(t *testing.T) {
	ctx := context.Background()
	fake := sheetsfake.New()
	fake.AddSpreadsheet("1Full_abcdefghij", sheetsfake.Tab{Title: "Big", Rows: 5_000_000, Columns: 2})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	e, b, _ := setupSinks(t, srv.URL+"/")
	table := daily
	table.Exports = []spec.Export{{Sheet: &spec.SheetExport{SpreadsheetID: "1Full_abcdefghij"}}}
	_, err := e.Wrap(b).Execute(ctx, "job-full", table, &run.Node{RunID: "r1"})
	var je *warehouse.JobError
	require.True(t, errors.As(err, &je), "got %v", err)
	require.False(t, je.Retryable)
	require.Contains(t, je.Message, "over Google Sheets' limit of 10000000 cells")
	require.Len(t, fake.Tabs("1Full_abcdefghij"), 1, "nothing was added")
}
