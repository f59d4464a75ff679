package importer_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

func (b *bundle) columns(t *testing.T, table string) []warehouse.Column {
	t.Helper()
	tb, err := b.wh.Table(context.Background(), sqlref.TableName{Project: "shop", Dataset: "raw", Table: table})
	require.NoError(t, err)
	return tb.Columns
}

// values reads one column of a warehouse table, ordered by id, rendered as text.
func (b *bundle) values(t *testing.T, table, column string) []any {
	t.Helper()
	rows, err := b.wh.Read(context.Background(), "SELECT CAST(`"+column+"` AS STRING) FROM raw."+table+" ORDER BY id",
		sqlref.Options{DefaultProject: "shop"}, 1000)
	require.NoError(t, err)
	out := make([]any, len(rows.Values))
	for i, r := range rows.Values {
		out[i] = r[0]
	}
	return out
}

func sqliteSource(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

func TestSchemaChangesOfAnIncrementalImport(t *testing.T) {
	ctx := context.Background()
	db, path := sqliteSource(t)
	_, err := db.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, amount REAL)`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO orders VALUES (1, 1.5), (2, 2.5)`)
	require.NoError(t, err)
	b := setup(t, []spec.Connection{{Name: "shopdb", Driver: "sqlite", SecretRef: "env:SHOP_DB"}}, map[string]string{"SHOP_DB": path})
	table := spec.Table{Name: "raw.orders", Kind: "import", SQL: "SELECT * FROM orders",
		Import: &spec.Import{Connection: "shopdb", Watermark: "id"}}
	_, err = b.im.Execute(ctx, "j1", table, &run.Node{})
	require.NoError(t, err)

	// A new column in the source: the table grows it, NULL in the rows imported before.
	_, err = db.Exec(`ALTER TABLE orders ADD COLUMN note TEXT`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO orders VALUES (3, 3.5, 'gift')`)
	require.NoError(t, err)
	stats, err := b.im.Execute(ctx, "j2", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.Rows)
	require.Equal(t, []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "amount", Type: "FLOAT64"}, {Name: "note", Type: "STRING"}},
		b.columns(t, "orders"))
	require.Equal(t, []any{nil, nil, "gift"}, b.values(t, "orders", "note"))

	// A retyped column fails, naming the table, the column and both types; nothing is loaded.
	_, err = db.Exec(`INSERT INTO orders VALUES (4, 4.5, NULL)`)
	require.NoError(t, err)
	retyped := table
	retyped.SQL = "SELECT id, CAST(amount AS TEXT) AS amount, note FROM orders"
	_, err = b.im.Execute(ctx, "j3", retyped, &run.Node{})
	var je *warehouse.JobError
	require.True(t, errors.As(err, &je), "got %v", err)
	require.False(t, je.Retryable, "a schema change does not heal by retrying")
	require.Contains(t, je.Message, "shop.raw.orders")
	require.Contains(t, je.Message, `column "amount" changed type from FLOAT64 to STRING`)
	require.Contains(t, je.Message, "on_schema_change: full_refresh")
	require.EqualValues(t, 3, b.rows(t, "orders"))

	// So does a removed column.
	removed := table
	removed.SQL = "SELECT id, amount FROM orders"
	_, err = b.im.Execute(ctx, "j4", removed, &run.Node{})
	require.True(t, errors.As(err, &je), "got %v", err)
	require.Contains(t, je.Message, `column "note" (STRING) is no longer in the import's result`)
	require.EqualValues(t, 3, b.rows(t, "orders"))

	// Unless the table asks for a full re-import on a change: every row, the new schema.
	retyped.Import = &spec.Import{Connection: "shopdb", Watermark: "id", OnSchemaChange: spec.SchemaChangeFullRefresh}
	stats, err = b.im.Execute(ctx, "j5", retyped, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 4, stats.Rows, "the whole result is read again")
	require.Equal(t, []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "amount", Type: "STRING"}, {Name: "note", Type: "STRING"}},
		b.columns(t, "orders"))
	require.Equal(t, []any{"1.5", "2.5", "3.5", "4.5"}, b.values(t, "orders", "amount"))
	partial, err := b.bucket.List(ctx, "imports/j5/")
	require.NoError(t, err)
	require.Empty(t, partial, "the incremental files of the run that turned full are removed")

	// And it is incremental again afterwards.
	_, err = db.Exec(`INSERT INTO orders VALUES (5, 5.5, NULL)`)
	require.NoError(t, err)
	stats, err = b.im.Execute(ctx, "j6", retyped, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.Rows)
	require.EqualValues(t, 5, b.rows(t, "orders"))
}

func TestPeriodicFullRefreshOfAnIncrementalImport(t *testing.T) {
	ctx := context.Background()
	db, path := sqliteSource(t)
	_, err := db.Exec(`CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT)`)
	require.NoError(t, err)
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			_, err := db.Exec(`INSERT INTO events VALUES (?, ?)`, i, fmt.Sprintf("k%d", i))
			require.NoError(t, err)
		}
	}
	insert(1, 10)
	b := setup(t, []spec.Connection{{Name: "shopdb", Driver: "sqlite", SecretRef: "env:SHOP_DB"}}, map[string]string{"SHOP_DB": path})
	table := spec.Table{Name: "raw.events", Kind: "import", SQL: "SELECT * FROM events",
		Import: &spec.Import{Connection: "shopdb", Watermark: "id", FullRefresh: &spec.FullRefresh{
			Conditions: spec.Conditions{Weekdays: []int{0}, Hours: []int{3}}, TimeZone: "Europe/Paris"}}}
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	var now time.Time
	b.im.Now = func() time.Time { return now }

	now = time.Date(2026, 11, 23, 3, 30, 0, 0, paris) // a Monday
	stats, err := b.im.Execute(ctx, "j1", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 10, stats.Rows)

	// Sunday 03:30 UTC is 04:30 in Paris: not due, so incremental.
	insert(11, 12)
	now = time.Date(2026, 11, 29, 3, 30, 0, 0, time.UTC)
	stats, err = b.im.Execute(ctx, "j2", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 2, stats.Rows)

	// A row changed in place is invisible to the watermark...
	_, err = db.Exec(`UPDATE events SET kind = 'fixed' WHERE id = 1`)
	require.NoError(t, err)
	insert(13, 13)
	now = time.Date(2026, 11, 29, 2, 59, 0, 0, time.UTC) // Sunday 03:59 in Paris: due
	stats, err = b.im.Execute(ctx, "j3", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 13, stats.Rows, "a due full refresh reads everything")
	require.EqualValues(t, 13, b.rows(t, "events"), "and replaces the table: no row twice")
	require.Equal(t, "fixed", b.values(t, "events", "kind")[0], "...until the full refresh")

	// An hour later it is incremental again.
	insert(14, 14)
	now = time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	stats, err = b.im.Execute(ctx, "j4", table, &run.Node{})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.Rows)
	require.EqualValues(t, 14, b.rows(t, "events"))
}

// importedIDs reads the id column (the first) of the files an import job wrote: the rows it
// read from the source.
func (b *bundle) importedIDs(t *testing.T, jobID string) []int64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(b.bucket.Dir(), "imports", jobID, "*.parquet"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	var ids []int64
	for _, p := range paths {
		f, err := os.Open(p)
		require.NoError(t, err)
		r := parquet.NewReader(f)
		rows := make([]parquet.Row, 64)
		for {
			n, err := r.ReadRows(rows)
			for _, row := range rows[:n] {
				ids = append(ids, row[0].Int64())
			}
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
		}
		require.NoError(t, r.Close())
		require.NoError(t, f.Close())
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// incrementalReadsOnlyNewRows imports a source table twice; the second run must read exactly
// the rows inserted in between, by an integer and by a timestamp watermark.
func incrementalReadsOnlyNewRows(t *testing.T, driver, dsn string, exec func(string) error, table, tsType string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, exec("CREATE TABLE "+table+" (id bigint, at "+tsType+", note varchar(20))"))
	t.Cleanup(func() { _ = exec("DROP TABLE " + table) })
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			require.NoError(t, exec(fmt.Sprintf("INSERT INTO %s VALUES (%d, '2026-01-01 00:00:00' + INTERVAL '%d' MINUTE, 'n%d')", table, i, i, i)))
		}
	}
	if driver == "postgres" {
		insert = func(from, to int) {
			require.NoError(t, exec(fmt.Sprintf(`INSERT INTO %s SELECT g, timestamptz '2026-01-01 00:00:00Z' + g * interval '1 minute', 'n' || g
				FROM generate_series(%d, %d) g`, table, from, to)))
		}
	}
	insert(1, 50)
	b := setup(t, []spec.Connection{{Name: "src", Driver: driver, SecretRef: "env:SRC_DSN"}}, map[string]string{"SRC_DSN": dsn})
	for _, wm := range []string{"id", "at"} {
		name := "by_" + wm
		spc := spec.Table{Name: "raw." + name, Kind: "import", SQL: "SELECT id, at, note FROM " + table,
			Import: &spec.Import{Connection: "src", Watermark: wm}}
		_, err := b.im.Execute(ctx, name+"-1", spc, &run.Node{})
		require.NoError(t, err)
		require.Len(t, b.importedIDs(t, name+"-1"), 50, "the first run reads everything")
	}
	insert(51, 57)
	for _, wm := range []string{"id", "at"} {
		name := "by_" + wm
		spc := spec.Table{Name: "raw." + name, Kind: "import", SQL: "SELECT id, at, note FROM " + table,
			Import: &spec.Import{Connection: "src", Watermark: wm}}
		stats, err := b.im.Execute(ctx, name+"-2", spc, &run.Node{})
		require.NoError(t, err)
		require.EqualValues(t, 7, stats.Rows)
		require.Equal(t, []int64{51, 52, 53, 54, 55, 56, 57}, b.importedIDs(t, name+"-2"), "watermark %s: only the new rows are read", wm)
		require.EqualValues(t, 57, b.rows(t, name))
	}
}

func TestPostgreSQLIncrementalImportReadsOnlyNewRows(t *testing.T) {
	ctx := context.Background()
	conn := pgConn(t)
	exec := func(q string) error { _, err := conn.Exec(ctx, q); return err }
	incrementalReadsOnlyNewRows(t, "postgres", pgDSN(), exec, uniqueName("inc_pg"), "timestamptz")
}

func TestMariaDBIncrementalImportReadsOnlyNewRows(t *testing.T) {
	db := mariaDB(t)
	exec := func(q string) error { _, err := db.Exec(q); return err }
	incrementalReadsOnlyNewRows(t, "mysql", mariaDSN, exec, uniqueName("inc_my"), "datetime(6)")
}
