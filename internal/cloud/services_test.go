package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/gcpemu"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
	"github.com/maestro-sql/maestro/internal/run"
	maestroservice "github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// emulators are the Firestore and Pub/Sub emulators of the test binary.
var emulators struct {
	firestore, pubsub *gcpemu.Process
	err               error
}

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	emulators.firestore, emulators.err = gcpemu.StartFirestore(ctx)
	if emulators.err == nil {
		emulators.pubsub, emulators.err = gcpemu.StartPubSub(ctx)
	}
	cancel()
	if emulators.err == nil {
		// The test itself reads Firestore and sets up Pub/Sub through the emulators too.
		os.Setenv("FIRESTORE_EMULATOR_HOST", emulators.firestore.Host)
		os.Setenv("PUBSUB_EMULATOR_HOST", emulators.pubsub.Host)
	}
	if emulators.err != nil && gcpemu.Required() {
		fmt.Fprintln(os.Stderr, "the emulators are required:", emulators.err)
		os.Exit(1)
	}
	code := m.Run()
	emulators.firestore.Stop()
	emulators.pubsub.Stop()
	os.Exit(code)
}

func requireEmulators(t testing.TB) {
	t.Helper()
	if emulators.err != nil {
		t.Skip("the emulators are not available:", emulators.err)
	}
}

// buildServices builds the three production binaries as deploy/docker builds them: static,
// without cgo, without Cloud Storage's unused gRPC direct path and gRPC's trace pages.
func buildServices(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "disable_grpc_modules,grpcnotrace", "-ldflags", "-s -w",
		"-o", dir+"/", "./cmd/scheduler", "./cmd/worker", "./cmd/api")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building the services: %s", out)
	return dir
}

// service is one running service binary.
type service struct {
	name string
	url  string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	mu   *sync.Mutex
	done chan error
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs binary with env and waits until its /healthz answers. It returns how long that took.
func start(t testing.TB, bin, name string, env []string) (*service, time.Duration) {
	t.Helper()
	port := freePort(t)
	s := &service{name: name, url: "http://127.0.0.1:" + strconv.Itoa(port), logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	s.cmd = exec.Command(filepath.Join(bin, name))
	s.cmd.Env = append(append(os.Environ(), env...), "PORT="+strconv.Itoa(port))
	s.cmd.Stdout = lockedWriter{s.mu, s.logs}
	s.cmd.Stderr = lockedWriter{s.mu, s.logs}
	began := time.Now()
	require.NoError(t, s.cmd.Start())
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("%s logged:\n%s", name, s.output())
		}
	})
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, time.Since(began)
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("%s exited before it was ready (%v):\n%s", name, err, s.output())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(began) > 30*time.Second {
			t.Fatalf("%s was not ready within 30s:\n%s", name, s.output())
		}
	}
}

func (s *service) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// stop sends SIGTERM, as Cloud Run does, and requires a clean exit within its 10 s.
func (s *service) stop(t testing.TB) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-s.done:
		s.done <- err
		require.NoError(t, err, "%s did not exit cleanly on SIGTERM:\n%s", s.name, s.output())
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10s of SIGTERM:\n%s", s.name, s.output())
	}
}

// pipeline generates a project of n tables in layers: each table past the first layer reads one
// to three tables of the layer before it, so the run order is checkable from the graph alone.
func pipeline(n, layers int) *spec.Project {
	p := &spec.Project{
		Schedules: []spec.Schedule{{Name: "daily", Cron: "0 6 * * *", TimeZone: "UTC"}},
	}
	perLayer := n / layers
	name := func(layer, i int) string { return fmt.Sprintf("l%d.t%02d", layer, i) }
	for layer := 0; layer < layers; layer++ {
		for i := 0; i < perLayer; i++ {
			t := spec.Table{Name: name(layer, i), Kind: "query", Schedules: []string{"daily"}, Owner: "ana@example.com"}
			if layer == 0 {
				t.SQL = fmt.Sprintf("SELECT %d AS id, 'seed' AS v UNION ALL SELECT %d, 'more'", i, i+100)
			} else {
				var parts []string
				for k := 0; k <= i%3; k++ {
					parts = append(parts, "SELECT id, v FROM "+name(layer-1, (i+k*7)%perLayer))
				}
				t.SQL = strings.Join(parts, "\nUNION ALL\n")
			}
			p.Tables = append(p.Tables, t)
		}
	}
	return p
}

// do calls the API with token (when not empty) as the bearer token.
func do(t testing.TB, token, method, url string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(data, out), "%s %s answered %s", method, url, data)
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	return resp.StatusCode
}

type runReply struct {
	ID    string       `json:"id"`
	State run.RunState `json:"state"`
	Stats run.Stats    `json:"stats"`
	Nodes []struct {
		Name       string        `json:"name"`
		State      run.NodeState `json:"state"`
		Upstream   []string      `json:"upstream"`
		JobID      string        `json:"job_id"`
		Stats      run.Stats     `json:"stats"`
		StartedAt  time.Time     `json:"started_at"`
		FinishedAt time.Time     `json:"finished_at"`
	} `json:"nodes"`
}

// startFakeGCS serves fake-gcs-server with one bucket and returns its host:port, the value
// of STORAGE_EMULATOR_HOST.
func startFakeGCS(t testing.TB, bucket string) string {
	t.Helper()
	server, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Scheme: "http", PublicHost: "127.0.0.1"})
	require.NoError(t, err)
	server.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	ts := httptest.NewServer(server.HTTPHandler())
	t.Cleanup(func() { ts.Close(); server.Stop() })
	return strings.TrimPrefix(ts.URL, "http://")
}

// TestWorkerRefusesToStartWithoutItsBucket: a deployment whose bucket is missing fails at
// start, naming it, rather than at its first export.
func TestWorkerRefusesToStartWithoutItsBucket(t *testing.T) {
	requireEmulators(t)
	bin := buildServices(t)
	gcs := startFakeGCS(t, "some-other-bucket")
	cmd := exec.Command(filepath.Join(bin, "worker"))
	cmd.Env = append(os.Environ(), "MAESTRO_PROJECT=maestro-nobucket", "STORAGE_EMULATOR_HOST="+gcs,
		"MAESTRO_BUCKET=missing-bucket", "FIRESTORE_EMULATOR_HOST="+emulators.firestore.Host,
		"MAESTRO_BIGQUERY_ENDPOINT=http://127.0.0.1:1",
		"PUBSUB_EMULATOR_HOST="+emulators.pubsub.Host, "PORT="+strconv.Itoa(freePort(t)), "K_SERVICE=")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the worker started without its bucket:\n%s", out)
	require.Contains(t, string(out), "error opening bucket missing-bucket")
}

// TestServicesRunAPipelineEndToEnd starts the three service binaries as separate processes on the
// Firestore and Pub/Sub emulators and the BigQuery REST server, pushes a 60-table project through
// the API, starts a run and checks that every table ran once, in dependency order, with its
// statistics recorded in Firestore.
func TestServicesRunAPipelineEndToEnd(t *testing.T) {
	requireEmulators(t)
	ctx := context.Background()
	bin := buildServices(t)

	const gcpProject, dataProject, scriptedBytes = "maestro-it", "warehouse-it", 10 << 20
	bq, err := bqfake.New(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = bq.Close() })
	bq.Script(bqfake.Script{Stats: &bqfake.Stats{BytesProcessed: scriptedBytes, BytesBilled: scriptedBytes, SlotMillis: 1234}})
	bqServer := httptest.NewServer(bq)
	t.Cleanup(bqServer.Close)

	gcs := startFakeGCS(t, "maestro-it-objects")

	env := []string{
		"MAESTRO_PROJECT=" + gcpProject,
		"STORAGE_EMULATOR_HOST=" + gcs,
		"MAESTRO_BUCKET=maestro-it-objects/exports",
		"FIRESTORE_EMULATOR_HOST=" + emulators.firestore.Host,
		"PUBSUB_EMULATOR_HOST=" + emulators.pubsub.Host,
		"MAESTRO_BQ_PROJECT=" + dataProject,
		"MAESTRO_BIGQUERY_ENDPOINT=" + bqServer.URL,
		"MAESTRO_DEFAULT_DATASET=l0",
		"MAESTRO_INSECURE_SKIP_AUTH=true",
		"MAESTRO_ADMINS=ops@example.com",
		"MAESTRO_WORKERS=8",
		"MAESTRO_SWEEP_EVERY=1s",
		"MAESTRO_LEASE=20s",
		"K_SERVICE=", // not on Cloud Run
	}
	// Topics and subscriptions as Terraform creates them: the services may not.
	q, err := pubsubqueue.Open(ctx, gcpProject)
	require.NoError(t, err)
	require.NoError(t, cloud.CreateTopics(ctx, q))
	require.NoError(t, q.Close())
	scheduler, _ := start(t, bin, "scheduler", env)
	worker, _ := start(t, bin, "worker", env)
	api, _ := start(t, bin, "api", env)

	// MAESTRO_ADMINS made the admin when the api started; their token is made as POST /tokens
	// would, straight in Firestore.
	st, err := firestorestore.Open(ctx, gcpProject)
	require.NoError(t, err)
	defer st.Close()
	token, _, err := maestroservice.NewToken(ctx, st, "ops@example.com", "test", time.Now())
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, do(t, "", http.MethodGet, api.url+"/api/v1/runs", nil, nil))

	p := pipeline(60, 6)
	var synced map[string]int
	require.Equal(t, http.StatusOK, do(t, token, http.MethodPut, api.url+"/api/v1/project", p, &synced))
	require.Equal(t, 60, synced["created"])

	var started runReply
	require.Equal(t, http.StatusCreated, do(t, token, http.MethodPost, api.url+"/api/v1/runs", map[string]string{"schedule": "daily"}, &started))
	var got runReply
	deadline := time.Now().Add(2 * time.Minute)
	for {
		require.Equal(t, http.StatusOK, do(t, token, http.MethodGet, api.url+"/api/v1/runs/"+started.ID, nil, &got))
		if got.State.Terminal() {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run did not finish within 2 minutes: %+v", got)
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, run.RunSucceeded, got.State)
	require.Len(t, got.Nodes, 60)

	finished := map[string]time.Time{}
	for _, n := range got.Nodes {
		require.Equal(t, run.NodeSucceeded, n.State, n.Name)
		finished[n.Name] = n.FinishedAt
	}
	for _, n := range got.Nodes {
		for _, u := range n.Upstream {
			require.False(t, n.StartedAt.Before(finished[u]), "%s started at %s, before its upstream %s finished at %s (%+v)",
				n.Name, n.StartedAt, u, finished[u], got.Nodes)
		}
		// Once each: a redelivered task attaches to the job instead of running it again.
		require.Equal(t, 1, bq.Executions(n.JobID), "job %s of %s", n.JobID, n.Name)
		require.EqualValues(t, scriptedBytes, n.Stats.BytesBilled, n.Name)
	}
	require.EqualValues(t, 60*scriptedBytes, got.Stats.BytesBilled, "the run sums its nodes' bytes")

	// The statistics are in Firestore itself, not only in the API's answer.
	nodes, err := st.NodeList(ctx, started.ID)
	require.NoError(t, err)
	require.Len(t, nodes, 60)
	for _, n := range nodes {
		require.EqualValues(t, scriptedBytes, n.Stats.BytesBilled, n.Name)
		require.EqualValues(t, 1234, n.Stats.SlotMillis, n.Name)
	}

	// The tables exist in the warehouse with the rows the SQL makes.
	tb, err := bq.Engine().Table(ctx, sqlref.TableName{Project: dataProject, Dataset: "l5", Table: "t02"})
	require.NoError(t, err)
	require.Positive(t, tb.Rows)

	for _, s := range []*service{api, worker, scheduler} {
		s.stop(t)
	}
}
