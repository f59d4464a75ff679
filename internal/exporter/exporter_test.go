package exporter_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/exporter"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

type builder struct{ wh *duckdbwarehouse.Warehouse }

// Execute builds the table the way the query executor does.
func (b builder) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	return b.wh.Query(ctx, &warehouse.QueryJob{JobID: jobID, SQL: t.SQL, Disposition: spec.DispositionTruncate,
		Destination:    sqlref.TableName{Project: "shop", Dataset: "marts", Table: "daily"},
		DefaultProject: "shop", DefaultDataset: "marts"})
}

type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, body)
	r.sigs = append(r.sigs, req.Header.Get(callback.SignatureHeader))
	if r.status != 0 {
		w.WriteHeader(r.status)
	}
}

func setup(t *testing.T) (*exporter.Exporter, builder, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	bucket, err := localblob.Open(filepath.Join(dir, "objects"))
	require.NoError(t, err)
	wh, err := duckdbwarehouse.Open(ctx, filepath.Join(dir, "warehouse"), &duckdbwarehouse.Options{DefaultProject: "shop", FilesDir: bucket.Dir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = wh.Close() })
	e := &exporter.Exporter{
		Warehouse: wh, BucketName: "local",
		FileURL: func(_ context.Context, key string) (callback.File, error) {
			return callback.File{URL: "file://" + filepath.Join(bucket.Dir(), key)}, nil
		},
		Callbacks: callback.New(callback.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			MaxAttempts: 2, InitialBackoff: time.Millisecond}),
		Resolve:        secret.Resolver{Getenv: func(k string) string { return map[string]string{"HOOK_KEY": "s3cret"}[k] }}.Resolve,
		DefaultProject: "shop", DefaultDataset: "marts",
	}
	return e, builder{wh}, bucket.Dir()
}

var daily = spec.Table{Name: "marts.daily", Kind: "query",
	SQL: "SELECT 1 AS day, 'a' AS name UNION ALL SELECT 2, 'b,with comma' UNION ALL SELECT 3, NULL"}

func TestExportsTheBuiltTableAndAnnouncesIt(t *testing.T) {
	ctx := context.Background()
	e, b, dir := setup(t)
	hook := &receiver{}
	srv := httptest.NewServer(hook)
	defer srv.Close()

	table := daily
	table.Exports = []spec.Export{{Format: "csv", Path: "exports/{table}/{run}.csv.gz", Header: true, Gzip: true,
		Callback: &spec.Callback{URL: srv.URL + "/done", SecretRef: "env:HOOK_KEY"}}}
	_, err := e.Wrap(b).Execute(ctx, "job-1", table, &run.Node{RunID: "r1"})
	require.NoError(t, err)

	f, err := os.Open(filepath.Join(dir, "exports", "marts.daily", "r1.csv.gz"))
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	csv, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, "day,name\n1,a\n2,\"b,with comma\"\n3,\n", string(csv))

	require.Len(t, hook.bodies, 1)
	require.NoError(t, callback.Verify([]byte("s3cret"), hook.sigs[0], hook.bodies[0], time.Now(), time.Minute))
	var p callback.Payload
	require.NoError(t, json.Unmarshal(hook.bodies[0], &p))
	require.Equal(t, "job-1-export1", p.ID)
	require.Equal(t, callback.EventExportCompleted, p.Event)
	require.Equal(t, "r1", p.RunID)
	require.Equal(t, "marts.daily", p.Table)
	require.EqualValues(t, 3, p.RowCount)
	require.Equal(t, []callback.File{{URL: "file://" + filepath.Join(dir, "exports", "marts.daily", "r1.csv.gz")}}, p.Files)
	require.Len(t, p.Schema, 2)
	require.Equal(t, "day", p.Schema[0].Name)
}

func TestACallbackThatKeepsFailingFailsTheNodeRetryably(t *testing.T) {
	ctx := context.Background()
	e, b, _ := setup(t)
	hook := &receiver{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	table := daily
	table.Exports = []spec.Export{{Format: "json", Path: "x/{run}.json",
		Callback: &spec.Callback{URL: srv.URL, SecretRef: "env:HOOK_KEY"}}}
	_, err := e.Wrap(b).Execute(ctx, "job-2", table, &run.Node{RunID: "r2"})
	var je *warehouse.JobError
	require.True(t, errors.As(err, &je), "got %v", err)
	require.True(t, je.Retryable)
	require.Contains(t, je.Message, "is written but its callback failed")
	require.Len(t, hook.bodies, 2, "the client retried before giving up")
}

func TestAMetadataAddressIsNeverCalled(t *testing.T) {
	ctx := context.Background()
	e, b, _ := setup(t)
	table := daily
	table.Exports = []spec.Export{{Format: "csv", Path: "x/{run}.csv",
		Callback: &spec.Callback{URL: "http://169.254.169.254/latest/meta-data", SecretRef: "env:HOOK_KEY"}}}
	_, err := e.Wrap(b).Execute(ctx, "job-3", table, &run.Node{RunID: "r3"})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "169.254.169.254"), err.Error())
}
