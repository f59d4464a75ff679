package extract_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/extract"
)

func pgConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Skipf("PostgreSQL on 127.0.0.1:5432 is not reachable: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// pgTable creates a table with a name unique to the test and drops it afterwards.
func pgTable(t *testing.T, conn *pgx.Conn, columns string) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("extract_%d", time.Now().UnixNano())
	_, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", name, columns))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+name) })
	return name
}

func TestPostgres(t *testing.T) {
	t.Run("RoundTripsEveryTypeWithNulls", func(t *testing.T) {
		ctx := context.Background()
		conn := pgConn(t)
		typ := fmt.Sprintf("mood_%d", time.Now().UnixNano())
		_, err := conn.Exec(ctx, "CREATE TYPE "+typ+" AS ENUM ('sad', 'ok', 'happy')")
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP TYPE IF EXISTS "+typ) })
		table := pgTable(t, conn, `id int8, i2 int2, i4 int4, i8 int8, n12 numeric(12,2), n38 numeric(38,10),
			nfree numeric, f4 float4, f8 float8, b bool, t text, vc varchar(20), d date, tm time,
			ts timestamp, tstz timestamptz, iv interval, js json, jb jsonb, u uuid, by bytea,
			e `+typ+`, ai int4[], at text[]`)
		_, err = conn.Exec(ctx, `SET TIME ZONE 'America/New_York'`)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `INSERT INTO `+table+` VALUES
			(1, 32767, 2147483647, 9223372036854775807, 9999999999.99, 1234567890123456789012345678.0123456789,
			 123456789012345678901234567890.123456789012345, 1.5, 1.7976931348623157e308, true, 'héllo ✓ 世界', '',
			 '2024-02-29', '23:59:59.999999', '2024-02-29 12:34:56.789012', '2024-06-01 12:00:00+02',
			 '1 year 2 mons 3 days 04:05:06.5', '{"a": [1, "x"]}', '{"b": null}',
			 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff10', 'happy', '{1,NULL,3}', '{"a b",NULL,""}'),
			(2, -32768, -2147483648, -9223372036854775808, -9999999999.99, -0.0000000001,
			 -1e-20, -0.25, -0.5, false, '', 'x', '1970-01-01', '00:00:00', '0001-01-01 00:00:00',
			 '1969-12-31 23:59:59.999999+00', '-1 days', '[]', '[]', '00000000-0000-0000-0000-000000000000', '',
			 'sad', '{}', '{}'),
			(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
			 NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
		require.NoError(t, err)

		bucket := newBucket(t)
		res, err := extract.Run(ctx, extract.NewPostgres(conn),
			extract.Query{SQL: "SELECT * FROM " + table + " ORDER BY id"}, extract.Sink{Bucket: bucket, Prefix: "pg/"})
		require.NoError(t, err)
		require.Equal(t, int64(3), res.Rows)
		require.Equal(t, []string{"pg/part-00000.parquet"}, res.Keys)
		require.Equal(t, map[string]string{
			"id": "INT64", "i2": "INT64", "i4": "INT64", "i8": "INT64", "n12": "NUMERIC", "n38": "BIGNUMERIC",
			"nfree": "STRING", "f4": "FLOAT64", "f8": "FLOAT64", "b": "BOOL", "t": "STRING", "vc": "STRING",
			"d": "DATE", "tm": "TIME", "ts": "DATETIME", "tstz": "TIMESTAMP", "iv": "STRING", "js": "JSON",
			"jb": "JSON", "u": "STRING", "by": "BYTES", "e": "STRING", "ai": "JSON", "at": "JSON",
		}, kinds(res.Columns))

		got := readBack(t, ctx, bucket, res)
		require.Len(t, got, 3)
		require.Equal(t, map[string]any{
			"id": int64(1), "i2": int64(32767), "i4": int64(2147483647), "i8": int64(math.MaxInt64),
			"n12": "9999999999.99", "n38": "1234567890123456789012345678.0123456789",
			"nfree": "123456789012345678901234567890.123456789012345", "f4": 1.5, "f8": 1.7976931348623157e308,
			"b": true, "t": "héllo ✓ 世界", "vc": "", "d": "2024-02-29", "tm": "23:59:59.999999",
			"ts":   time.Date(2024, 2, 29, 12, 34, 56, 789012000, time.UTC),
			"tstz": time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC),
			"iv":   "P1Y2M3DT4H5M6.5S", "js": `{"a": [1, "x"]}`, "jb": `{"b": null}`,
			"u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "by": b64("\x00\xff\x10"), "e": "happy",
			"ai": `[1,null,3]`, "at": `["a b",null,""]`,
		}, got[0])
		require.Equal(t, map[string]any{
			"id": int64(2), "i2": int64(-32768), "i4": int64(-2147483648), "i8": int64(math.MinInt64),
			"n12": "-9999999999.99", "n38": "-0.0000000001", "nfree": "-0.00000000000000000001",
			"f4": -0.25, "f8": -0.5, "b": false, "t": "", "vc": "x", "d": "1970-01-01", "tm": "00:00:00",
			"ts":   time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
			"tstz": time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
			"iv":   "P-1D", "js": `[]`, "jb": `[]`, "u": "00000000-0000-0000-0000-000000000000", "by": "",
			"e": "sad", "ai": `[]`, "at": `[]`,
		}, got[1])
		for name, v := range got[2] {
			if name != "id" {
				require.Nil(t, v, "column %s of the NULL row", name)
			}
		}
	})

	t.Run("ShardsByRowCount", func(t *testing.T) {
		ctx := context.Background()
		conn := pgConn(t)
		table := pgTable(t, conn, "id int8, s text")
		_, err := conn.Exec(ctx, "INSERT INTO "+table+" SELECT g, 'row ' || g FROM generate_series(1, 25000) g")
		require.NoError(t, err)
		bucket := newBucket(t)
		res, err := extract.Run(ctx, extract.NewPostgres(conn),
			extract.TableQuery(extract.DialectPostgres, extract.Table{Name: table}, "", nil),
			extract.Sink{Bucket: bucket, Prefix: "s/", ShardRows: 10000, RowGroupRows: 3000})
		require.NoError(t, err)
		require.Equal(t, []string{"s/part-00000.parquet", "s/part-00001.parquet", "s/part-00002.parquet"}, res.Keys)
		require.Equal(t, int64(25000), res.Rows)
		got := readBack(t, ctx, bucket, res)
		require.Len(t, got, 25000)
		seen := map[int64]bool{}
		for _, r := range got {
			id := r["id"].(int64)
			require.Equal(t, fmt.Sprintf("row %d", id), r["s"])
			seen[id] = true
		}
		require.Len(t, seen, 25000)
	})

	t.Run("EmptyResultWritesOneFileWithTheSchema", func(t *testing.T) {
		ctx := context.Background()
		conn := pgConn(t)
		table := pgTable(t, conn, "id int8, s text")
		bucket := newBucket(t)
		res, err := extract.Run(ctx, extract.NewPostgres(conn),
			extract.TableQuery(extract.DialectPostgres, extract.Table{Name: table}, "id", nil), extract.Sink{Bucket: bucket})
		require.NoError(t, err)
		require.Equal(t, []string{"part-00000.parquet"}, res.Keys)
		require.Zero(t, res.Rows)
		require.Nil(t, res.Watermark)
		require.Empty(t, readBack(t, ctx, bucket, res))
	})

	t.Run("RefusesInfinityTimestamps", func(t *testing.T) {
		ctx := context.Background()
		conn := pgConn(t)
		table := pgTable(t, conn, "ts timestamptz")
		_, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES ('infinity')")
		require.NoError(t, err)
		bucket := newBucket(t)
		_, err = extract.Run(ctx, extract.NewPostgres(conn),
			extract.TableQuery(extract.DialectPostgres, extract.Table{Name: table}, "", nil), extract.Sink{Bucket: bucket})
		require.ErrorContains(t, err, "infinity")
		keys, err := bucket.List(ctx, "")
		require.NoError(t, err)
		require.Empty(t, keys, "no partial file is left behind")
	})
}
