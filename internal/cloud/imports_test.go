package cloud_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
	"github.com/maestro-sql/maestro/internal/run"
	maestroservice "github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

const signerEmail = "maestro-exports@maestro-e2e.iam.gserviceaccount.com"

// signatureChecker stands in front of fake-gcs-server (which ignores signatures) and refuses a
// request carrying X-Goog-Signature unless it verifies as Cloud Storage's V4 signing documents:
// the canonical request rebuilt from what arrived, signed with the service account's key.
type signatureChecker struct {
	key *rsa.PublicKey

	mu       sync.Mutex
	verified []string // paths of requests whose signature verified
}

func (c *signatureChecker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("X-Goog-Signature") {
			if err := c.verify(r); err != nil {
				http.Error(w, "SignatureDoesNotMatch: "+err.Error(), http.StatusForbidden)
				return
			}
			c.mu.Lock()
			c.verified = append(c.verified, r.URL.EscapedPath())
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (c *signatureChecker) verify(r *http.Request) error {
	q := r.URL.Query()
	date, err := time.Parse("20060102T150405Z", q.Get("X-Goog-Date"))
	if err != nil {
		return err
	}
	seconds, err := strconv.Atoi(q.Get("X-Goog-Expires"))
	if err != nil {
		return err
	}
	if time.Now().After(date.Add(time.Duration(seconds) * time.Second)) {
		return errors.New("expired")
	}
	email, scope, _ := strings.Cut(q.Get("X-Goog-Credential"), "/")
	if email != signerEmail {
		return fmt.Errorf("signed by %q", email)
	}
	var params []string
	for p := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if !strings.HasPrefix(p, "X-Goog-Signature=") {
			params = append(params, p)
		}
	}
	slices.Sort(params)
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if q.Get("X-Goog-SignedHeaders") != "host" {
		return fmt.Errorf("signed headers %q", q.Get("X-Goog-SignedHeaders"))
	}
	canonical := strings.Join([]string{r.Method, r.URL.EscapedPath(), strings.Join(params, "&"),
		"host:" + host + "\n", "host", "UNSIGNED-PAYLOAD"}, "\n")
	digest := sha256.Sum256([]byte(canonical))
	toSign := "GOOG4-RSA-SHA256\n" + q.Get("X-Goog-Date") + "\n" + scope + "\n" + hex.EncodeToString(digest[:])
	sig, err := hex.DecodeString(q.Get("X-Goog-Signature"))
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(toSign))
	return rsa.VerifyPKCS1v15(c.key, crypto.SHA256, sum[:], sig)
}

// receiver is a callback endpoint that keeps the payloads whose signature verifies.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	got    []callback.Payload
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if err := callback.Verify(rc.secret, r.Header.Get(callback.SignatureHeader), body, time.Now(), callback.DefaultTolerance); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p callback.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, p)
	rc.mu.Unlock()
}

func (rc *receiver) payloads() []callback.Payload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]callback.Payload(nil), rc.got...)
}

// signingKey makes the signing service account's key, and its PEM.
func signingKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func postgres(t *testing.T) *pgx.Conn {
	t.Helper()
	dsn := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	if v := os.Getenv("MAESTRO_TEST_POSTGRES"); v != "" {
		dsn = v
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI: %v", err)
		}
		t.Skip("PostgreSQL is not reachable:", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func fetch(t *testing.T, u string) (string, int) {
	t.Helper()
	resp, err := http.Get(u) //nolint:noctx // what the receiver of the callback does
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body), resp.StatusCode
}

// TestWorkerImportsAndExportsEndToEnd runs the three service binaries on the emulators, the
// fake BigQuery and fake-gcs-server: a table imported from PostgreSQL lands in BigQuery, a
// second run appends only the rows added since, and a table built from it is exported as CSV
// to Cloud Storage and announced to a callback whose signed URL fetches that CSV.
func TestWorkerImportsAndExportsEndToEnd(t *testing.T) {
	requireEmulators(t)
	ctx := context.Background()
	pg := postgres(t)
	source := fmt.Sprintf("maestro_e2e_orders_%d", time.Now().UnixNano())
	_, err := pg.Exec(ctx, `CREATE TABLE `+source+` (id bigint PRIMARY KEY, customer text NOT NULL, qty integer NOT NULL)`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pg.Exec(context.Background(), `DROP TABLE `+source) })
	_, err = pg.Exec(ctx, `INSERT INTO `+source+` VALUES (1, 'ana', 2), (2, 'bo', 1), (3, 'cy', 5)`)
	require.NoError(t, err)

	bin := buildServices(t)
	info, err := os.Stat(filepath.Join(bin, "worker"))
	require.NoError(t, err)
	require.Less(t, info.Size(), int64(40e6), "the worker image's binary stays under 40 MB")

	// Cloud Storage: one fake-gcs-server, behind a V4 signature check, for the worker and for
	// the fake BigQuery's load and extract jobs alike.
	const bucket, gcpProject, dataProject = "maestro-e2e-objects", "maestro-e2e", "warehouse-e2e"
	key, keyPEM := signingKey(t)
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Scheme: "http", PublicHost: "127.0.0.1"})
	require.NoError(t, err)
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	checker := &signatureChecker{key: &key.PublicKey}
	gcsServer := httptest.NewServer(checker.wrap(gcs.HTTPHandler()))
	t.Cleanup(func() { gcsServer.Close(); gcs.Stop() })

	// BigQuery reaches Cloud Storage over HTTP, as the worker does.
	bqStorage, err := storage.NewClient(ctx, option.WithEndpoint(gcsServer.URL+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithJSONReads())
	require.NoError(t, err)
	t.Cleanup(func() { _ = bqStorage.Close() })
	bq, err := bqfake.New(ctx, &bqfake.Options{Storage: bqStorage})
	require.NoError(t, err)
	t.Cleanup(func() { _ = bq.Close() })
	bqServer := httptest.NewServer(bq)
	t.Cleanup(bqServer.Close)

	cb := &receiver{secret: []byte("e2e-callback-key")}
	cbServer := httptest.NewServer(cb)
	t.Cleanup(cbServer.Close)

	keyFile := filepath.Join(t.TempDir(), "signer.pem")
	require.NoError(t, os.WriteFile(keyFile, []byte(keyPEM), 0o600))

	env := []string{
		"MAESTRO_PROJECT=" + gcpProject,
		"STORAGE_EMULATOR_HOST=" + strings.TrimPrefix(gcsServer.URL, "http://"),
		"MAESTRO_BUCKET=" + bucket + "/maestro",
		"FIRESTORE_EMULATOR_HOST=" + emulators.firestore.Host,
		"PUBSUB_EMULATOR_HOST=" + emulators.pubsub.Host,
		"MAESTRO_BQ_PROJECT=" + dataProject,
		"MAESTRO_BIGQUERY_ENDPOINT=" + bqServer.URL,
		"MAESTRO_INSECURE_SKIP_AUTH=true",
		"MAESTRO_SWEEP_EVERY=1s",
		"MAESTRO_SIGNED_URL_SERVICE_ACCOUNT=" + signerEmail,
		"MAESTRO_SIGNED_URL_KEY=file:" + keyFile,
		"MAESTRO_SIGNED_URL_EXPIRY=1h",
		"MAESTRO_CALLBACK_ALLOW_CIDRS=127.0.0.0/8",
		// The secrets the project's connection and callback name.
		"MAESTRO_E2E_SHOP_DSN=" + pg.Config().ConnString(),
		"MAESTRO_E2E_CALLBACK_KEY=" + string(cb.secret),
		"K_SERVICE=",
		"MAESTRO_ADMINS=ops@example.com",
	}
	q, err := pubsubqueue.Open(ctx, gcpProject)
	require.NoError(t, err)
	require.NoError(t, cloud.CreateTopics(ctx, q))
	require.NoError(t, q.Close())
	start(t, bin, "scheduler", env)
	start(t, bin, "worker", env)
	api, _ := start(t, bin, "api", env)

	p := &spec.Project{
		Schedules:   []spec.Schedule{{Name: "daily", Cron: "0 6 * * *", TimeZone: "UTC"}},
		Connections: []spec.Connection{{Name: "shop", Driver: "postgres", SecretRef: "env:MAESTRO_E2E_SHOP_DSN"}},
		Tables: []spec.Table{
			{Name: "raw.orders", Kind: "import", Schedules: []string{"daily"}, Owner: "ana@example.com",
				SQL:    "SELECT id, customer, qty FROM " + source,
				Import: &spec.Import{Connection: "shop", Watermark: "id"}},
			{Name: "mart.busy", Kind: "query", Schedules: []string{"daily"}, Owner: "ana@example.com",
				SQL: "SELECT customer, qty * 10 AS units FROM raw.orders WHERE qty >= 2",
				Exports: []spec.Export{{Format: "csv", Header: true, Path: "exports/{table}/{run}.csv",
					Callback: &spec.Callback{URL: cbServer.URL + "/hooks/busy", SecretRef: "env:MAESTRO_E2E_CALLBACK_KEY"}}}},
		},
	}
	// MAESTRO_ADMINS made the admin when the api started; their token is made as POST /tokens
	// would, straight in Firestore.
	st, err := firestorestore.Open(ctx, gcpProject)
	require.NoError(t, err)
	defer st.Close()
	token, _, err := maestroservice.NewToken(ctx, st, "ops@example.com", "test", time.Now())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, do(t, token, http.MethodPut, api.url+"/api/v1/project", p, nil))

	runOnce := func() runReply {
		t.Helper()
		var started, got runReply
		require.Equal(t, http.StatusCreated, do(t, token, http.MethodPost, api.url+"/api/v1/runs", map[string]string{"schedule": "daily"}, &started))
		deadline := time.Now().Add(2 * time.Minute)
		for {
			require.Equal(t, http.StatusOK, do(t, token, http.MethodGet, api.url+"/api/v1/runs/"+started.ID, nil, &got))
			if got.State.Terminal() {
				break
			}
			require.True(t, time.Now().Before(deadline), "the run did not finish within 2 minutes: %+v", got)
			time.Sleep(100 * time.Millisecond)
		}
		require.Equal(t, run.RunSucceeded, got.State, "%+v", got.Nodes)
		return got
	}
	node := func(r runReply, name string) (jobID string, rows int64) {
		for _, n := range r.Nodes {
			if n.Name == name {
				return n.JobID, n.Stats.Rows
			}
		}
		t.Fatalf("run %s has no node %s", r.ID, name)
		return "", 0
	}
	orders := func() [][]any {
		t.Helper()
		rows, err := bq.Engine().Read(ctx, "SELECT id, customer, qty FROM `"+dataProject+".raw.orders` ORDER BY id", sqlref.Options{DefaultProject: dataProject}, 100)
		require.NoError(t, err)
		return rows.Values
	}
	loadOf := func(jobID string) (uris []string, disposition string) {
		job, ok := bq.Job(dataProject, jobID)
		require.True(t, ok, "no job %s in BigQuery", jobID)
		require.NotNil(t, job.Configuration.Load, "job %s is not a load", jobID)
		return job.Configuration.Load.SourceUris, job.Configuration.Load.WriteDisposition
	}

	// The first run imports the whole table and replaces whatever was there.
	first := runOnce()
	jobID, rows := node(first, "raw.orders")
	require.EqualValues(t, 3, rows)
	require.Equal(t, [][]any{{int64(1), "ana", int64(2)}, {int64(2), "bo", int64(1)}, {int64(3), "cy", int64(5)}}, orders())
	uris, disposition := loadOf(jobID)
	require.Equal(t, []string{"gs://" + bucket + "/maestro/imports/" + jobID + "/*.parquet"}, uris)
	require.Equal(t, "WRITE_TRUNCATE", disposition)

	// The export: a CSV object under the bucket's prefix, and a callback whose signed URL
	// fetches exactly that object.
	wantCSV := "customer,units\nana,20\ncy,50\n"
	object, err := gcs.GetObject(bucket, "maestro/exports/mart.busy/"+first.ID+".csv")
	require.NoError(t, err)
	require.Equal(t, wantCSV, sortedCSV(string(object.Content)))
	calls := cb.payloads()
	require.Len(t, calls, 1)
	call := calls[0]
	require.Equal(t, callback.EventExportCompleted, call.Event)
	require.Equal(t, first.ID, call.RunID)
	require.Equal(t, "mart.busy", call.Table)
	require.EqualValues(t, 2, call.RowCount)
	require.Equal(t, []callback.Column{{Name: "customer", Type: "STRING"}, {Name: "units", Type: "INT64"}}, call.Schema)
	require.Len(t, call.Files, 1)
	u, err := url.Parse(call.Files[0].URL)
	require.NoError(t, err)
	require.Equal(t, "/"+bucket+"/maestro/exports/mart.busy/"+first.ID+".csv", u.Path)
	// The client signs at its own "now", a moment after the worker's, and rounds down.
	require.Contains(t, []string{"3599", "3600"}, u.Query().Get("X-Goog-Expires"), "MAESTRO_SIGNED_URL_EXPIRY")
	require.WithinDuration(t, time.Now().Add(time.Hour), call.Files[0].ExpiresAt, time.Minute)
	body, status := fetch(t, call.Files[0].URL)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, wantCSV, sortedCSV(body))
	require.Contains(t, checker.verified, u.EscapedPath(), "the URL's V4 signature was checked")
	tampered := strings.Replace(call.Files[0].URL, first.ID+".csv", "other.csv", 1)
	_, status = fetch(t, tampered)
	require.Equal(t, http.StatusForbidden, status, "a URL changed after signing is refused")

	// Rows added since: the second run reads only those and appends them.
	_, err = pg.Exec(ctx, `INSERT INTO `+source+` VALUES (4, 'di', 3), (5, 'ed', 1)`)
	require.NoError(t, err)
	second := runOnce()
	jobID, rows = node(second, "raw.orders")
	require.EqualValues(t, 2, rows, "only the rows past the greatest id already loaded are read")
	_, disposition = loadOf(jobID)
	require.Equal(t, "WRITE_APPEND", disposition)
	require.Equal(t, [][]any{{int64(1), "ana", int64(2)}, {int64(2), "bo", int64(1)}, {int64(3), "cy", int64(5)},
		{int64(4), "di", int64(3)}, {int64(5), "ed", int64(1)}}, orders())
	calls = cb.payloads()
	require.Len(t, calls, 2)
	body, status = fetch(t, calls[1].Files[0].URL)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "customer,units\nana,20\ncy,50\ndi,30\n", sortedCSV(body))
}

// sortedCSV sorts a CSV's data rows under its header: a query's rows come in no set order.
func sortedCSV(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines[1:])
	return strings.Join(lines, "\n") + "\n"
}
