package gcsblob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/blob/blobtest"
	"github.com/maestro-sql/maestro/internal/blob/gcsblob"
)

// fakeGCS is fake-gcs-server in process, behind a real TCP listener so that the production
// client path (storage.NewClient with an endpoint) is what the tests exercise.
type fakeGCS struct {
	server  *fakestorage.Server
	http    *httptest.Server
	buckets atomic.Int64
}

func startFakeGCS(t *testing.T, wrap func(http.Handler) http.Handler) *fakeGCS {
	t.Helper()
	server, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		Scheme:     "http",
		PublicHost: "127.0.0.1",
	})
	require.NoError(t, err)
	handler := server.HTTPHandler()
	if wrap != nil {
		handler = wrap(handler)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(func() { ts.Close(); server.Stop() })
	return &fakeGCS{server: server, http: ts}
}

// clientOptions are what a deployment pointing at an emulator would pass.
func (f *fakeGCS) clientOptions() []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(f.http.URL + "/storage/v1/"), option.WithoutAuthentication()}
}

// newBucketName creates an empty bucket with a fresh name.
func (f *fakeGCS) newBucketName(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("maestro-test-%d", f.buckets.Add(1))
	f.server.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return name
}

func (f *fakeGCS) open(t *testing.T, location string) *gcsblob.Bucket {
	t.Helper()
	b, err := gcsblob.Open(context.Background(), location, f.clientOptions()...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	t.Parallel()
	gcs := startFakeGCS(t, nil)
	blobtest.Run(t, func(t *testing.T) blob.Bucket {
		return gcs.open(t, gcs.newBucketName(t))
	})
}

// TestConformanceUnderPrefix runs the suite on a prefix of a bucket that also holds objects
// outside it (and one at the prefix's name), which must stay invisible and untouched.
func TestConformanceUnderPrefix(t *testing.T) {
	t.Parallel()
	gcs := startFakeGCS(t, nil)
	blobtest.Run(t, func(t *testing.T) blob.Bucket {
		name := gcs.newBucketName(t)
		for _, other := range []string{"tenant/a", "tenant/ab/x", "tenant/b/x", "other"} {
			gcs.server.CreateObject(fakestorage.Object{
				ObjectAttrs: fakestorage.ObjectAttrs{BucketName: name, Name: other},
				Content:     []byte("not yours"),
			})
		}
		t.Cleanup(func() {
			for _, other := range []string{"tenant/a", "tenant/ab/x", "tenant/b/x", "other"} {
				obj, err := gcs.server.GetObject(name, other)
				require.NoError(t, err, "object %q outside the prefix was removed", other)
				require.Equal(t, "not yours", string(obj.Content))
			}
		})
		return gcs.open(t, "gs://"+name+"/tenant/a/")
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gcs := startFakeGCS(t, nil)

	t.Run("SplitsBucketAndPrefix", func(t *testing.T) {
		t.Parallel()
		name := gcs.newBucketName(t)
		for location, prefix := range map[string]string{
			name:                       "",
			name + "/":                 "",
			"gs://" + name:             "",
			name + "/exports":          "exports/",
			"gs://" + name + "/a/b/c/": "a/b/c/",
		} {
			b := gcs.open(t, location)
			require.Equal(t, name, b.Name(), location)
			require.Equal(t, prefix, b.Prefix(), location)
		}
		b := gcs.open(t, name+"/exports")
		require.Equal(t, "gs://"+name+"/exports/run-1/out.csv", b.URI("run-1/out.csv"))
	})

	t.Run("RefusesMissingBucket", func(t *testing.T) {
		t.Parallel()
		_, err := gcsblob.Open(ctx, "no-such-bucket", gcs.clientOptions()...)
		require.Error(t, err)
		require.Contains(t, err.Error(), `"no-such-bucket"`)
	})

	t.Run("RefusesBadLocations", func(t *testing.T) {
		t.Parallel()
		for _, location := range []string{"", "gs://", "/prefix", "b/../x", "b/a//c"} {
			_, err := gcsblob.Open(ctx, location, gcs.clientOptions()...)
			require.Error(t, err, location)
		}
	})

	t.Run("WriteSetsContentTypeFromExtension", func(t *testing.T) {
		t.Parallel()
		name := gcs.newBucketName(t)
		b := gcs.open(t, name)
		require.NoError(t, b.Write(ctx, "out.csv", strings.NewReader("a,b\n")))
		obj, err := gcs.server.GetObject(name, "out.csv")
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(obj.ContentType, "text/csv"), obj.ContentType)
	})

	t.Run("FailedWriteLargerThanOneChunkStoresNothing", func(t *testing.T) {
		t.Parallel()
		// Past the client's 16 MiB chunk the upload is resumable and chunks reach the server
		// before the reader fails; the object must still not appear.
		name := gcs.newBucketName(t)
		b := gcs.open(t, name)
		errBroken := errors.New("source went away")
		err := b.Write(ctx, "big.parquet", io.MultiReader(io.LimitReader(zeros{}, 40<<20), iotest.ErrReader(errBroken)))
		require.ErrorIs(t, err, errBroken)
		_, err = b.Read(ctx, "big.parquet")
		require.ErrorIs(t, err, blob.ErrNotFound)
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
