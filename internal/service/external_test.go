package service_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/blob/gcsblob"
	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/external"
	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// uploadEnv is an API over a real store with one run of an external table ext.feed (CSV) and a
// query table ds.q reading it. No worker runs: the nodes stay waiting.
type uploadEnv struct {
	st    *sqlitestore.Store
	sched *scheduler.Scheduler
	srv   *httptest.Server
	runID string
	token string
}

func newUploadEnv(t *testing.T, cfg service.ExternalConfig) *uploadEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	tables := []spec.Table{
		{Name: "ext.feed", Kind: external.Kind, External: &spec.External{Format: "csv", Timeout: 2 * time.Hour, Header: true}},
		{Name: "ds.q", SQL: "SELECT * FROM ext.feed"},
	}
	for _, tb := range tables {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: tb, User: "t", Create: true})
		require.NoError(t, err)
	}
	g := maestrotest.Graph{"ext.feed": nil, "ds.q": {"ext.feed"}}
	q := memqueue.New(nil)
	t.Cleanup(func() { q.Close() })
	_, err = q.CreateSubscription("s", queue.SubscriptionConfig{Topic: "tasks"})
	require.NoError(t, err)
	sched := scheduler.New(st, q.Topic("tasks"),
		func(context.Context, []spec.Table) (scheduler.Graph, error) { return g, nil }, nil, zap.NewNop(), scheduler.Config{})
	rn, err := sched.Start(ctx, scheduler.StartParams{Tables: []string{"ext.feed", "ds.q"}, Trigger: run.TriggerManual, User: "t", At: time.Now()})
	require.NoError(t, err)
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{External: cfg}))
	t.Cleanup(srv.Close)
	return &uploadEnv{st: st, sched: sched, srv: srv, runID: rn.ID, token: userToken(t, st, "admin@example.com", "admin", "")}
}

func (e *uploadEnv) do(t *testing.T, method, path string, body io.Reader) (int, map[string]any) {
	t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.srv.URL + path
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	// The API's own data URL takes the caller's API token, like every route; a signed URL
	// needs none.
	if strings.HasPrefix(u, e.srv.URL) {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), string(data))
	}
	return resp.StatusCode, out
}

func (e *uploadEnv) path(table, action string) string {
	return "/api/v1/runs/" + e.runID + "/tables/" + table + "/" + action
}

func readObject(t *testing.T, b blob.Bucket, key string) string {
	t.Helper()
	r, err := b.Read(context.Background(), key)
	require.NoError(t, err)
	defer r.Close()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(data)
}

// Without a signer (maestro dev), the API hands out its own data URL and receives the file.
func TestExternalUploadThroughTheAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, err := localblob.Open(filepath.Join(t.TempDir(), "objects"))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	e := newUploadEnv(t, service.ExternalConfig{Bucket: b, MaxUploadBytes: 64})

	code, out := e.do(t, http.MethodPost, e.path("EXT.feed", "upload"), nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, e.srv.URL+e.path("ext.feed", "data"), out["upload_url"], "names are case-insensitive")
	require.Equal(t, "PUT", out["method"])
	require.Equal(t, map[string]any{"Content-Type": "text/csv"}, out["headers"])
	expires, err := time.Parse(time.RFC3339Nano, out["expires_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), expires, time.Minute, "valid for the table's timeout")

	code, out = e.do(t, http.MethodPost, e.path("ext.feed", "uploaded"), nil)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, out["detail"], "no file was uploaded for ext.feed")

	code, _ = e.do(t, http.MethodPut, e.path("ext.feed", "data"), strings.NewReader(""))
	require.Equal(t, http.StatusNoContent, code)
	code, out = e.do(t, http.MethodPost, e.path("ext.feed", "uploaded"), nil)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, out["detail"], "is empty")

	code, out = e.do(t, http.MethodPut, e.path("ext.feed", "data"), strings.NewReader(strings.Repeat("x", 65)))
	require.Equal(t, http.StatusRequestEntityTooLarge, code, out)

	code, _ = e.do(t, http.MethodPut, e.path("ext.feed", "data"), strings.NewReader("id\n1\n"))
	require.Equal(t, http.StatusNoContent, code)
	require.Equal(t, "id\n1\n", readObject(t, b, external.DataKey(e.runID, "ext.feed", "csv")))
	_, err = b.Read(ctx, external.ReadyKey(e.runID, "ext.feed"))
	require.ErrorIs(t, err, blob.ErrNotFound, "not ready until the uploader says so")

	code, out = e.do(t, http.MethodPost, e.path("ext.feed", "uploaded"), nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "uploaded", out["status"])
	var ready external.Ready
	require.NoError(t, json.Unmarshal([]byte(readObject(t, b, external.ReadyKey(e.runID, "ext.feed"))), &ready))
	require.WithinDuration(t, time.Now(), ready.UploadedAt, time.Minute)

	// Everything that is not an external table its run still waits for is refused, with why.
	for _, c := range []struct {
		method, path string
		code         int
		msg          string
	}{
		{http.MethodPost, "/api/v1/runs/nope/tables/ext.feed/upload", http.StatusNotFound, `no run "nope"`},
		{http.MethodPost, e.path("ext.other", "upload"), http.StatusNotFound, `has no table "ext.other"`},
		{http.MethodPost, e.path("ds.q", "upload"), http.StatusConflict, `ds.q is a table of kind "query": only external tables take uploads`},
		{http.MethodPut, e.path("ds.q", "data"), http.StatusConflict, `only external tables take uploads`},
		{http.MethodPost, e.path("ds.q", "uploaded"), http.StatusConflict, `only external tables take uploads`},
	} {
		code, out := e.do(t, c.method, c.path, nil)
		require.Equal(t, c.code, code, "%s %s: %v", c.method, c.path, out)
		require.Contains(t, out["detail"], c.msg)
	}

	require.NoError(t, e.sched.Cancel(ctx, e.runID))
	code, out = e.do(t, http.MethodPost, e.path("ext.feed", "upload"), nil)
	require.Equal(t, http.StatusConflict, code)
	require.Contains(t, out["detail"], "is cancelled: it no longer waits for uploads")
}

// The upload URL expires when the table's wait does, once it has begun.
func TestExternalUploadURLExpiresWithTheWait(t *testing.T) {
	t.Parallel()
	b, err := localblob.Open(filepath.Join(t.TempDir(), "objects"))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	e := newUploadEnv(t, service.ExternalConfig{Bucket: b, BaseURL: "https://maestro.example.com/"})
	started := time.Now().Add(-90 * time.Minute)
	require.NoError(t, b.Write(context.Background(), external.StartedKey(e.runID, "ext.feed"),
		strings.NewReader(started.UTC().Format(time.RFC3339Nano))))
	code, out := e.do(t, http.MethodPost, e.path("ext.feed", "upload"), nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "https://maestro.example.com"+e.path("ext.feed", "data"), out["upload_url"])
	expires, err := time.Parse(time.RFC3339Nano, out["expires_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, started.Add(2*time.Hour), expires, time.Minute)
}

func TestExternalUploadNeedsABucket(t *testing.T) {
	t.Parallel()
	e := newUploadEnv(t, service.ExternalConfig{})
	code, out := e.do(t, http.MethodPost, e.path("ext.feed", "upload"), nil)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, out["detail"], "no bucket for uploads")
}

// In production the API signs a PUT URL on Cloud Storage (here fake-gcs-server behind the real
// client) and never sees the file; the uploader PUTs it there and the API finds it.
func TestExternalUploadToASignedCloudStorageURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Scheme: "http", PublicHost: "127.0.0.1"})
	require.NoError(t, err)
	gcsHTTP := httptest.NewServer(gcs.HTTPHandler())
	t.Cleanup(func() { gcsHTTP.Close(); gcs.Stop() })
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "acme-maestro"})
	plain, err := gcsblob.Open(ctx, "acme-maestro/uploads", option.WithEndpoint(gcsHTTP.URL+"/storage/v1/"), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() { plain.Close() })
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	b, err := plain.WithSigning(ctx, gcsblob.SignOptions{ServiceAccount: "maestro-api@acme.iam.gserviceaccount.com",
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), BaseURL: gcsHTTP.URL})
	require.NoError(t, err)

	e := newUploadEnv(t, service.ExternalConfig{Bucket: b, Signer: b})
	code, out := e.do(t, http.MethodPost, e.path("ext.feed", "upload"), nil)
	require.Equal(t, http.StatusOK, code, out)
	signed := out["upload_url"].(string)
	u, err := url.Parse(signed)
	require.NoError(t, err)
	require.Equal(t, "/acme-maestro/uploads/external/"+e.runID+"/ext.feed/data.csv", u.Path)
	require.NotEmpty(t, u.Query().Get("X-Goog-Signature"))
	expiresIn := u.Query().Get("X-Goog-Expires")
	require.Contains(t, []string{"7199", "7200"}, expiresIn, "valid for the table's timeout")

	code, out = e.do(t, http.MethodPut, e.path("ext.feed", "data"), strings.NewReader("id\n1\n"))
	require.Equal(t, http.StatusNotFound, code, "with signed URLs the API does not take files itself")
	require.Contains(t, out["detail"], "PUT the file to the upload_url")

	req, err := http.NewRequest(http.MethodPut, signed, strings.NewReader("id\n1\n2\n"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	code, out = e.do(t, http.MethodPost, e.path("ext.feed", "uploaded"), nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "id\n1\n2\n", readObject(t, b, external.DataKey(e.runID, "ext.feed", "csv")))
	_, err = b.Read(ctx, external.ReadyKey(e.runID, "ext.feed"))
	require.NoError(t, err, "the ready marker is in the same bucket, under the prefix")
}
