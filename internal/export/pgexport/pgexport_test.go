package pgexport_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/export/pgexport"
)

// testDSN is PostgreSQL 15 on this machine (trust auth); PGEXPORT_TEST_DSN overrides it.
func testDSN() string {
	if dsn := os.Getenv("PGEXPORT_TEST_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

type testBundle struct {
	dsn    string
	conn   *pgx.Conn
	schema string
}

// setup connects and creates a schema of the test's own, dropped when the test ends.
func setup(t *testing.T) testBundle {
	t.Helper()
	ctx := t.Context()
	conn := connect(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "pgexport_" + hex.EncodeToString(b[:])
	_, err := conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		require.NoError(t, err)
	})
	return testBundle{dsn: testDSN(), conn: conn, schema: schema}
}

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI: %v", err)
		}
		t.Skipf("PostgreSQL not reachable at %s: %v", testDSN(), err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func (b testBundle) query(t *testing.T, sql string, args ...any) [][]any {
	t.Helper()
	rows, err := b.conn.Query(t.Context(), sql, args...)
	require.NoError(t, err)
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		require.NoError(t, err)
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

func (b testBundle) stagingTables(t *testing.T) [][]any {
	return b.query(t, "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'maestro_staging_%'", b.schema)
}

var markerColumns = []pgexport.Column{
	{Name: "id", Type: pgexport.Int64, Required: true},
	{Name: "marker", Type: pgexport.String},
}

// markerRows yields n rows (i, marker).
func markerRows(n int, marker string) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i + 1), marker}
	}
	return rows
}

func TestExport(t *testing.T) {
	t.Parallel()

	t.Run("CreatesTheTableWithEveryType", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		columns := []pgexport.Column{
			{Name: "i", Type: pgexport.Int64, Required: true},
			{Name: "f", Type: pgexport.Float64},
			{Name: "n", Type: pgexport.Numeric},
			{Name: "b", Type: pgexport.Bool},
			{Name: "s", Type: pgexport.String},
			{Name: "raw", Type: pgexport.Bytes},
			{Name: "d", Type: pgexport.Date},
			{Name: "t", Type: pgexport.Time},
			{Name: "dt", Type: pgexport.DateTime},
			{Name: "ts", Type: pgexport.Timestamp},
			{Name: "j", Type: pgexport.JSON},
		}
		ts := time.Date(2026, 11, 25, 10, 30, 0, 123456000, time.UTC)
		num := pgtype.Numeric{Int: big.NewInt(12345678901234567), Exp: -4, Valid: true}
		rows := [][]any{
			{int64(1), 1.5, num, true, "héllo, 'quoted' \"text\"", []byte{0, 1, 255}, ts, pgtype.Time{Microseconds: 37800123456, Valid: true}, ts, ts, `{"a": [1, 2]}`},
			{int64(2), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		}
		res, err := pgexport.Export(t.Context(), b.conn, pgexport.Destination{Schema: b.schema, Table: "all_types"}, columns, pgx.CopyFromRows(rows), nil)
		require.NoError(t, err)
		require.Equal(t, int64(2), res.Rows)

		types := b.query(t, `SELECT column_name, data_type, is_nullable FROM information_schema.columns
			WHERE table_schema = $1 AND table_name = 'all_types' ORDER BY ordinal_position`, b.schema)
		require.Equal(t, [][]any{
			{"i", "bigint", "NO"}, {"f", "double precision", "YES"}, {"n", "numeric", "YES"},
			{"b", "boolean", "YES"}, {"s", "text", "YES"}, {"raw", "bytea", "YES"}, {"d", "date", "YES"},
			{"t", "time without time zone", "YES"}, {"dt", "timestamp without time zone", "YES"},
			{"ts", "timestamp with time zone", "YES"}, {"j", "jsonb", "YES"},
		}, types)

		got := b.query(t, `SELECT i, f, n::text, b, s, raw, d::text, t::text, dt::text, ts AT TIME ZONE 'UTC', j::text
			FROM `+b.schema+`.all_types ORDER BY i`)
		require.Equal(t, []any{int64(1), 1.5, "1234567890123.4567", true, "héllo, 'quoted' \"text\"", []byte{0, 1, 255},
			"2026-11-25", "10:30:00.123456", "2026-11-25 10:30:00.123456",
			time.Date(2026, 11, 25, 10, 30, 0, 123456000, time.UTC), `{"a": [1, 2]}`}, got[0])
		require.Equal(t, []any{int64(2), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}, got[1])
		require.Empty(t, b.stagingTables(t))
	})

	t.Run("QuotesHostileNamesInsteadOfExecutingThem", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := b.conn.Exec(t.Context(), "CREATE TABLE "+b.schema+".victim (x int); INSERT INTO "+b.schema+".victim VALUES (1)")
		require.NoError(t, err)
		table := `orders"; DROP TABLE ` + b.schema + `.victim; --`
		columns := []pgexport.Column{
			{Name: `id"); DROP TABLE ` + b.schema + `.victim; --`, Type: pgexport.Int64},
			{Name: `Mixed Case;'quote'`, Type: pgexport.String},
			{Name: `a"b`, Type: pgexport.String},
		}
		rows := [][]any{{int64(7), "x", "y"}}
		_, err = pgexport.Export(t.Context(), b.conn, pgexport.Destination{Schema: b.schema, Table: table}, columns, pgx.CopyFromRows(rows), nil)
		require.NoError(t, err)

		require.Equal(t, [][]any{{int32(1)}}, b.query(t, "SELECT x FROM "+b.schema+".victim"))
		require.Equal(t, [][]any{{table}, {"victim"}}, b.query(t, "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename", b.schema))
		require.Equal(t, [][]any{{columns[0].Name}, {columns[1].Name}, {columns[2].Name}}, b.query(t,
			"SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position", b.schema, table))
		require.Equal(t, [][]any{{int64(7), "x", "y"}}, b.query(t, "SELECT * FROM "+pgx.Identifier{b.schema, table}.Sanitize()))

		// A second export replaces it by the same exact name.
		_, err = pgexport.Export(t.Context(), b.conn, pgexport.Destination{Schema: b.schema, Table: table}, columns, pgx.CopyFromRows([][]any{{int64(8), "p", "q"}}), nil)
		require.NoError(t, err)
		require.Equal(t, [][]any{{int64(8), "p", "q"}}, b.query(t, "SELECT * FROM "+pgx.Identifier{b.schema, table}.Sanitize()))
	})

	t.Run("RefusesNamesPostgresWouldAlter", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		long := "t" + fmt.Sprintf("%064d", 0)
		for dest, cols := range map[pgexport.Destination][]pgexport.Column{
			{Schema: b.schema, Table: ""}:         markerColumns,
			{Schema: b.schema, Table: long}:       markerColumns,
			{Schema: b.schema, Table: "nul\x00x"}: markerColumns,
			{Schema: b.schema, Table: "dup"}:      {{Name: "a", Type: pgexport.String}, {Name: "a", Type: pgexport.Int64}},
			{Schema: b.schema, Table: "badtype"}:  {{Name: "a", Type: "int; DROP TABLE x"}},
			{Schema: b.schema, Table: "nocols"}:   nil,
		} {
			_, err := pgexport.Export(t.Context(), b.conn, dest, cols, pgx.CopyFromRows(nil), nil)
			require.Error(t, err, "%q", dest.Table)
		}
		require.Empty(t, b.query(t, "SELECT tablename FROM pg_tables WHERE schemaname = $1", b.schema))
	})

	t.Run("AFailedExportLeavesTheOldTableIntact", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		dest := pgexport.Destination{Schema: b.schema, Table: "orders"}
		_, err := pgexport.Export(t.Context(), b.conn, dest, markerColumns, pgx.CopyFromRows(markerRows(100, "old")), nil)
		require.NoError(t, err)

		bad := markerRows(5000, "new")
		bad[4000][0] = "not a number"
		_, err = pgexport.Export(t.Context(), b.conn, dest, markerColumns, pgx.CopyFromRows(bad), nil)
		require.ErrorContains(t, err, "error copying rows into staging table")

		nulls := markerRows(10, "new")
		nulls[3][0] = nil // id is NOT NULL
		_, err = pgexport.Export(t.Context(), b.conn, dest, markerColumns, pgx.CopyFromRows(nulls), nil)
		require.ErrorContains(t, err, "null value")

		_, err = pgexport.Export(t.Context(), b.conn, dest, markerColumns, &failingRows{rows: markerRows(50, "new"), failAt: 20}, nil)
		require.ErrorContains(t, err, "source database went away")

		// Cancelling mid-COPY closes the connection (pgx's behaviour); the server rolls back.
		doomed := connect(t)
		ctx, cancel := context.WithCancel(t.Context())
		_, err = pgexport.Export(ctx, doomed, dest, markerColumns, &failingRows{rows: markerRows(50, "new"), failAt: 20, onFail: cancel}, nil)
		require.Error(t, err)

		require.Equal(t, [][]any{{int64(100), "old", "old"}}, b.query(t, "SELECT count(*), min(marker), max(marker) FROM "+b.schema+".orders"))
		require.Empty(t, b.stagingTables(t))
	})

	t.Run("ConcurrentReadersSeeAllOldOrAllNewRows", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		dest := pgexport.Destination{Schema: b.schema, Table: "orders"}
		_, err := pgexport.Export(t.Context(), b.conn, dest, markerColumns, pgx.CopyFromRows(markerRows(1000, "v0")), nil)
		require.NoError(t, err)

		const readers = 3
		const exports = 5
		var stop atomic.Bool
		var wg sync.WaitGroup
		seen := make([]map[string]int, readers)
		errs := make(chan error, readers)
		for r := range readers {
			reader := connect(t)
			seen[r] = map[string]int{}
			wg.Go(func() {
				for !stop.Load() {
					var count int64
					var lo, hi string
					err := reader.QueryRow(t.Context(), "SELECT count(*), min(marker), max(marker) FROM "+b.schema+".orders").Scan(&count, &lo, &hi)
					if err != nil {
						errs <- err
						return
					}
					seen[r][fmt.Sprintf("%d %s %s", count, lo, hi)]++
				}
			})
		}
		want := map[string]bool{"1000 v0 v0": true}
		for v := 1; v <= exports; v++ {
			n := 1000 + v*20000
			marker := fmt.Sprintf("v%d", v)
			want[fmt.Sprintf("%d %s %s", n, marker, marker)] = true
			_, err := pgexport.Export(t.Context(), b.conn, dest, markerColumns, pgx.CopyFromRows(markerRows(n, marker)), nil)
			require.NoError(t, err)
		}
		stop.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "a reader failed during the swap")
		}
		reads := 0
		for _, s := range seen {
			for state, n := range s {
				require.True(t, want[state], "a reader saw a partial table: %q", state)
				reads += n
			}
		}
		t.Logf("%d reads during %d swaps, states seen: %v", reads, exports, seen)
		require.Empty(t, b.stagingTables(t))
	})

	t.Run("ConcurrentExportsToOneTableRunOneAfterTheOther", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		dest := pgexport.Destination{Schema: b.schema, Table: "orders"}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			conn := connect(t)
			wg.Go(func() {
				_, errs[i] = pgexport.Export(t.Context(), conn, dest, markerColumns, pgx.CopyFromRows(markerRows(1000*(i+1), fmt.Sprintf("e%d", i))), nil)
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		got := b.query(t, "SELECT count(*), min(marker), max(marker) FROM "+b.schema+".orders")
		require.Len(t, got, 1)
		require.Equal(t, got[0][1], got[0][2])
		require.Equal(t, got[0][0], int64(1000*(int(got[0][1].(string)[1]-'0')+1)))
	})
}

// failingRows yields rows then fails at row failAt, as a source that loses its connection would.
type failingRows struct {
	rows   [][]any
	failAt int
	i      int
	onFail func()
	err    error
}

func (f *failingRows) Next() bool {
	if f.i == f.failAt {
		f.err = fmt.Errorf("source database went away")
		if f.onFail != nil {
			f.onFail()
		}
		return false
	}
	if f.i >= len(f.rows) {
		return false
	}
	f.i++
	return true
}

func (f *failingRows) Values() ([]any, error) { return f.rows[f.i-1], nil }
func (f *failingRows) Err() error             { return f.err }

// BenchmarkExport measures rows per second for a 5-column table into PostgreSQL on this machine.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		b.Skipf("PostgreSQL not reachable: %v", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS pgexport_bench")
	require.NoError(b, err)
	defer conn.Exec(ctx, "DROP SCHEMA pgexport_bench CASCADE")
	columns := []pgexport.Column{
		{Name: "id", Type: pgexport.Int64}, {Name: "name", Type: pgexport.String}, {Name: "amount", Type: pgexport.Float64},
		{Name: "ok", Type: pgexport.Bool}, {Name: "at", Type: pgexport.Timestamp},
	}
	const n = 200_000
	at := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for b.Loop() {
		_, err := pgexport.Export(ctx, conn, pgexport.Destination{Schema: "pgexport_bench", Table: "t"}, columns, &generatedRows{n: n, at: at}, nil)
		require.NoError(b, err)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

type generatedRows struct {
	i, n int
	at   time.Time
	row  [5]any
}

func (g *generatedRows) Next() bool { g.i++; return g.i <= g.n }
func (g *generatedRows) Values() ([]any, error) {
	g.row = [5]any{int64(g.i), "customer name", float64(g.i) * 1.25, g.i%2 == 0, g.at}
	return g.row[:], nil
}
func (g *generatedRows) Err() error { return nil }
