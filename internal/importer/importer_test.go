package importer_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/importer"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

type bundle struct {
	im     *importer.Importer
	wh     *duckdbwarehouse.Warehouse
	bucket *localblob.Bucket
}

func setup(t *testing.T, conns []spec.Connection, env map[string]string) *bundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	bucket, err := localblob.Open(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	wh, err := duckdbwarehouse.Open(ctx, filepath.Join(dir, "warehouse"), &duckdbwarehouse.Options{DefaultProject: "shop", FilesDir: bucket.Dir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = wh.Close() })
	return &bundle{wh: wh, bucket: bucket, im: &importer.Importer{
		Connections: func(context.Context) ([]spec.Connection, error) { return conns, nil },
		Resolve:     secret.Resolver{Getenv: func(k string) string { return env[k] }}.Resolve,
		Bucket:      bucket, BucketName: "local",
		Warehouse:      wh,
		DefaultProject: "shop", DefaultDataset: "raw",
	}}
}

func (b *bundle) rows(t *testing.T, table string) int64 {
	t.Helper()
	tb, err := b.wh.Table(context.Background(), sqlref.TableName{Project: "shop", Dataset: "raw", Table: table})
	require.NoError(t, err)
	return tb.Rows
}

func TestImportsFromSQLiteInFullThenIncrementally(t *testing.T) {
	ctx := context.Background()
	srcPath := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", srcPath)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, note TEXT)`)
	require.NoError(t, err)
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			_, err := db.Exec(`INSERT INTO orders VALUES (?, ?, ?, NULL)`, i, fmt.Sprintf("c%d", i%7), float64(i)*1.5)
			require.NoError(t, err)
		}
	}
	insert(1, 100)

	b := setup(t, []spec.Connection{{Name: "shopdb", Driver: "sqlite", SecretRef: "env:SHOP_DB"}}, map[string]string{"SHOP_DB": srcPath})
	table := spec.Table{Name: "raw.orders", Kind: "import", SQL: "SELECT id, customer, amount, note FROM orders;",
		Import: &spec.Import{Connection: "shopdb", Watermark: "id"}}

	stats, err := b.im.Execute(ctx, "job-1", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 100, stats.Rows)
	require.EqualValues(t, 100, b.rows(t, "orders"))

	insert(101, 130)
	stats, err = b.im.Execute(ctx, "job-2", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 30, stats.Rows, "only the rows past the greatest id already loaded are read")
	require.EqualValues(t, 130, b.rows(t, "orders"))

	// A redelivered task attaches to the load it already made: nothing is loaded twice.
	_, err = b.im.Execute(ctx, "job-2", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 130, b.rows(t, "orders"))

	// Without a watermark every run re-imports the whole result.
	table.Import.Watermark = ""
	stats, err = b.im.Execute(ctx, "job-3", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 130, stats.Rows)
	require.EqualValues(t, 130, b.rows(t, "orders"))
}

func TestBadSourcesAreClearJobErrors(t *testing.T) {
	ctx := context.Background()
	b := setup(t, []spec.Connection{
		{Name: "shopdb", Driver: "sqlite", SecretRef: "env:SHOP_DB"},
		{Name: "nodsn", Driver: "postgres", SecretRef: "env:UNSET"},
	}, map[string]string{"SHOP_DB": filepath.Join(t.TempDir(), "empty.db")})

	var je *warehouse.JobError
	_, err := b.im.Execute(ctx, "j1", spec.Table{Name: "raw.x", Kind: "import", SQL: "SELECT * FROM nowhere",
		Import: &spec.Import{Connection: "shopdb"}}, &run.Node{})
	require.True(t, errors.As(err, &je), "got %v", err)
	require.False(t, je.Retryable)
	require.Contains(t, je.Message, "nowhere")

	_, err = b.im.Execute(ctx, "j2", spec.Table{Name: "raw.x", Kind: "import", SQL: "SELECT 1",
		Import: &spec.Import{Connection: "missing"}}, &run.Node{})
	require.True(t, errors.As(err, &je))
	require.Contains(t, je.Message, `unknown connection "missing"`)

	_, err = b.im.Execute(ctx, "j3", spec.Table{Name: "raw.x", Kind: "import", SQL: "SELECT 1",
		Import: &spec.Import{Connection: "nodsn"}}, &run.Node{})
	require.True(t, errors.As(err, &je))
	require.Contains(t, je.Message, "the environment variable UNSET is not set")
}

func TestImportsFromPostgreSQL(t *testing.T) {
	ctx := context.Background()
	dsn := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	if v := os.Getenv("MAESTRO_TEST_POSTGRES"); v != "" {
		dsn = v
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI: %v", err)
		}
		t.Skip("PostgreSQL is not reachable:", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("importer_events_%d", time.Now().UnixNano())
	_, err = conn.Exec(ctx, `CREATE TABLE `+name+` (id bigint, at timestamptz, payload jsonb, price numeric(12,2))`)
	require.NoError(t, err)
	defer conn.Exec(context.Background(), `DROP TABLE `+name)
	_, err = conn.Exec(ctx, `INSERT INTO `+name+` SELECT g, '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 minute',
		jsonb_build_object('n', g), g * 0.25 FROM generate_series(1, 500) g`)
	require.NoError(t, err)

	b := setup(t, []spec.Connection{{Name: "events", Driver: "postgres", SecretRef: "env:EVENTS_DSN"}}, map[string]string{"EVENTS_DSN": dsn})
	table := spec.Table{Name: "raw.events", Kind: "import", SQL: "SELECT id, at, payload::text AS payload, price FROM " + name,
		Import: &spec.Import{Connection: "events", Watermark: "at"}}
	stats, err := b.im.Execute(ctx, "pg-1", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 500, stats.Rows)

	_, err = conn.Exec(ctx, `INSERT INTO `+name+` SELECT g, '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 minute',
		jsonb_build_object('n', g), g * 0.25 FROM generate_series(501, 520) g`)
	require.NoError(t, err)
	stats, err = b.im.Execute(ctx, "pg-2", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 20, stats.Rows, "a timestamp watermark reads only the new rows")
	require.EqualValues(t, 520, b.rows(t, "events"))
}
