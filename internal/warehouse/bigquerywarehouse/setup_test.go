package bigquerywarehouse_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

const (
	testProject = "maestro-test-1"
	testDataset = "analytics"
)

// testBundle is a warehouse on the real BigQuery client talking to a fake BigQuery.
type testBundle struct {
	srv *bqfake.Server
	w   *bigquerywarehouse.Warehouse
	url string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	srv, err := bqfake.New(ctx, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	w, err := bigquerywarehouse.OpenWithOptions(ctx, testProject,
		&bigquerywarehouse.Options{PollInitial: 2 * time.Millisecond, PollMax: 50 * time.Millisecond},
		option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, w.Close())
		hs.Close()
		require.NoError(t, srv.Close())
	})
	return &testBundle{srv: srv, w: w, url: hs.URL}
}
