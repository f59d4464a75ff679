package localblob_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/blob/blobtest"
	"github.com/maestro-sql/maestro/internal/blob/localblob"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) blob.Bucket {
		b, err := localblob.Open(t.TempDir())
		require.NoError(t, err)
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
