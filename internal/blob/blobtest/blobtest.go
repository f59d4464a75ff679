// Package blobtest is the conformance suite every blob.Bucket passes.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob"
)

// Run runs the suite. newBucket returns a fresh, empty bucket for each subtest.
func Run(t *testing.T, newBucket func(t *testing.T) blob.Bucket) {
	t.Helper()
	ctx := context.Background()

	t.Run("ReadsBackWhatWasWritten", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, more than one copy buffer
		for key, data := range map[string][]byte{"small.csv": []byte("a,b\n1,2\n"), "empty": {}, "big.bin": big} {
			require.NoError(t, b.Write(ctx, key, bytes.NewReader(data)))
			require.Equal(t, data, read(t, b, key), key)
		}
	})

	t.Run("OverwriteReplacesTheObject", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		require.NoError(t, b.Write(ctx, "k", strings.NewReader("a longer first version")))
		require.NoError(t, b.Write(ctx, "k", strings.NewReader("v2")))
		require.Equal(t, "v2", string(read(t, b, "k")))
		require.Equal(t, []string{"k"}, list(t, b, ""))
	})

	t.Run("MissingObjectIsNotFound", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		_, err := b.Read(ctx, "nope")
		require.ErrorIs(t, err, blob.ErrNotFound)
		require.ErrorIs(t, b.Delete(ctx, "nope"), blob.ErrNotFound)
		require.NoError(t, b.Write(ctx, "dir/obj", strings.NewReader("x")))
		_, err = b.Read(ctx, "dir")
		require.ErrorIs(t, err, blob.ErrNotFound, "a prefix of keys is not an object")
		require.ErrorIs(t, b.Delete(ctx, "dir"), blob.ErrNotFound)
		_, err = b.Read(ctx, "dir/obj/deeper")
		require.ErrorIs(t, err, blob.ErrNotFound)
		require.Equal(t, "x", string(read(t, b, "dir/obj")))
	})

	t.Run("ListsKeysByPrefixSorted", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		for _, k := range []string{"b/2", "a/sub/x", "a/10", "ab", "a.txt", "a/1"} {
			require.NoError(t, b.Write(ctx, k, strings.NewReader(k)))
		}
		for prefix, want := range map[string][]string{
			"":      {"a.txt", "a/1", "a/10", "a/sub/x", "ab", "b/2"},
			"a":     {"a.txt", "a/1", "a/10", "a/sub/x", "ab"},
			"a/":    {"a/1", "a/10", "a/sub/x"},
			"a/1":   {"a/1", "a/10"},
			"a/s":   {"a/sub/x"},
			"a/sub": {"a/sub/x"},
			"b/2":   {"b/2"},
			"zzz":   {},
			"c/d/":  {},
			"../":   {},
		} {
			require.Equal(t, want, list(t, b, prefix), "prefix %q", prefix)
		}
	})

	t.Run("DeleteRemovesOnlyThatObject", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		for _, k := range []string{"d/1", "d/2", "d/e/3"} {
			require.NoError(t, b.Write(ctx, k, strings.NewReader(k)))
		}
		require.NoError(t, b.Delete(ctx, "d/1"))
		require.NoError(t, b.Delete(ctx, "d/e/3"))
		_, err := b.Read(ctx, "d/1")
		require.ErrorIs(t, err, blob.ErrNotFound)
		require.ErrorIs(t, b.Delete(ctx, "d/1"), blob.ErrNotFound)
		require.Equal(t, []string{"d/2"}, list(t, b, ""))
		require.Equal(t, "d/2", string(read(t, b, "d/2")))
		// The key can be written again after delete.
		require.NoError(t, b.Write(ctx, "d/e/3", strings.NewReader("again")))
		require.Equal(t, "again", string(read(t, b, "d/e/3")))
	})

	t.Run("KeysWithSlashesAreOrdinaryKeys", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		key := "exports/2026/11/25/run-1/part 0001.csv"
		require.NoError(t, b.Write(ctx, key, strings.NewReader("x,y\n")))
		require.Equal(t, "x,y\n", string(read(t, b, key)))
		require.Equal(t, []string{key}, list(t, b, "exports/2026/"))
	})

	t.Run("RejectsInvalidKeys", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		for _, key := range []string{"", "../x", "a/../../x", "/abs", "a//b", "a/", ".", "a/./b", `a\b`, "a\x00b", strings.Repeat("k", blob.MaxKeyLen+1)} {
			err := b.Write(ctx, key, strings.NewReader("x"))
			require.ErrorIs(t, err, blob.ErrInvalidKey, "Write %q", key)
			require.Contains(t, err.Error(), fmt.Sprintf("%q", key), "the error names the key")
			_, err = b.Read(ctx, key)
			require.ErrorIs(t, err, blob.ErrInvalidKey, "Read %q", key)
			require.ErrorIs(t, b.Delete(ctx, key), blob.ErrInvalidKey, "Delete %q", key)
		}
		require.Empty(t, list(t, b, ""))
	})

	t.Run("InterruptedWriteLeavesOldObjectIntact", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		require.NoError(t, b.Write(ctx, "report.csv", strings.NewReader("old contents")))
		errBroken := errors.New("connection reset")
		err := b.Write(ctx, "report.csv", &failingReader{data: bytes.Repeat([]byte("new "), 100_000), err: errBroken})
		require.ErrorIs(t, err, errBroken)
		require.Equal(t, "old contents", string(read(t, b, "report.csv")))

		err = b.Write(ctx, "fresh.csv", &failingReader{data: []byte("partial"), err: errBroken})
		require.ErrorIs(t, err, errBroken)
		_, err = b.Read(ctx, "fresh.csv")
		require.ErrorIs(t, err, blob.ErrNotFound, "no partial object")
		require.Equal(t, []string{"report.csv"}, list(t, b, ""))
	})

	t.Run("CancelledWriteStoresNothing", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		cctx, cancel := context.WithCancel(ctx)
		r := &failingReader{data: bytes.Repeat([]byte("z"), 1<<20), onRead: cancel}
		err := b.Write(cctx, "cancelled", r)
		require.ErrorIs(t, err, context.Canceled)
		require.Empty(t, list(t, b, ""))
	})

	t.Run("ConcurrentWritesToDifferentKeys", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		const n = 32
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				key := fmt.Sprintf("shard/%02d/part.csv", i%4*10+i)
				errs <- b.Write(ctx, key, strings.NewReader(strings.Repeat(key, 1000)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		keys := list(t, b, "shard/")
		require.Len(t, keys, n)
		for _, key := range keys {
			require.Equal(t, strings.Repeat(key, 1000), string(read(t, b, key)))
		}
	})

	t.Run("ConcurrentOverwritesLeaveOneWholeVersion", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		const n = 8
		versions := map[string]bool{}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			v := strings.Repeat(fmt.Sprint(i), 200_000)
			versions[v] = true
			wg.Go(func() { errs <- b.Write(ctx, "same", strings.NewReader(v)) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.True(t, versions[string(read(t, b, "same"))], "the object is a mix of versions")
	})
}

// failingReader yields data, then err (after calling onRead once, if set).
type failingReader struct {
	data   []byte
	err    error
	onRead func()
	served int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.onRead != nil && r.served > 0 {
		r.onRead()
		r.onRead = nil
	}
	if r.served >= len(r.data) {
		if r.err == nil {
			return 0, io.EOF
		}
		return 0, r.err
	}
	n := copy(p, r.data[r.served:min(len(r.data), r.served+4096)])
	r.served += n
	return n, nil
}

func read(t *testing.T, b blob.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Read(context.Background(), key)
	require.NoError(t, err, "reading %q", key)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	return data
}

func list(t *testing.T, b blob.Bucket, prefix string) []string {
	t.Helper()
	keys, err := b.List(context.Background(), prefix)
	require.NoError(t, err)
	if keys == nil {
		keys = []string{}
	}
	return keys
}
