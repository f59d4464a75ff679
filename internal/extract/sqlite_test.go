package extract_test

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/maestro-sql/maestro/internal/extract"
)

func TestSQLite(t *testing.T) {
	t.Run("RoundTripsEveryTypeWithNulls", func(t *testing.T) {
		ctx := context.Background()
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "src.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		_, err = db.Exec(`CREATE TABLE things (id INTEGER, big BIGINT, r REAL, ok BOOLEAN, t TEXT, vc VARCHAR(10),
			d DATE, ts DATETIME, js JSON, bl BLOB, n NUMERIC)`)
		require.NoError(t, err)
		_, err = db.Exec(`INSERT INTO things VALUES
			(1, 9223372036854775807, 1.5, 1, 'héllo ✓ 世界', '', '2024-02-29', '2024-06-01 10:00:00.123456', '{"a":1}', x'00ff10', '12.50'),
			(2, -9223372036854775808, -0.25, 0, '', 'x', '1970-01-01', '1969-12-31 23:59:59', '[]', x'', 3),
			(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
		require.NoError(t, err)
		bucket := newBucket(t)
		res, err := extract.Run(ctx, extract.NewSQLite(db),
			extract.Query{SQL: "SELECT * FROM things ORDER BY id"}, extract.Sink{Bucket: bucket})
		require.NoError(t, err)
		require.Equal(t, map[string]string{
			"id": "INT64", "big": "INT64", "r": "FLOAT64", "ok": "BOOL", "t": "STRING", "vc": "STRING",
			"d": "DATE", "ts": "TIMESTAMP", "js": "JSON", "bl": "BYTES", "n": "STRING",
		}, kinds(res.Columns))
		got := readBack(t, ctx, bucket, res)
		require.Len(t, got, 3)
		require.Equal(t, map[string]any{
			"id": int64(1), "big": int64(math.MaxInt64), "r": 1.5, "ok": true, "t": "héllo ✓ 世界", "vc": "",
			"d": "2024-02-29", "ts": time.Date(2024, 6, 1, 10, 0, 0, 123456000, time.UTC), "js": `{"a":1}`,
			"bl": b64("\x00\xff\x10"), "n": "12.5",
		}, got[0])
		require.Equal(t, map[string]any{
			"id": int64(2), "big": int64(math.MinInt64), "r": -0.25, "ok": false, "t": "", "vc": "x",
			"d": "1970-01-01", "ts": time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), "js": `[]`, "bl": "", "n": "3",
		}, got[1])
		for name, v := range got[2] {
			if name != "id" {
				require.Nil(t, v, "column %s of the NULL row", name)
			}
		}
	})

	t.Run("RefusesAValueOfTheWrongType", func(t *testing.T) {
		ctx := context.Background()
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "src.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		_, err = db.Exec(`CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), ('abc')`)
		require.NoError(t, err)
		_, err = extract.Run(ctx, extract.NewSQLite(db), extract.Query{SQL: "SELECT * FROM t"}, extract.Sink{Bucket: newBucket(t)})
		require.ErrorContains(t, err, `column "n" of row 2`)
	})
}
