package duckdbwarehouse

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"

	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/extract"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

type filesBundle struct {
	*testBundle
	dir    string
	bucket *localblob.Bucket
}

// setupFiles opens a warehouse over a local bucket's folder, as the embedded setup does.
func setupFiles(t *testing.T) *filesBundle {
	t.Helper()
	dir := t.TempDir()
	bucket, err := localblob.Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = bucket.Close() })
	w, err := Open(context.Background(), "", &Options{FilesDir: bucket.Dir()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, w.Close()) })
	return &filesBundle{testBundle: &testBundle{w: w, ctx: context.Background()}, dir: dir, bucket: bucket}
}

func (b *filesBundle) put(t *testing.T, key, content string) {
	t.Helper()
	require.NoError(t, b.bucket.Write(b.ctx, key, strings.NewReader(content)))
}

func shopTable(name string) sqlref.TableName {
	return sqlref.TableName{Project: "acme-data", Dataset: "shop", Table: name}
}

// writeOrdersParquet writes three orders with internal/extract's Writer, as an import does.
func writeOrdersParquet(t *testing.T, b *filesBundle, key string) int64 {
	t.Helper()
	cols := []extract.Column{
		{Name: "id", Kind: extract.KindInt64},
		{Name: "customer", Kind: extract.KindString},
		{Name: "amount", Kind: extract.KindDecimal, Precision: 12, Scale: 2},
		{Name: "big", Kind: extract.KindDecimal, Precision: 30, Scale: 4},
		{Name: "placed_at", Kind: extract.KindTimestampTZ},
		{Name: "day", Kind: extract.KindDate},
	}
	var buf bytes.Buffer
	pw, err := extract.NewWriter(&buf, cols, 0)
	require.NoError(t, err)
	at := func(v parquet.Value, col int) parquet.Value { return v.Level(0, 1, col) }
	null := func(col int) parquet.Value { return parquet.Value{}.Level(0, 0, col) }
	big := func(n int64) parquet.Value { // a 16-byte big-endian DECIMAL(30, 4) of a positive n
		var out [16]byte
		for i := 15; i >= 8; i-- {
			out[i] = byte(n)
			n >>= 8
		}
		return parquet.FixedLenByteArrayValue(out[:])
	}
	ts := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	day := int32(ts.Unix() / 86400)
	rows := []parquet.Row{
		{at(parquet.Int64Value(1), 0), at(parquet.ByteArrayValue([]byte("ada")), 1), at(parquet.Int64Value(1234), 2),
			at(big(123456789), 3), at(parquet.Int64Value(ts.UnixMicro()), 4), at(parquet.Int32Value(day), 5)},
		{at(parquet.Int64Value(2), 0), null(1), at(parquet.Int64Value(-50), 2),
			null(3), at(parquet.Int64Value(ts.Add(90*time.Minute).UnixMicro()), 4), null(5)},
		{at(parquet.Int64Value(3), 0), at(parquet.ByteArrayValue([]byte("bob")), 1), null(2),
			at(big(1), 3), null(4), at(parquet.Int32Value(day+1), 5)},
	}
	require.NoError(t, pw.WriteRows(rows))
	require.NoError(t, pw.Close())
	require.NoError(t, b.bucket.Write(b.ctx, key, bytes.NewReader(buf.Bytes())))
	return int64(buf.Len())
}

func TestLoadParquetFromExtractWriterKeepsTypes(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	size := writeOrdersParquet(t, b, "imports/orders/part-0.parquet")

	stats, err := b.w.Load(b.ctx, &warehouse.LoadJob{
		JobID: "load-1", SourceURIs: []string{"gs://acme-imports/imports/orders/part-*.parquet"},
		Format: warehouse.FormatParquet, Destination: shopTable("orders"),
	})
	require.NoError(t, err)
	require.Equal(t, int64(3), stats.Rows)
	require.Equal(t, size, stats.BytesProcessed)
	require.Zero(t, stats.BytesBilled)
	require.Positive(t, stats.DurationMillis)

	tbl, err := b.w.Table(b.ctx, shopTable("orders"))
	require.NoError(t, err)
	require.Equal(t, []warehouse.Column{
		{Name: "id", Type: "INT64"}, {Name: "customer", Type: "STRING"}, {Name: "amount", Type: "NUMERIC"},
		{Name: "big", Type: "NUMERIC"}, {Name: "placed_at", Type: "TIMESTAMP"}, {Name: "day", Type: "DATE"},
	}, tbl.Columns)
	require.Equal(t, int64(3), tbl.Rows)
	require.False(t, tbl.Modified.IsZero(), "a load is a write the table's Modified time shows")

	require.Equal(t, [][]string{{"DECIMAL(12,2)"}, {"DECIMAL(30,4)"}, {"TIMESTAMP WITH TIME ZONE"}},
		b.rows(t, `SELECT data_type FROM duckdb_columns() WHERE table_name = 'orders'
			AND column_name IN ('amount', 'big', 'placed_at') ORDER BY column_index`))
	require.Equal(t, [][]string{
		{"1", "ada", "12.34", "12345.6789", "2024-03-01 10:00:00+00", "2024-03-01"},
		{"2", "NULL", "-0.50", "NULL", "2024-03-01 11:30:00+00", "NULL"},
		{"3", "bob", "NULL", "0.0001", "NULL", "2024-03-02"},
	}, b.rows(t, `SELECT * FROM "acme-data.shop"."orders" ORDER BY id`))

	jobs, err := b.w.Jobs(b.ctx)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, JobSucceeded, jobs[0].State)
	require.Equal(t, shopTable("orders"), jobs[0].Destination)
	require.Equal(t, spec.DispositionTruncate, jobs[0].Disposition)
}

func TestLoadCSVWithHeaderAndNDJSON(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	b.put(t, "in/customers.csv", "id,name,joined\n1,Ada,2024-01-05\n2,\"Bob, Jr.\",2024-02-10\n")
	stats, err := b.w.Load(b.ctx, &warehouse.LoadJob{
		JobID: "csv-1", SourceURIs: []string{"gs://bucket/in/customers.csv"}, Format: warehouse.FormatCSV,
		SkipLeadingRows: 1, Destination: shopTable("customers"),
	})
	require.NoError(t, err)
	require.Equal(t, int64(2), stats.Rows)
	require.Equal(t, int64(len("id,name,joined\n1,Ada,2024-01-05\n2,\"Bob, Jr.\",2024-02-10\n")), stats.BytesProcessed)
	tbl, err := b.w.Table(b.ctx, shopTable("customers"))
	require.NoError(t, err)
	require.Equal(t, []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "name", Type: "STRING"}, {Name: "joined", Type: "DATE"}}, tbl.Columns)
	require.Equal(t, [][]string{{"1", "Ada", "2024-01-05"}, {"2", "Bob, Jr.", "2024-02-10"}},
		b.rows(t, `SELECT * FROM "acme-data.shop"."customers" ORDER BY id`))

	// Given a schema, the skipped row is ignored and the columns take the schema's names and types.
	_, err = b.w.Load(b.ctx, &warehouse.LoadJob{
		JobID: "csv-2", SourceURIs: []string{"gs://bucket/in/customers.csv"}, SkipLeadingRows: 1,
		Schema:      []warehouse.Column{{Name: "customer_id", Type: "STRING"}, {Name: "n", Type: "STRING"}, {Name: "d", Type: "DATETIME"}},
		Destination: shopTable("customers_typed"),
	})
	require.NoError(t, err)
	require.Equal(t, [][]string{{"1", "Ada", "2024-01-05 00:00:00"}, {"2", "Bob, Jr.", "2024-02-10 00:00:00"}},
		b.rows(t, `SELECT * FROM "acme-data.shop"."customers_typed" ORDER BY customer_id`))

	b.put(t, "in/events/a.json", `{"id": 1, "kind": "click", "at": "2024-03-01T10:00:00Z", "tags": ["x", "y"]}`+"\n")
	b.put(t, "in/events/b.json", `{"id": 2, "kind": null, "at": "2024-03-01T11:00:00Z", "tags": []}`+"\n"+
		`{"id": 3, "kind": "view", "at": "2024-03-01T12:00:00+02:00", "tags": ["z"]}`+"\n")
	stats, err = b.w.Load(b.ctx, &warehouse.LoadJob{
		JobID: "json-1", SourceURIs: []string{"gs://bucket/in/events/*.json"}, Format: warehouse.FormatJSON,
		Schema: []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "kind", Type: "STRING"},
			{Name: "at", Type: "TIMESTAMP"}, {Name: "tags", Type: "ARRAY<STRING>"}},
		Destination: shopTable("events"),
	})
	require.NoError(t, err)
	require.Equal(t, int64(3), stats.Rows)
	tbl, err = b.w.Table(b.ctx, shopTable("events"))
	require.NoError(t, err)
	require.Equal(t, []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "kind", Type: "STRING"},
		{Name: "at", Type: "TIMESTAMP"}, {Name: "tags", Type: "ARRAY<STRING>"}}, tbl.Columns)
	require.Equal(t, [][]string{
		{"1", "click", "2024-03-01 10:00:00+00", "[x, y]"},
		{"2", "NULL", "2024-03-01 11:00:00+00", "[]"},
		{"3", "view", "2024-03-01 10:00:00+00", "[z]"},
	}, b.rows(t, `SELECT * FROM "acme-data.shop"."events" ORDER BY id`))

	// Without a schema, NDJSON columns are detected.
	_, err = b.w.Load(b.ctx, &warehouse.LoadJob{
		JobID: "json-2", SourceURIs: []string{"gs://bucket/in/events/a.json"}, Format: warehouse.FormatJSON,
		Destination: shopTable("events_detected"),
	})
	require.NoError(t, err)
	require.Equal(t, [][]string{{"1", "click"}}, b.rows(t, `SELECT id, kind FROM "acme-data.shop"."events_detected"`))
}

func TestLoadTruncateReplacesAndAppendAdds(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	b.put(t, "a.csv", "id,v\n1,x\n2,y\n")
	b.put(t, "b.csv", "id,v,extra\n3,z,true\n")
	load := func(id, key string, disp spec.Disposition) loadOutcome {
		stats, err := b.w.Load(b.ctx, &warehouse.LoadJob{JobID: id, SourceURIs: []string{"gs://b/" + key},
			SkipLeadingRows: 1, Destination: shopTable("t"), Disposition: disp})
		require.NoError(t, err)
		return loadOutcome{stats.Rows, b.rows(t, `SELECT count(*) FROM "acme-data.shop"."t"`)[0][0]}
	}
	require.Equal(t, loadOutcome{2, "2"}, load("j1", "a.csv", spec.DispositionAppend), "append creates a missing table")
	require.Equal(t, loadOutcome{2, "4"}, load("j2", "a.csv", spec.DispositionAppend))
	require.Equal(t, loadOutcome{2, "2"}, load("j3", "a.csv", spec.DispositionTruncate))
	require.Equal(t, loadOutcome{2, "2"}, load("j4", "a.csv", ""), "truncate is the default")
	// Truncate replaces the schema, as a BigQuery WRITE_TRUNCATE load does.
	require.Equal(t, loadOutcome{1, "1"}, load("j5", "b.csv", spec.DispositionTruncate))
	tbl, err := b.w.Table(b.ctx, shopTable("t"))
	require.NoError(t, err)
	require.Len(t, tbl.Columns, 3)
}

type loadOutcome struct {
	rows  int64
	count string
}

func TestLoadJobIDSubmittedTwiceLoadsOnce(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	b.put(t, "a.csv", "id\n1\n2\n3\n")
	job := &warehouse.LoadJob{JobID: "once", SourceURIs: []string{"gs://b/a.csv"}, SkipLeadingRows: 1,
		Destination: shopTable("t"), Disposition: spec.DispositionAppend, Labels: map[string]string{"run": "r1"}}
	first, err := b.w.Load(b.ctx, job)
	require.NoError(t, err)
	again, err := b.w.Load(b.ctx, job)
	require.NoError(t, err)
	require.Equal(t, first, again, "the second call returns the recorded outcome")
	require.Equal(t, [][]string{{"3"}}, b.rows(t, `SELECT count(*) FROM "acme-data.shop"."t"`))
	jobs, err := b.w.Jobs(b.ctx)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, map[string]string{"run": "r1"}, jobs[0].Labels)
	require.Equal(t, spec.DispositionAppend, jobs[0].Disposition)
}

func TestLoadMissingFileIsAFinalJobError(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	for _, uri := range []string{"gs://b/nothing.csv", "gs://b/nothing/*.csv", "gs://b/.tmp/x"} {
		_, err := b.w.Load(b.ctx, &warehouse.LoadJob{JobID: "missing " + uri, SourceURIs: []string{uri}, Destination: shopTable("t")})
		var je *warehouse.JobError
		require.ErrorAs(t, err, &je, uri)
		require.False(t, je.Retryable, uri)
		require.Equal(t, "missing "+uri, je.JobID)
	}
	// Data that does not fit the schema is final too.
	b.put(t, "bad.csv", "n\nnot a number\n")
	_, err := b.w.Load(b.ctx, &warehouse.LoadJob{JobID: "bad", SourceURIs: []string{"gs://b/bad.csv"}, SkipLeadingRows: 1,
		Schema: []warehouse.Column{{Name: "n", Type: "INT64"}}, Destination: shopTable("t")})
	var bad *warehouse.JobError
	require.ErrorAs(t, err, &bad)
	require.Equal(t, "invalid", bad.Reason)
	require.False(t, bad.Retryable)

	// The failure is recorded: the job id keeps it even once the file exists.
	b.put(t, "nothing.csv", "id\n1\n")
	_, err = b.w.Load(b.ctx, &warehouse.LoadJob{JobID: "missing gs://b/nothing.csv", SourceURIs: []string{"gs://b/nothing.csv"}, Destination: shopTable("t")})
	var je *warehouse.JobError
	require.ErrorAs(t, err, &je)
	require.Equal(t, "notFound", je.Reason)
	_, err = b.w.Table(b.ctx, shopTable("t"))
	require.ErrorIs(t, err, warehouse.ErrNotFound)
}

func TestFilePathsOutsideTheFolderAreRefused(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret.csv"), []byte("id\n42\n"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(b.dir, "link.csv")))
	require.NoError(t, os.Symlink(outside, filepath.Join(b.dir, "linkdir")))

	for _, uri := range []string{
		"gs://b/../" + filepath.Base(outside) + "/secret.csv", "gs://b/a/../../x.csv", "gs://b//etc/passwd",
		"/etc/passwd", "secret.csv", "gs://b/", "gs://b", "file:///etc/passwd", "gs://b/link.csv",
		"gs://b/linkdir/secret.csv", "gs://b/link*", "gs://b/*/*.csv", "gs://b/linkdir/*.csv", "gs://b/linkdir/secret*",
	} {
		_, err := b.w.Load(b.ctx, &warehouse.LoadJob{JobID: "load " + uri, SourceURIs: []string{uri}, Destination: shopTable("t")})
		var je *warehouse.JobError
		require.ErrorAs(t, err, &je, uri)
		require.False(t, je.Retryable, uri)
	}
	_, err := b.w.Table(b.ctx, shopTable("t"))
	require.ErrorIs(t, err, warehouse.ErrNotFound, "nothing outside the folder was loaded")

	b.query(t, "q", "t", "SELECT 1 AS id")
	for _, uri := range []string{"gs://b/../escaped.csv", "gs://b/a//b.csv", "out.csv", "gs://b/linkdir/out.csv"} {
		_, err := b.w.Extract(b.ctx, &warehouse.ExtractJob{JobID: "extract " + uri, Source: shopTable("t"), DestinationURI: uri})
		var je *warehouse.JobError
		require.ErrorAs(t, err, &je, uri)
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Len(t, entries, 1, "nothing was written outside the folder")
	_, err = os.Stat(filepath.Join(filepath.Dir(b.dir), "escaped.csv"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// A warehouse without a files folder refuses every load.
	plain := setup(t)
	_, err = plain.w.Load(plain.ctx, &warehouse.LoadJob{JobID: "x", SourceURIs: []string{"gs://b/a.csv"}, Destination: shopTable("t")})
	var je *warehouse.JobError
	require.ErrorAs(t, err, &je)
}

func TestExtractCSVGzipWithHeaderParquetAndJSON(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	b.query(t, "q", "orders", `
		SELECT 1 AS id, 'ada' AS customer, CAST('12.34' AS NUMERIC) AS amount, CAST('2024-03-01 10:00:00' AS TIMESTAMP) AS placed_at
		UNION ALL SELECT 2, NULL, CAST('-0.5' AS NUMERIC), CAST('2024-03-01 11:30:00' AS TIMESTAMP)`)

	res, err := b.w.Extract(b.ctx, &warehouse.ExtractJob{JobID: "x-csv", Source: shopTable("orders"),
		DestinationURI: "gs://bucket/exports/orders/part-*.csv.gz", Header: true, Compression: warehouse.CompressionGzip,
		Labels: map[string]string{"run": "r1"}})
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Files)
	require.Equal(t, int64(2), res.Stats.Rows)
	require.Positive(t, res.Stats.BytesProcessed)
	require.Positive(t, res.Stats.DurationMillis)
	keys, err := b.bucket.List(b.ctx, "exports/")
	require.NoError(t, err)
	require.Equal(t, []string{"exports/orders/part-000000000000.csv.gz"}, keys)
	rc, err := b.bucket.Read(b.ctx, keys[0])
	require.NoError(t, err)
	zr, err := gzip.NewReader(rc)
	require.NoError(t, err)
	records, err := csv.NewReader(zr).ReadAll()
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, [][]string{
		{"id", "customer", "amount", "placed_at"},
		{"1", "ada", "12.340000000", "2024-03-01 10:00:00+00"},
		{"2", "", "-0.500000000", "2024-03-01 11:30:00+00"},
	}, records)

	// Without a header, and the same job id again: the file is not rewritten.
	res, err = b.w.Extract(b.ctx, &warehouse.ExtractJob{JobID: "x-plain", Source: shopTable("orders"), DestinationURI: "gs://bucket/plain.csv"})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Stats.Rows)
	plain := b.read(t, "plain.csv")
	require.Equal(t, "1,ada,12.340000000,2024-03-01 10:00:00+00\n2,,-0.500000000,2024-03-01 11:30:00+00\n", plain)
	require.NoError(t, b.bucket.Delete(b.ctx, "plain.csv"))
	again, err := b.w.Extract(b.ctx, &warehouse.ExtractJob{JobID: "x-plain", Source: shopTable("orders"), DestinationURI: "gs://bucket/plain.csv"})
	require.NoError(t, err)
	require.Equal(t, res, again)
	_, err = b.bucket.Read(b.ctx, "plain.csv")
	require.Error(t, err, "an attached job does not run again")

	_, err = b.w.Extract(b.ctx, &warehouse.ExtractJob{JobID: "x-json", Source: shopTable("orders"),
		DestinationURI: "gs://bucket/orders.json", Format: warehouse.FormatJSON})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(b.read(t, "orders.json")), "\n")
	require.Len(t, lines, 2)
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.Equal(t, "ada", first["customer"])

	res, err = b.w.Extract(b.ctx, &warehouse.ExtractJob{JobID: "x-parquet", Source: shopTable("orders"),
		DestinationURI: "gs://bucket/orders.parquet", Format: warehouse.FormatParquet})
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Stats.Rows)
	data := []byte(b.read(t, "orders.parquet"))
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, int64(2), f.NumRows())
	var names []string
	for _, fld := range f.Schema().Fields() {
		names = append(names, fld.Name())
	}
	require.Equal(t, []string{"id", "customer", "amount", "placed_at"}, names)
	require.Equal(t, "ZSTD", f.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String())

	// The Parquet file loads back with its types.
	_, err = b.w.Load(b.ctx, &warehouse.LoadJob{JobID: "reload", SourceURIs: []string{"gs://bucket/orders.parquet"},
		Format: warehouse.FormatParquet, Destination: shopTable("orders_copy")})
	require.NoError(t, err)
	orig, err := b.w.Table(b.ctx, shopTable("orders"))
	require.NoError(t, err)
	cp, err := b.w.Table(b.ctx, shopTable("orders_copy"))
	require.NoError(t, err)
	require.Equal(t, orig.Columns, cp.Columns)
	require.Equal(t, b.rows(t, `SELECT * FROM "acme-data.shop"."orders" ORDER BY id`),
		b.rows(t, `SELECT * FROM "acme-data.shop"."orders_copy" ORDER BY id`))

	// Extracts are logged but change no table's Modified time.
	jobs, err := b.w.Jobs(b.ctx)
	require.NoError(t, err)
	var extracts int
	for _, j := range jobs {
		if strings.HasPrefix(j.JobID, "x-") {
			extracts++
			require.Equal(t, sqlref.TableName{}, j.Destination)
		}
	}
	require.Equal(t, 4, extracts)

	// A missing table is a final JobError and writes no file.
	_, err = b.w.Extract(b.ctx, &warehouse.ExtractJob{JobID: "x-missing", Source: shopTable("nope"), DestinationURI: "gs://bucket/nope.csv"})
	var je *warehouse.JobError
	require.ErrorAs(t, err, &je)
	require.False(t, je.Retryable)
	_, err = b.bucket.Read(b.ctx, "nope.csv")
	require.Error(t, err)
	tmp, err := os.ReadDir(filepath.Join(b.dir, ".tmp"))
	require.NoError(t, err)
	require.Empty(t, tmp, "no temporary file is left behind")
}

func (b *filesBundle) read(t *testing.T, key string) string {
	t.Helper()
	rc, err := b.bucket.Read(b.ctx, key)
	require.NoError(t, err)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(data)
}

func TestLoadConcurrentCallsWithOneJobIDLoadOnce(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write([]byte("id,v\n1,a\n2,b\n"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, b.bucket.Write(b.ctx, "in/a.csv.gz", bytes.NewReader(gz.Bytes())))

	job := &warehouse.LoadJob{JobID: "same", SourceURIs: []string{"gs://b/in/a.csv.gz"}, SkipLeadingRows: 1,
		Destination: shopTable("t"), Disposition: spec.DispositionAppend}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := b.w.Load(b.ctx, job)
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, [][]string{{"1", "a"}, {"2", "b"}}, b.rows(t, `SELECT * FROM "acme-data.shop"."t" ORDER BY id`),
		"gzipped CSV is read, and loaded once")
}

func TestLoadAppendAddsNewColumnsOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	b := setupFiles(t)
	b.put(t, "in/a.json", `{"id": 1}`+"\n")
	b.put(t, "in/b.json", `{"id": 2, "Note": "new"}`+"\n")
	load := func(id, key string, allow bool, schema []warehouse.Column) error {
		_, err := b.w.Load(b.ctx, &warehouse.LoadJob{JobID: id, SourceURIs: []string{"gs://x/" + key},
			Format: warehouse.FormatJSON, Destination: shopTable("grow"), Disposition: spec.DispositionAppend,
			Schema: schema, AllowFieldAddition: allow})
		return err
	}
	require.NoError(t, load("a", "in/a.json", true, []warehouse.Column{{Name: "id", Type: "INT64"}}))
	both := []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "Note", Type: "STRING"}}

	var je *warehouse.JobError
	require.ErrorAs(t, load("b1", "in/b.json", false, both), &je, "a new column without the option fails the append")

	require.NoError(t, load("b2", "in/b.json", true, both))
	tbl, err := b.w.Table(b.ctx, shopTable("grow"))
	require.NoError(t, err)
	require.Equal(t, []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "Note", Type: "STRING"}}, tbl.Columns)
	require.Equal(t, [][]string{{"1", "NULL"}, {"2", "new"}}, b.rows(t, `SELECT * FROM "acme-data.shop".grow ORDER BY id`))

	// Columns already there (in any case) are not added twice.
	b.put(t, "in/c.json", `{"id": 3, "note": "again"}`+"\n")
	require.NoError(t, load("c", "in/c.json", true, []warehouse.Column{{Name: "id", Type: "INT64"}, {Name: "note", Type: "STRING"}}))
	require.Equal(t, [][]string{{"1", "NULL"}, {"2", "new"}, {"3", "again"}}, b.rows(t, `SELECT * FROM "acme-data.shop".grow ORDER BY id`))
}
