package importer_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/extract"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
)

// typeCase is one source column of a round trip: a value written into the source database comes
// out of the warehouse equal, and the column has the expected types on the way.
type typeCase struct {
	col   string // column name
	ddl   string // the source's type
	value string // a SQL literal in the source's dialect
	// wh is the column's type in the DuckDB warehouse (GoogleSQL names, as Table reports them);
	// bq is the type a BigQuery load gives it (extract.Column.BigQueryType).
	wh, bq string
	// want is the value read back from the warehouse, rendered by DuckDB's CAST(... AS VARCHAR).
	want string
}

func pgDSN() string {
	if v := os.Getenv("MAESTRO_TEST_POSTGRES"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func pgConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgDSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI: %v", err)
		}
		t.Skip("PostgreSQL is not reachable:", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

const mariaDSN = "root@tcp(127.0.0.1:3306)/test"

func mariaDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", mariaDSN)
	require.NoError(t, err)
	if err := db.Ping(); err != nil {
		_ = db.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("MariaDB is required under CI: %v", err)
		}
		t.Skip("MariaDB is not reachable:", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func uniqueName(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
}

// roundTrip creates a source table with an id and one column per case (through exec), inserts
// one row of the values and one row of NULLs, imports it through the Importer into DuckDB and
// compares what the warehouse holds with the cases.
func roundTrip(t *testing.T, driver, dsn string, src extract.Source, exec func(string) error, table string, cases []typeCase) {
	t.Helper()
	ctx := context.Background()
	defs, cols, vals, nulls := []string{"id int"}, []string{"id"}, []string{"1"}, []string{"2"}
	for _, c := range cases {
		defs = append(defs, c.col+" "+c.ddl)
		cols = append(cols, c.col)
		vals = append(vals, c.value)
		nulls = append(nulls, "NULL")
	}
	require.NoError(t, exec("CREATE TABLE "+table+" ("+strings.Join(defs, ", ")+")"))
	t.Cleanup(func() { _ = exec("DROP TABLE " + table) })
	require.NoError(t, exec(fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s), (%s)", table,
		strings.Join(cols, ", "), strings.Join(vals, ", "), strings.Join(nulls, ", "))))
	query := "SELECT " + strings.Join(cols, ", ") + " FROM " + table

	// The types a BigQuery load would give the columns, from the extract's own schema.
	bucket, err := localblob.Open(t.TempDir())
	require.NoError(t, err)
	res, err := extract.Run(ctx, src, extract.Query{SQL: query}, extract.Sink{Bucket: bucket})
	require.NoError(t, err)
	require.Len(t, res.Columns, len(cases)+1)
	for i, c := range cases {
		require.Equal(t, c.bq, res.Columns[i+1].BigQueryType(), "BigQuery type of %s %s", c.col, c.ddl)
	}

	b := setup(t, []spec.Connection{{Name: "src", Driver: driver, SecretRef: "env:SRC_DSN"}}, map[string]string{"SRC_DSN": dsn})
	_, err = b.im.Execute(ctx, "rt-1", spec.Table{Name: "raw.types", Kind: "import", SQL: query,
		Import: &spec.Import{Connection: "src"}}, &run.Node{})
	require.NoError(t, err)

	tb, err := b.wh.Table(ctx, sqlref.TableName{Project: "shop", Dataset: "raw", Table: "types"})
	require.NoError(t, err)
	require.Len(t, tb.Columns, len(cases)+1)
	casts := []string{"id"}
	for i, c := range cases {
		require.Equal(t, c.col, tb.Columns[i+1].Name)
		require.Equal(t, c.wh, tb.Columns[i+1].Type, "warehouse type of %s %s", c.col, c.ddl)
		casts = append(casts, "CAST(`"+c.col+"` AS STRING)")
	}
	rows, err := b.wh.Read(ctx, "SELECT "+strings.Join(casts, ", ")+" FROM raw.types ORDER BY id",
		sqlref.Options{DefaultProject: "shop", DefaultDataset: "raw"}, 10)
	require.NoError(t, err)
	require.Len(t, rows.Values, 2)
	for i, c := range cases {
		require.Equal(t, c.want, rows.Values[0][i+1], "value of %s %s (inserted %s)", c.col, c.ddl, c.value)
		require.Nil(t, rows.Values[1][i+1], "NULL in %s %s", c.col, c.ddl)
	}
}

func TestPostgreSQLTypesRoundTripIntoTheWarehouse(t *testing.T) {
	ctx := context.Background()
	conn := pgConn(t)
	enum := uniqueName("rt_mood")
	_, err := conn.Exec(ctx, "CREATE TYPE "+enum+" AS ENUM ('sad', 'ok', 'happy')")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP TYPE IF EXISTS "+enum) })
	exec := func(q string) error { _, err := conn.Exec(ctx, q); return err }

	roundTrip(t, "postgres", pgDSN(), extract.NewPostgres(conn), exec, uniqueName("rt_pg_types"), []typeCase{
		{"i2", "smallint", "-32768", "INT64", "INT64", "-32768"},
		{"i4", "integer", "2147483647", "INT64", "INT64", "2147483647"},
		{"i8", "bigint", "-9223372036854775808", "INT64", "INT64", "-9223372036854775808"},
		{"n38", "numeric(38,9)", "12345678901234567890123456789.123456789", "NUMERIC", "NUMERIC", "12345678901234567890123456789.123456789"},
		{"n38neg", "numeric(38,9)", "-0.000000001", "NUMERIC", "NUMERIC", "-0.000000001"},
		{"n12", "numeric(12,2)", "-1234567890.05", "NUMERIC", "NUMERIC", "-1234567890.05"},
		{"n38s20", "numeric(38,20)", "123456789012345678.12345678901234567890", "NUMERIC", "BIGNUMERIC", "123456789012345678.12345678901234567890"},
		{"nfree", "numeric", "3.14159265358979323846264338327950288419716939937510", "STRING", "STRING", "3.14159265358979323846264338327950288419716939937510"},
		{"f4", "real", "1.5", "FLOAT64", "FLOAT64", "1.5"},
		{"f4tenth", "real", "0.1", "FLOAT64", "FLOAT64", "0.1"},
		{"f8", "double precision", "0.1", "FLOAT64", "FLOAT64", "0.1"},
		{"f8nan", "double precision", "'NaN'", "FLOAT64", "FLOAT64", "nan"},
		{"f8inf", "double precision", "'-Infinity'", "FLOAT64", "FLOAT64", "-inf"},
		{"empty", "text", "''", "STRING", "STRING", ""},
		{"b", "boolean", "true", "BOOL", "BOOL", "true"},
		{"txt", "text", "'héllo ''world'' ✓'", "STRING", "STRING", "héllo 'world' ✓"},
		{"vc", "varchar(10)", "'abc'", "STRING", "STRING", "abc"},
		{"ch", "char(5)", "'ab'", "STRING", "STRING", "ab   "},
		{"d", "date", "'2024-02-29'", "DATE", "DATE", "2024-02-29"},
		{"dold", "date", "'0001-01-01'", "DATE", "DATE", "0001-01-01"},
		{"dmax", "date", "'9999-12-31'", "DATE", "DATE", "9999-12-31"},
		{"tm", "time", "'13:45:30.123456'", "TIME", "TIME", "13:45:30.123456"},
		{"ts", "timestamp", "'2024-02-29 13:45:30.123456'", "DATETIME", "DATETIME", "2024-02-29 13:45:30.123456"},
		{"tstz", "timestamptz", "'2024-02-29 13:45:30.123456+02'", "TIMESTAMP", "TIMESTAMP", "2024-02-29 11:45:30.123456+00"},
		{"iv", "interval", "'1 year 2 mons 3 days 04:05:06.5'", "STRING", "STRING", "P1Y2M3DT4H5M6.5S"},
		{"js", "json", `'{"b": 1, "a": [1, 2.50]}'`, "JSON", "JSON", `{"b": 1, "a": [1, 2.50]}`},
		{"jsb", "jsonb", `'{"b": 1, "a": [1, 2.50]}'`, "JSON", "JSON", `{"a": [1, 2.50], "b": 1}`},
		{"u", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "STRING", "STRING", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"by", "bytea", `'\x00ff41'`, "BYTES", "BYTES", `\x00\xFFA`},
		{"en", enum, "'happy'", "STRING", "STRING", "happy"},
		{"ia", "int[]", "'{1,NULL,3}'", "JSON", "JSON", "[1,null,3]"},
		{"ta", "text[]", `'{"a","b c",NULL}'`, "JSON", "JSON", `["a","b c",null]`},
	})
}

func TestMariaDBTypesRoundTripIntoTheWarehouse(t *testing.T) {
	ctx := context.Background()
	db := mariaDB(t)
	// One connection, so that the session zone below applies to the INSERT.
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	// TIMESTAMP is an instant: written at +02:00, it must come out two hours earlier in UTC.
	_, err = conn.ExecContext(ctx, "SET time_zone = '+02:00'")
	require.NoError(t, err)
	exec := func(q string) error { _, err := conn.ExecContext(ctx, q); return err }

	roundTrip(t, "mysql", mariaDSN, extract.NewMySQL(db), exec, uniqueName("rt_my_types"), []typeCase{
		{"ti", "tinyint", "-128", "INT64", "INT64", "-128"},
		{"tiu", "tinyint unsigned", "255", "INT64", "INT64", "255"},
		{"si", "smallint", "-32768", "INT64", "INT64", "-32768"},
		{"mi", "mediumint unsigned", "16777215", "INT64", "INT64", "16777215"},
		{"i", "int", "-2147483648", "INT64", "INT64", "-2147483648"},
		{"iu", "int unsigned", "4294967295", "INT64", "INT64", "4294967295"},
		{"bi", "bigint", "-9223372036854775808", "INT64", "INT64", "-9223372036854775808"},
		{"biu", "bigint unsigned", "18446744073709551615", "NUMERIC", "NUMERIC", "18446744073709551615"},
		{"n38", "decimal(38,9)", "12345678901234567890123456789.123456789", "NUMERIC", "NUMERIC", "12345678901234567890123456789.123456789"},
		{"n12", "decimal(12,2)", "-1234567890.05", "NUMERIC", "NUMERIC", "-1234567890.05"},
		{"n65", "decimal(65,30)", "12345678901234567890123456789012345.123456789012345678901234567890", "STRING", "STRING", "12345678901234567890123456789012345.123456789012345678901234567890"},
		{"f", "float", "1.5", "FLOAT64", "FLOAT64", "1.5"},
		{"ftenth", "float", "0.1", "FLOAT64", "FLOAT64", "0.1"},
		{"empty", "varchar(5)", "''", "STRING", "STRING", ""},
		{"dbl", "double", "0.1", "FLOAT64", "FLOAT64", "0.1"},
		{"bo", "bool", "true", "INT64", "INT64", "1"},
		{"ch", "char(5)", "'ab'", "STRING", "STRING", "ab"},
		{"vc", "varchar(20)", "'héllo ✓'", "STRING", "STRING", "héllo ✓"},
		{"tx", "text", "'it''s'", "STRING", "STRING", "it's"},
		{"d", "date", "'2024-02-29'", "DATE", "DATE", "2024-02-29"},
		{"tm", "time(6)", "'-12:34:56.5'", "STRING", "STRING", "-12:34:56.500000"},
		{"dt", "datetime(6)", "'2024-02-29 13:45:30.123456'", "DATETIME", "DATETIME", "2024-02-29 13:45:30.123456"},
		{"ts", "timestamp(6) NULL", "'2024-02-29 13:45:30.123456'", "TIMESTAMP", "TIMESTAMP", "2024-02-29 11:45:30.123456+00"},
		{"yr", "year", "2024", "INT64", "INT64", "2024"},
		{"js", "json", `'{"a": [1, 2]}'`, "STRING", "STRING", `{"a": [1, 2]}`},
		{"u", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "STRING", "STRING", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{"bl", "blob", "x'00ff41'", "BYTES", "BYTES", `\x00\xFFA`},
		{"bn", "binary(3)", "x'00ff41'", "BYTES", "BYTES", `\x00\xFFA`},
		{"vb", "varbinary(8)", "x'0102'", "BYTES", "BYTES", `\x01\x02`},
		{"en", "enum('sad','ok','happy')", "'happy'", "STRING", "STRING", "happy"},
		{"st", "set('a','b','c')", "'a,c'", "STRING", "STRING", "a,c"},
		{"bt", "bit(12)", "b'101000000001'", "INT64", "INT64", "2561"},
	})
}

func TestSQLiteTypesRoundTripIntoTheWarehouse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "src.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	exec := func(q string) error { _, err := db.Exec(q); return err }

	roundTrip(t, "sqlite", path, extract.NewSQLite(db), exec, "rt_types", []typeCase{
		{"i", "INTEGER", "-9223372036854775808", "INT64", "INT64", "-9223372036854775808"},
		{"bi", "BIGINT", "9223372036854775807", "INT64", "INT64", "9223372036854775807"},
		{"r", "REAL", "0.1", "FLOAT64", "FLOAT64", "0.1"},
		{"dbl", "DOUBLE", "-1.5e300", "FLOAT64", "FLOAT64", "-1.5e+300"},
		{"b", "BOOLEAN", "1", "BOOL", "BOOL", "true"},
		{"n", "NUMERIC", "12.5", "STRING", "STRING", "12.5"},
		{"dec", "DECIMAL(10,2)", "'1234.50'", "STRING", "STRING", "1234.5"},
		{"txt", "TEXT", "'héllo ✓'", "STRING", "STRING", "héllo ✓"},
		{"empty", "TEXT", "''", "STRING", "STRING", ""},
		{"vc", "VARCHAR(10)", "'abc'", "STRING", "STRING", "abc"},
		{"d", "DATE", "'2024-02-29'", "DATE", "DATE", "2024-02-29"},
		{"dt", "DATETIME", "'2024-02-29 13:45:30.123456'", "TIMESTAMP", "TIMESTAMP", "2024-02-29 13:45:30.123456+00"},
		{"ts", "TIMESTAMP", "'2024-02-29T13:45:30+02:00'", "TIMESTAMP", "TIMESTAMP", "2024-02-29 11:45:30+00"},
		{"js", "JSON", `'{"a": [1, 2]}'`, "JSON", "JSON", `{"a": [1, 2]}`},
		{"bl", "BLOB", "x'00ff41'", "BYTES", "BYTES", `\x00\xFFA`},
	})
}
