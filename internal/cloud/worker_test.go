package cloud_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
	"github.com/maestro-sql/maestro/internal/worker"
)

// workerBundle is the production worker's executors, in process, on a fake BigQuery whose
// jobs read and write a fake Cloud Storage.
type workerBundle struct {
	execs map[string]worker.Executor
	gcs   *fakestorage.Server
}

func workerExecutors(t *testing.T, env map[string]string) *workerBundle {
	t.Helper()
	ctx := context.Background()
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Scheme: "http", PublicHost: "127.0.0.1"})
	require.NoError(t, err)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "objects"})
	gcsServer := httptest.NewServer(gcs.HTTPHandler())
	t.Cleanup(func() { gcsServer.Close(); gcs.Stop() })
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(gcsServer.URL, "http://"))

	bq, err := bqfake.New(ctx, &bqfake.Options{Storage: gcs.Client()})
	require.NoError(t, err)
	bqServer := httptest.NewServer(bq)
	wh, err := bigquerywarehouse.Open(ctx, "data", option.WithEndpoint(bqServer.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() { _ = wh.Close(); bqServer.Close(); _ = bq.Close() })

	env["MAESTRO_PROJECT"] = "acme"
	cfg, err := config.Load(config.Worker, func(k string) string { return env[k] })
	require.NoError(t, err)
	execs, closeExecs, err := cloud.WorkerExecutors(ctx, cfg, cloud.WorkerParts{
		Connections: func(context.Context) ([]spec.Connection, error) { return nil, nil },
		Warehouse:   wh,
		Secrets:     secret.Resolver{Getenv: func(k string) string { return env[k] }},
		Getenv: func(k string) string {
			return map[string]string{"STORAGE_EMULATOR_HOST": strings.TrimPrefix(gcsServer.URL, "http://")}[k]
		},
		Log: zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeExecs() })
	return &workerBundle{gcs: gcs, execs: execs}
}

func exported(url string) spec.Table {
	return spec.Table{Name: "mart.totals", Kind: "query", SQL: "SELECT 1 AS n",
		Exports: []spec.Export{{Format: "csv", Header: true, Path: "exports/{table}.csv",
			Callback: &spec.Callback{URL: url, SecretRef: "env:HOOK_KEY"}}}}
}

// TestWithoutABucketImportsAndExportsFailNamingIt: a worker deployed without MAESTRO_BUCKET
// still runs plain queries; imports and tables with exports fail for good, saying what to set.
func TestWithoutABucketImportsAndExportsFailNamingIt(t *testing.T) {
	ctx := context.Background()
	bq, err := bqfake.New(ctx, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(bq)
	wh, err := bigquerywarehouse.Open(ctx, "data", option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() { _ = wh.Close(); hs.Close(); _ = bq.Close() })
	cfg, err := config.Load(config.Worker, func(k string) string { return map[string]string{"MAESTRO_PROJECT": "acme"}[k] })
	require.NoError(t, err)
	execs, closeExecs, err := cloud.WorkerExecutors(ctx, cfg, cloud.WorkerParts{Warehouse: wh, Log: zap.NewNop()})
	require.NoError(t, err)
	defer closeExecs()

	_, err = execs["query"].Execute(ctx, "q1", spec.Table{Name: "mart.plain", Kind: "query", SQL: "SELECT 1 AS n"}, &run.Node{})
	require.NoError(t, err, "a query without exports needs no bucket")

	for kind, table := range map[string]spec.Table{
		"import": {Name: "raw.orders", Kind: "import", SQL: "SELECT 1", Import: &spec.Import{Connection: "shop"}},
		"query":  exported("https://example.com/hook"),
	} {
		_, err := execs[kind].Execute(ctx, "j-"+kind, table, &run.Node{})
		var je *warehouse.JobError
		require.True(t, errors.As(err, &je), "%s: %v", kind, err)
		require.False(t, je.Retryable, kind)
		require.Contains(t, je.Message, "set MAESTRO_BUCKET", kind)
		require.Contains(t, je.Message, table.Name, kind)
	}
	require.Equal(t, 1, bq.Executions("q1"))
	require.Zero(t, bq.Executions("j-query"), "the table with exports was not built")
}

// TestCallbacksReachPrivateAddressesOnlyWhenAllowed: in production a callback to a loopback,
// private or metadata address is refused, unless MAESTRO_CALLBACK_ALLOW_CIDRS lists it.
func TestCallbacksReachPrivateAddressesOnlyWhenAllowed(t *testing.T) {
	ctx := context.Background()
	hook := &receiver{secret: []byte("hook-key")}
	hookServer := httptest.NewServer(hook)
	t.Cleanup(hookServer.Close)
	_, pemKey := signingKey(t)
	env := map[string]string{"MAESTRO_BUCKET": "objects", "HOOK_KEY": "hook-key", "SIGNER_KEY": pemKey,
		"MAESTRO_SIGNED_URL_SERVICE_ACCOUNT": signerEmail, "MAESTRO_SIGNED_URL_KEY": "env:SIGNER_KEY"}

	b := workerExecutors(t, env)
	_, err := b.execs["query"].Execute(ctx, "refused", exported(hookServer.URL), &run.Node{RunID: "r1"})
	require.ErrorContains(t, err, "callback address refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
	require.Empty(t, hook.payloads(), "nothing reached the loopback address")

	env["MAESTRO_CALLBACK_ALLOW_CIDRS"] = "127.0.0.0/8"
	b = workerExecutors(t, env)
	_, err = b.execs["query"].Execute(ctx, "allowed", exported(hookServer.URL), &run.Node{RunID: "r2"})
	require.NoError(t, err)
	require.Len(t, hook.payloads(), 1)
	obj, err := b.gcs.GetObject("objects", "exports/mart.totals.csv")
	require.NoError(t, err)
	require.Equal(t, "n\n1\n", string(obj.Content))
	body, status := fetch(t, hook.payloads()[0].Files[0].URL)
	require.Equal(t, 200, status)
	require.Equal(t, "n\n1\n", body)
}
