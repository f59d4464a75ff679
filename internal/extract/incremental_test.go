package extract_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/extract"
)

func TestIncremental(t *testing.T) {
	t.Run("QuotesIdentifiersAndBindsTheValue", func(t *testing.T) {
		q := extract.TableQuery(extract.DialectPostgres, extract.Table{Schema: "my schema", Name: `we"ird`}, "select", int64(7))
		require.Equal(t, `SELECT * FROM "my schema"."we""ird" WHERE "select" > $1`, q.SQL)
		require.Equal(t, []any{int64(7)}, q.Args)
		q = extract.TableQuery(extract.DialectMySQL, extract.Table{Name: "we`ird"}, "id", int64(7))
		require.Equal(t, "SELECT * FROM `we``ird` WHERE `id` > ?", q.SQL)
		q = extract.TableQuery(extract.DialectSQLite, extract.Table{Name: "t"}, "id", nil)
		require.Equal(t, `SELECT * FROM "t"`, q.SQL, "no watermark yet: a full import")
		require.Empty(t, q.Args)
	})

	t.Run("PostgresReadsOnlyNewRowsByID", func(t *testing.T) {
		ctx := context.Background()
		conn := pgConn(t)
		table := pgTable(t, conn, "id int8, s text")
		_, err := conn.Exec(ctx, "INSERT INTO "+table+" SELECT g, 'a' FROM generate_series(1, 1000) g")
		require.NoError(t, err)
		src := extract.NewPostgres(conn)
		bucket := newBucket(t)
		res, err := extract.Run(ctx, src, extract.TableQuery(extract.DialectPostgres, extract.Table{Schema: "public", Name: table}, "id", nil),
			extract.Sink{Bucket: bucket, Prefix: "run1/"})
		require.NoError(t, err)
		require.Equal(t, int64(1000), res.Rows)
		require.Equal(t, int64(1000), res.Watermark)

		_, err = conn.Exec(ctx, "INSERT INTO "+table+" SELECT g, 'b' FROM generate_series(1001, 1250) g")
		require.NoError(t, err)
		res, err = extract.Run(ctx, src, extract.TableQuery(extract.DialectPostgres, extract.Table{Schema: "public", Name: table}, "id", res.Watermark),
			extract.Sink{Bucket: bucket, Prefix: "run2/"})
		require.NoError(t, err)
		require.Equal(t, int64(250), res.Rows)
		require.Equal(t, int64(1250), res.Watermark)
		for _, r := range readBack(t, ctx, bucket, res) {
			require.Equal(t, "b", r["s"])
		}

		res, err = extract.Run(ctx, src, extract.TableQuery(extract.DialectPostgres, extract.Table{Name: table}, "id", res.Watermark),
			extract.Sink{Bucket: bucket, Prefix: "run3/"})
		require.NoError(t, err)
		require.Zero(t, res.Rows)
		require.Equal(t, int64(1250), res.Watermark, "no new rows: the watermark stays")
	})

	t.Run("PostgresReadsOnlyNewRowsByTimestamp", func(t *testing.T) {
		ctx := context.Background()
		conn := pgConn(t)
		table := pgTable(t, conn, "id int8, changed timestamptz")
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		_, err := conn.Exec(ctx, "INSERT INTO "+table+" SELECT g, $1::timestamptz + g * interval '1 microsecond' FROM generate_series(1, 100) g", base)
		require.NoError(t, err)
		src := extract.NewPostgres(conn)
		q := extract.TableQuery(extract.DialectPostgres, extract.Table{Name: table}, "changed", nil)
		res, err := extract.Run(ctx, src, q, extract.Sink{Bucket: newBucket(t)})
		require.NoError(t, err)
		require.Equal(t, int64(100), res.Rows)
		require.Equal(t, base.Add(100*time.Microsecond), res.Watermark)

		_, err = conn.Exec(ctx, "INSERT INTO "+table+" SELECT g, $1::timestamptz + g * interval '1 microsecond' FROM generate_series(101, 130) g", base)
		require.NoError(t, err)
		res, err = extract.Run(ctx, src, extract.TableQuery(extract.DialectPostgres, extract.Table{Name: table}, "changed", res.Watermark), extract.Sink{Bucket: newBucket(t)})
		require.NoError(t, err)
		require.Equal(t, int64(30), res.Rows)
		require.Equal(t, base.Add(130*time.Microsecond), res.Watermark)
	})

	t.Run("MySQLReadsOnlyNewRowsByDatetime", func(t *testing.T) {
		ctx := context.Background()
		db := mysqlDB(t)
		table := mysqlTable(t, db, "id int, changed datetime(6)")
		for i := 1; i <= 20; i++ {
			_, err := db.Exec(fmt.Sprintf("INSERT INTO %s VALUES (?, '2025-01-01 00:00:%02d.5')", table, i), i)
			require.NoError(t, err)
		}
		src := extract.NewMySQL(db)
		res, err := extract.Run(ctx, src, extract.TableQuery(extract.DialectMySQL, extract.Table{Name: table}, "changed", nil), extract.Sink{Bucket: newBucket(t)})
		require.NoError(t, err)
		require.Equal(t, int64(20), res.Rows)
		for i := 21; i <= 25; i++ {
			_, err := db.Exec(fmt.Sprintf("INSERT INTO %s VALUES (?, '2025-01-01 00:00:%02d.5')", table, i), i)
			require.NoError(t, err)
		}
		res, err = extract.Run(ctx, src, extract.TableQuery(extract.DialectMySQL, extract.Table{Name: table}, "changed", res.Watermark), extract.Sink{Bucket: newBucket(t)})
		require.NoError(t, err)
		require.Equal(t, int64(5), res.Rows)
		require.Equal(t, time.Date(2025, 1, 1, 0, 0, 25, 500000000, time.UTC), res.Watermark)
	})
}
