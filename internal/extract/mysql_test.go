package extract_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/extract"
)

func mysqlDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/test")
	require.NoError(t, err)
	if err := db.PingContext(context.Background()); err != nil {
		t.Skipf("MariaDB on 127.0.0.1:3306 is not reachable: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mysqlTable(t *testing.T, db *sql.DB, columns string) string {
	t.Helper()
	name := fmt.Sprintf("extract_%d", time.Now().UnixNano())
	_, err := db.Exec(fmt.Sprintf("CREATE TABLE %s (%s)", name, columns))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP TABLE IF EXISTS " + name) })
	return name
}

func TestMySQL(t *testing.T) {
	t.Run("RoundTripsEveryTypeWithNulls", func(t *testing.T) {
		ctx := context.Background()
		db := mysqlDB(t)
		db.SetMaxOpenConns(1) // the zone set below is the one Run must override and restore
		_, err := db.Exec("SET time_zone = '+05:00'")
		require.NoError(t, err)
		table := mysqlTable(t, db, `id int, ti tinyint, bi bigint, ub bigint unsigned, d12 decimal(12,2),
			d38 decimal(38,10), f float, db double, bo bool, vc varchar(20), tx text, dt date, tm time,
			dtm datetime(6), ts timestamp(6) NULL, js json, bl blob, en enum('sad','ok','happy'), bt bit(8), yr year`)
		_, err = db.Exec(`INSERT INTO ` + table + ` VALUES
			(1, 127, 9223372036854775807, 18446744073709551615, 9999999999.99, 1234567890123456789012345678.0123456789,
			 1.5, 1.7976931348623157e308, true, 'héllo ✓ 世界', '', '2024-02-29', '-838:59:59',
			 '2024-02-29 12:34:56.789012', '2024-06-01 15:00:00.000001', '{"a": [1, "x"]}', x'00ff10', 'happy', b'10000001', 2024),
			(2, -128, -9223372036854775808, 0, -9999999999.99, -0.0000000001, -0.25, -0.5, false, '', 'x',
			 '1000-01-01', '00:00:00', '1000-01-01 00:00:00', '1970-01-01 05:00:01', '[]', '', 'sad', b'0', 1901),
			(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
		require.NoError(t, err)

		bucket := newBucket(t)
		res, err := extract.Run(ctx, extract.NewMySQL(db),
			extract.Query{SQL: "SELECT * FROM " + table + " ORDER BY id"}, extract.Sink{Bucket: bucket})
		require.NoError(t, err)
		require.Equal(t, int64(3), res.Rows)
		var zone string
		require.NoError(t, db.QueryRow("SELECT @@session.time_zone").Scan(&zone))
		require.Equal(t, "+05:00", zone, "the session's time zone is restored")

		// MariaDB's JSON is LONGTEXT with a check, so it arrives as a string.
		require.Equal(t, map[string]string{
			"id": "INT64", "ti": "INT64", "bi": "INT64", "ub": "NUMERIC", "d12": "NUMERIC", "d38": "BIGNUMERIC",
			"f": "FLOAT64", "db": "FLOAT64", "bo": "INT64", "vc": "STRING", "tx": "STRING", "dt": "DATE",
			"tm": "STRING", "dtm": "DATETIME", "ts": "TIMESTAMP", "js": "STRING", "bl": "BYTES", "en": "STRING",
			"bt": "INT64", "yr": "INT64",
		}, kinds(res.Columns))
		got := readBack(t, ctx, bucket, res)
		require.Len(t, got, 3)
		require.Equal(t, map[string]any{
			"id": int64(1), "ti": int64(127), "bi": int64(math.MaxInt64), "ub": "18446744073709551615",
			"d12": "9999999999.99", "d38": "1234567890123456789012345678.0123456789", "f": 1.5,
			"db": 1.7976931348623157e308, "bo": int64(1), "vc": "héllo ✓ 世界", "tx": "", "dt": "2024-02-29",
			"tm": "-838:59:59", "dtm": time.Date(2024, 2, 29, 12, 34, 56, 789012000, time.UTC),
			"ts": time.Date(2024, 6, 1, 10, 0, 0, 1000, time.UTC), "js": `{"a": [1, "x"]}`,
			"bl": b64("\x00\xff\x10"), "en": "happy", "bt": int64(129), "yr": int64(2024),
		}, got[0])
		require.Equal(t, map[string]any{
			"id": int64(2), "ti": int64(-128), "bi": int64(math.MinInt64), "ub": "0",
			"d12": "-9999999999.99", "d38": "-0.0000000001", "f": -0.25, "db": -0.5, "bo": int64(0),
			"vc": "", "tx": "x", "dt": "1000-01-01", "tm": "00:00:00",
			"dtm": time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), "ts": time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC),
			"js": `[]`, "bl": "", "en": "sad", "bt": int64(0), "yr": int64(1901),
		}, got[1])
		for name, v := range got[2] {
			if name != "id" {
				require.Nil(t, v, "column %s of the NULL row", name)
			}
		}
	})
}
