package bqfake_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// storageBundle is a fake BigQuery whose load and extract jobs use a fake Cloud Storage.
type storageBundle struct {
	srv    *bqfake.Server
	client *bigquery.Client
	gcs    *storage.Client
}

func setupWithStorage(t *testing.T) *storageBundle {
	t.Helper()
	ctx := context.Background()
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	require.NoError(t, err)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "lake"})
	srv, err := bqfake.New(ctx, &bqfake.Options{Storage: gcs.Client()})
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	client, err := bigquery.NewClient(ctx, project, option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.Close()
		hs.Close()
		require.NoError(t, srv.Close())
		gcs.Stop()
	})
	return &storageBundle{srv: srv, client: client, gcs: gcs.Client()}
}

func (b *storageBundle) put(t *testing.T, name, data string) {
	t.Helper()
	w := b.gcs.Bucket("lake").Object(name).NewWriter(context.Background())
	_, err := io.WriteString(w, data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
}

func (b *storageBundle) get(t *testing.T, name string) []byte {
	t.Helper()
	r, err := b.gcs.Bucket("lake").Object(name).NewReader(context.Background())
	require.NoError(t, err)
	defer r.Close()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return data
}

// run runs a load or extract job and returns its final status.
func run(t *testing.T, job func(context.Context) (*bigquery.Job, error)) *bigquery.JobStatus {
	t.Helper()
	ctx := context.Background()
	j, err := job(ctx)
	require.NoError(t, err)
	st, err := j.Wait(ctx)
	require.NoError(t, err)
	return st
}

// rows reads a query's rows as strings joined by "|".
func (b *storageBundle) rows(t *testing.T, sql string) []string {
	t.Helper()
	it, err := b.client.Query(sql).Read(context.Background())
	require.NoError(t, err)
	var out []string
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return out
		}
		require.NoError(t, err)
		parts := make([]string, len(row))
		for i, v := range row {
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
}

func TestLoadJobsReadCloudStorage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupWithStorage(t)
	b.put(t, "in/part-1.csv", "id,name\n1,ann\n2,bob\n")
	b.put(t, "in/part-2.csv", "id,name\n3,cy\n")
	b.put(t, "in/other.txt", "not,a,match\n")
	table := b.client.Dataset("raw").Table("people")

	ref := bigquery.NewGCSReference("gs://lake/in/part-*.csv")
	ref.SkipLeadingRows = 1
	ref.Schema = bigquery.Schema{{Name: "id", Type: bigquery.IntegerFieldType}, {Name: "name", Type: bigquery.StringFieldType}}
	l := table.LoaderFrom(ref)
	l.WriteDisposition = bigquery.WriteTruncate
	l.JobID = "load_csv"
	st := run(t, l.Run)
	require.NoError(t, st.Err())
	ls := st.Statistics.Details.(*bigquery.LoadStatistics)
	require.EqualValues(t, 2, ls.InputFiles, "the wildcard matched both parts and not other.txt")
	require.EqualValues(t, 3, ls.OutputRows)
	require.EqualValues(t, len("id,name\n1,ann\n2,bob\n")+len("id,name\n3,cy\n"), ls.InputFileBytes)
	require.Equal(t, []string{"1|ann", "2|bob", "3|cy"}, b.rows(t, "SELECT id, name FROM raw.people ORDER BY id"))

	// Appending newline-delimited JSON adds rows; truncating replaces them.
	b.put(t, "more.json", `{"id": 4, "name": "dee"}`+"\n")
	jref := bigquery.NewGCSReference("gs://lake/more.json")
	jref.SourceFormat = bigquery.JSON
	jref.Schema = ref.Schema
	l = table.LoaderFrom(jref)
	l.WriteDisposition = bigquery.WriteAppend
	require.NoError(t, run(t, l.Run).Err())
	require.Equal(t, []string{"1|ann", "2|bob", "3|cy", "4|dee"}, b.rows(t, "SELECT id, name FROM raw.people ORDER BY id"))

	l = table.LoaderFrom(jref)
	l.WriteDisposition = bigquery.WriteTruncate
	require.NoError(t, run(t, l.Run).Err())
	require.Equal(t, []string{"4|dee"}, b.rows(t, "SELECT id, name FROM raw.people ORDER BY id"))

	l = table.LoaderFrom(jref)
	l.WriteDisposition = bigquery.WriteEmpty
	err := run(t, l.Run).Err()
	require.ErrorContains(t, err, "Already Exists", "WRITE_EMPTY refuses a table with rows")

	// A URI that matches nothing fails the job, as BigQuery does.
	absent := bigquery.NewGCSReference("gs://lake/absent/*.parquet")
	absent.SourceFormat = bigquery.Parquet
	l = b.client.Dataset("raw").Table("nothing").LoaderFrom(absent)
	err = run(t, l.Run).Err()
	require.ErrorContains(t, err, "Not found: URI gs://lake/absent/*.parquet")
	_, err = b.client.Dataset("raw").Table("nothing").Metadata(ctx)
	require.Error(t, err, "a failed load creates no table")
}

func TestExtractJobsWriteCloudStorage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupWithStorage(t)
	q := b.client.Query("SELECT 1 AS id, 'ann' AS name UNION ALL SELECT 2, 'bob, jr'")
	q.Dst = b.client.Dataset("shop").Table("people")
	j, err := q.Run(ctx)
	require.NoError(t, err)
	st, err := j.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, st.Err())
	table := b.client.Dataset("shop").Table("people")

	// CSV with a header, gzipped, to a wildcard URI: one file, numbered as BigQuery numbers it.
	ref := bigquery.NewGCSReference("gs://lake/out/people-*.csv.gz")
	ref.Compression = bigquery.Gzip
	e := table.ExtractorTo(ref)
	st = run(t, e.Run)
	require.NoError(t, st.Err())
	require.Equal(t, []int64{1}, st.Statistics.Details.(*bigquery.ExtractStatistics).DestinationURIFileCounts)
	zr, err := gzip.NewReader(bytes.NewReader(b.get(t, "out/people-000000000000.csv.gz")))
	require.NoError(t, err)
	csv, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, "id,name\n1,ann\n2,\"bob, jr\"\n", string(csv))

	// Newline-delimited JSON, plain.
	ref = bigquery.NewGCSReference("gs://lake/out/people.json")
	ref.DestinationFormat = bigquery.JSON
	require.NoError(t, run(t, table.ExtractorTo(ref).Run).Err())
	require.Equal(t, `{"id":1,"name":"ann"}`+"\n"+`{"id":2,"name":"bob, jr"}`+"\n", string(b.get(t, "out/people.json")))

	// Parquet out and back in: the round trip keeps every row.
	ref = bigquery.NewGCSReference("gs://lake/pq/people-*.parquet")
	ref.DestinationFormat = bigquery.Parquet
	require.NoError(t, run(t, table.ExtractorTo(ref).Run).Err())
	in := bigquery.NewGCSReference("gs://lake/pq/*")
	in.SourceFormat = bigquery.Parquet
	require.NoError(t, run(t, b.client.Dataset("copy").Table("people").LoaderFrom(in).Run).Err())
	require.Equal(t, []string{"1|ann", "2|bob, jr"}, b.rows(t, "SELECT id, name FROM copy.people ORDER BY id"))

	// A missing bucket fails the job.
	err = run(t, table.ExtractorTo(bigquery.NewGCSReference("gs://no-such-bucket/x.csv")).Run).Err()
	require.Error(t, err)
}
