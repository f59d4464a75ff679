package localblob_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/blob/localblob"
)

func open(t *testing.T) (*localblob.Bucket, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := localblob.Open(filepath.Join(dir, "bucket"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b, filepath.Join(dir, "bucket")
}

func TestBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("StoresObjectsAsPlainFiles", func(t *testing.T) {
		t.Parallel()
		b, dir := open(t)
		require.NoError(t, b.Write(ctx, "exports/out.csv", strings.NewReader("a,b\n")))
		data, err := os.ReadFile(filepath.Join(dir, "exports", "out.csv"))
		require.NoError(t, err)
		require.Equal(t, "a,b\n", string(data))
		require.Equal(t, dir, b.Dir())
	})

	t.Run("DeletePrunesEmptyFolders", func(t *testing.T) {
		t.Parallel()
		b, dir := open(t)
		require.NoError(t, b.Write(ctx, "x/y/z", strings.NewReader("1")))
		require.NoError(t, b.Delete(ctx, "x/y/z"))
		_, err := os.Stat(filepath.Join(dir, "x"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("RefusesSymlinksOutOfTheFolder", func(t *testing.T) {
		t.Parallel()
		b, dir := open(t)
		outside := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s3cret"), 0o600))
		require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link")))
		_, err := b.Read(ctx, "link/secret")
		require.Error(t, err)
		require.Error(t, b.Write(ctx, "link/planted", strings.NewReader("x")))
		_, err = os.Stat(filepath.Join(outside, "planted"))
		require.ErrorIs(t, err, os.ErrNotExist, "a write escaped the bucket folder")
	})

	t.Run("ReservesTheTemporaryFolder", func(t *testing.T) {
		t.Parallel()
		b, _ := open(t)
		require.ErrorIs(t, b.Write(ctx, ".tmp/x", strings.NewReader("x")), blob.ErrInvalidKey)
		require.ErrorIs(t, b.Write(ctx, ".tmp", strings.NewReader("x")), blob.ErrInvalidKey)
	})

	t.Run("KeyCannotBeObjectAndFolder", func(t *testing.T) {
		t.Parallel()
		b, _ := open(t)
		require.NoError(t, b.Write(ctx, "a", strings.NewReader("x")))
		err := b.Write(ctx, "a/b", strings.NewReader("y"))
		require.Error(t, err)
		require.Contains(t, err.Error(), `"a/b"`)
		require.Equal(t, []string{"a"}, mustList(t, b))
	})

	t.Run("LeavesNoTemporaryFilesBehind", func(t *testing.T) {
		t.Parallel()
		b, dir := open(t)
		require.NoError(t, b.Write(ctx, "k", strings.NewReader("x")))
		require.Error(t, b.Write(ctx, "k2", iotestErrReader{}))
		entries, err := os.ReadDir(filepath.Join(dir, ".tmp"))
		require.NoError(t, err)
		require.Empty(t, entries)
	})
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }

func mustList(t *testing.T, b *localblob.Bucket) []string {
	t.Helper()
	keys, err := b.List(context.Background(), "")
	require.NoError(t, err)
	return keys
}

func TestValidateKeyAcceptsOrdinaryKeys(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"a", "a/b/c.csv", "with space/ü.json", ".hidden", "a..b", "..a/b..", "x/.tmp"} {
		require.NoError(t, blob.ValidateKey(key), key)
	}
}
