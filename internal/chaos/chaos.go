package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/slack-go/slack/slacktest"

	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/gcpemu"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store/firestorestore"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// Config configures a chaos run.
type Config struct {
	// FirestoreHost and PubSubHost are the emulators (host:port). The process's
	// FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST must name the same: the harness's own
	// clients find them there.
	FirestoreHost, PubSubHost string
	// Binaries is the folder holding the scheduler, worker and api binaries.
	Binaries string
	// Seeds is how many seeds to run, from SeedStart. Defaults to 20, from 1.
	Seeds     int
	SeedStart int64
	// Nodes and Layers shape each seed's project. Defaults to 500 nodes in 10 layers.
	Nodes, Layers int
	// Planted is how many tables per seed fail for good. Defaults to 3.
	Planted int
	// Workers is how many worker processes run. Defaults to 3.
	Workers int
	// SeedLimit bounds one seed's run. Defaults to 4m.
	SeedLimit time.Duration
	// LogDir keeps the services' logs, a folder per seed. Defaults to a temporary folder,
	// removed after seeds that pass.
	LogDir string
}

func (c *Config) defaults() {
	if c.Seeds <= 0 {
		c.Seeds = 20
	}
	if c.SeedStart == 0 {
		c.SeedStart = 1
	}
	if c.Nodes <= 0 {
		c.Nodes = 500
	}
	if c.Layers <= 0 {
		c.Layers = 10
	}
	if c.Planted < 0 {
		c.Planted = 0
	}
	if c.Workers <= 0 {
		c.Workers = 3
	}
	if c.SeedLimit <= 0 {
		c.SeedLimit = 4 * time.Minute
	}
}

// Faults injected in every seed's run, at these rates.
const (
	bqTransientErrors = 0.03
	bqLostInserts     = 0.05
	bqJobFailures     = 0.03
	bqSlowJobs        = 0.03
	bqSlowJobDelay    = 2 * time.Second
	firestoreAborts   = 0.05
	messageCopies     = 0.10 // of tasks and completions, each copied once or twice, late
	copyMaxDelay      = 3 * time.Second
	workerKillEvery   = 4 * time.Second // on average, with jitter
)

// SeedResult is what one seed's run found.
type SeedResult struct {
	Seed                              int64
	RunID                             string
	Nodes, Succeeded, Failed, Skipped int
	WorkerKills, SchedulerKills       int
	MessageCopies                     int64
	BigQueryFaults                    int
	FirestoreAborts                   int64
	SlackMessages                     int
	DoubleSubmissions, LostNodes      int
	OrderViolations                   int
	Elapsed                           time.Duration
	Problems                          []string
	LogDir                            string
}

// OK reports whether the seed passed.
func (r SeedResult) OK() bool { return len(r.Problems) == 0 }

// Line is the seed's one-line report.
func (r SeedResult) Line() string {
	verdict := "ok"
	if !r.OK() {
		verdict = "FAILED logs=" + r.LogDir
	}
	return fmt.Sprintf("seed=%d nodes=%d succeeded=%d failed=%d skipped=%d worker_kills=%d scheduler_kills=%d message_copies=%d bigquery_faults=%d firestore_aborts=%d slack_messages=%d double_submissions=%d lost_nodes=%d order_violations=%d seconds=%.1f %s",
		r.Seed, r.Nodes, r.Succeeded, r.Failed, r.Skipped, r.WorkerKills, r.SchedulerKills, r.MessageCopies, r.BigQueryFaults,
		r.FirestoreAborts, r.SlackMessages, r.DoubleSubmissions, r.LostNodes, r.OrderViolations, r.Elapsed.Seconds(), verdict)
}

// Result sums the seeds.
type Result struct {
	Seeds, Passed, Nodes                          int
	DoubleSubmissions, LostNodes, OrderViolations int
}

// Line is the final report line.
func (r Result) Line() string {
	return fmt.Sprintf("seeds=%d passed=%d nodes=%d double_submissions=%d lost_nodes=%d order_violations=%d",
		r.Seeds, r.Passed, r.Nodes, r.DoubleSubmissions, r.LostNodes, r.OrderViolations)
}

// Run runs one chaos run per seed, printing a line per seed to out, then the summary line. It
// stops at the first seed that cannot be run at all (an error); a seed whose invariants fail is
// reported and the next one runs.
func Run(ctx context.Context, cfg Config, out io.Writer) (Result, error) {
	cfg.defaults()
	if cfg.FirestoreHost == "" || cfg.PubSubHost == "" {
		return Result{}, errors.New("the chaos harness needs the Firestore and Pub/Sub emulators (Config.FirestoreHost, Config.PubSubHost)")
	}
	if cfg.Binaries == "" {
		return Result{}, errors.New("the chaos harness needs the service binaries (Config.Binaries)")
	}
	gcs, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, Scheme: "http", PublicHost: "127.0.0.1"})
	if err != nil {
		return Result{}, fmt.Errorf("error starting the fake Cloud Storage: %w", err)
	}
	defer gcs.Stop()
	gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	gcsHTTP := httptest.NewServer(gcs.HTTPHandler())
	defer gcsHTTP.Close()
	h := &harness{cfg: cfg, gcsHost: gcsHTTP.Listener.Addr().String()}

	var res Result
	for i := range cfg.Seeds {
		seed := cfg.SeedStart + int64(i)
		sr, err := h.runSeed(ctx, seed)
		if err != nil {
			return res, fmt.Errorf("error running seed %d: %w", seed, err)
		}
		fmt.Fprintln(out, sr.Line())
		for _, p := range sr.Problems {
			fmt.Fprintln(out, "  ", p)
		}
		res.Seeds++
		res.Nodes += sr.Nodes
		res.DoubleSubmissions += sr.DoubleSubmissions
		res.LostNodes += sr.LostNodes
		res.OrderViolations += sr.OrderViolations
		if sr.OK() {
			res.Passed++
		}
	}
	fmt.Fprintln(out, res.Line())
	return res, nil
}

const (
	bucket      = "maestro-chaos"
	admin       = "chaos-admin@example.com"
	slackToken  = "xoxb-chaos-not-a-token"
	slackTokenV = "MAESTRO_CHAOS_SLACK_TOKEN"
)

type harness struct {
	cfg     Config
	gcsHost string
}

// slackRecorder is Slack's test server recording the text of every chat.postMessage.
type slackRecorder struct {
	srv   *slacktest.Server
	mu    sync.Mutex
	texts []string
}

func newSlackRecorder() *slackRecorder {
	s := &slackRecorder{}
	s.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			v, _ := url.ParseQuery(string(body))
			s.mu.Lock()
			s.texts = append(s.texts, v.Get("text"))
			ts := fmt.Sprintf("1700000000.%06d", len(s.texts))
			s.mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": v.Get("channel"), "ts": ts})
		})
		c.Handle("/users.lookupByEmail", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "users_not_found"})
		})
	})
	s.srv.Start()
	return s
}

func (s *slackRecorder) Texts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.texts...)
}

// runSeed runs the seed's project once under the seed's faults and checks the invariants.
func (h *harness) runSeed(ctx context.Context, seed int64) (SeedResult, error) {
	began := time.Now()
	sr := SeedResult{Seed: seed}
	cfg := h.cfg
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	project := fmt.Sprintf("chaos-%d-%d", seed, time.Now().UnixNano()%1_000_000_000)

	logDir := filepath.Join(cfg.LogDir, fmt.Sprintf("seed-%d", seed))
	if cfg.LogDir == "" {
		dir, err := os.MkdirTemp("", fmt.Sprintf("maestro-chaos-seed%d-", seed))
		if err != nil {
			return sr, fmt.Errorf("error making a log folder: %w", err)
		}
		logDir = dir
	} else if err := os.MkdirAll(logDir, 0o755); err != nil {
		return sr, fmt.Errorf("error making log folder %s: %w", logDir, err)
	}
	sr.LogDir = logDir

	// BigQuery, with the seed's faults.
	bq, err := bqfake.New(ctx, nil)
	if err != nil {
		return sr, err
	}
	defer bq.Close()
	bq.InjectFaults(bqfake.Faults{Seed: seed, TransientErrors: bqTransientErrors, LostInserts: bqLostInserts,
		JobFailures: bqJobFailures, SlowJobs: bqSlowJobs, SlowJobDelay: bqSlowJobDelay})
	bqHTTP := httptest.NewServer(bq)
	defer bqHTTP.Close()

	slack := newSlackRecorder()
	defer slack.srv.Stop()

	proxy, err := startAbortProxy(cfg.FirestoreHost, seed, firestoreAborts)
	if err != nil {
		return sr, err
	}
	defer proxy.Close()

	// Topics and subscriptions as deploy/ makes them, with the shortest ack deadline Pub/Sub
	// takes, so that what a killed process held comes back within seconds.
	q, err := pubsubqueue.OpenWithConfig(ctx, project, pubsubqueue.Config{ReceiveStreams: 2})
	if err != nil {
		return sr, err
	}
	defer q.Close()
	for _, s := range []struct{ sub, topic, dead string }{
		{engine.TasksSubscription, engine.TasksTopic, engine.TasksDeadLetterTopic},
		{engine.CompletionsSubscription, engine.CompletionsTopic, engine.CompletionsDeadLetterTopic},
	} {
		if _, err := q.CreateSubscription(ctx, s.sub, queue.SubscriptionConfig{Topic: s.topic, AckDeadline: 10 * time.Second,
			MaxDeliveries: 10, DeadLetterTopic: s.dead}); err != nil {
			return sr, err
		}
		if err := q.CreateDeadLetterSubscription(ctx, s.dead, s.dead); err != nil {
			return sr, err
		}
	}
	taps := map[string]string{"chaos-tap-tasks": engine.TasksTopic, "chaos-tap-completions": engine.CompletionsTopic}
	tapSubs := map[string]queue.Subscription{}
	for name, topic := range taps {
		sub, err := q.CreateSubscription(ctx, name, queue.SubscriptionConfig{Topic: topic, AckDeadline: 10 * time.Second})
		if err != nil {
			return sr, err
		}
		tapSubs[name] = sub
	}

	env := []string{
		"MAESTRO_PROJECT=" + project,
		"PUBSUB_EMULATOR_HOST=" + cfg.PubSubHost,
		"STORAGE_EMULATOR_HOST=" + h.gcsHost,
		"MAESTRO_BUCKET=" + bucket + "/exports",
		"MAESTRO_BQ_PROJECT=" + project + "-dw",
		"MAESTRO_BIGQUERY_ENDPOINT=" + bqHTTP.URL,
		"MAESTRO_DEFAULT_DATASET=l00",
		"MAESTRO_INSECURE_SKIP_AUTH=true",
		"MAESTRO_ADMINS=" + admin,
		"MAESTRO_WORKERS=6",
		"MAESTRO_MAX_PARALLEL=24",
		"MAESTRO_SWEEP_EVERY=1s",
		"MAESTRO_LEASE=3s",
		"MAESTRO_REDISPATCH_AFTER=5s",
		"MAESTRO_SLACK_TOKEN=env:" + slackTokenV,
		slackTokenV + "=" + slackToken,
		"MAESTRO_SLACK_API_URL=" + slack.srv.GetAPIURL(),
		"MAESTRO_SLACK_CHANNEL=#chaos",
		"K_SERVICE=",
	}
	// The scheduler and workers reach Firestore through the aborting proxy; the api, which only
	// sets the run up, directly.
	faulty := append(append([]string(nil), env...), "FIRESTORE_EMULATOR_HOST="+proxy.Addr)
	newProc := func(binary, name string, env []string) *proc {
		return &proc{name: name, binary: filepath.Join(cfg.Binaries, binary), env: env, logPath: filepath.Join(logDir, name+".log")}
	}
	api := newProc("api", "api", append(append([]string(nil), env...), "FIRESTORE_EMULATOR_HOST="+cfg.FirestoreHost))
	sched := newProc("scheduler", "scheduler", faulty)
	workers := make([]*proc, cfg.Workers)
	for i := range workers {
		workers[i] = newProc("worker", fmt.Sprintf("worker-%d", i+1), faulty)
	}
	all := append([]*proc{api, sched}, workers...)
	defer func() {
		for _, p := range all {
			p.kill()
		}
	}()
	for _, p := range all {
		if err := p.start(ctx); err != nil {
			return sr, err
		}
	}

	st, err := firestorestore.Open(ctx, project)
	if err != nil {
		return sr, err
	}
	defer st.Close()
	defer func() { _ = gcpemu.ResetFirestore(context.WithoutCancel(ctx), cfg.FirestoreHost, project) }()
	token, _, err := service.NewToken(ctx, st, admin, "chaos", time.Now())
	if err != nil {
		return sr, fmt.Errorf("error making the chaos run's API token: %w", err)
	}
	gen := generate(seed, cfg.Nodes, cfg.Layers, cfg.Planted)
	if err := callAPI(ctx, token, http.MethodPut, api.url+"/api/v1/project", gen.project, nil); err != nil {
		return sr, err
	}

	tapCtx, stopTaps := context.WithCancel(ctx)
	var tapsDone sync.WaitGroup
	var copies []*tap
	for name, topic := range taps {
		t := newTap(tapSubs[name], q.Topic(topic), seed+int64(len(name)), messageCopies, copyMaxDelay)
		copies = append(copies, t)
		tapsDone.Go(func() { t.run(tapCtx) })
	}
	defer func() {
		stopTaps()
		tapsDone.Wait()
	}()

	var started struct {
		ID string `json:"id"`
	}
	if err := callAPI(ctx, token, http.MethodPost, api.url+"/api/v1/runs", map[string]string{"schedule": "daily"}, &started); err != nil {
		return sr, err
	}
	sr.RunID = started.ID

	// The killer: kill -9 a random worker every few seconds and start it again shortly after;
	// kill -9 the scheduler twice, early in the run, and start it again.
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var workerKills, schedulerKills atomic.Int64
	var (
		chaosMu   sync.Mutex
		chaosErr  error
		chaosDone sync.WaitGroup
	)
	setChaosErr := func(err error) {
		chaosMu.Lock()
		defer chaosMu.Unlock()
		if chaosErr == nil {
			chaosErr = err
		}
	}
	chaosDone.Go(func() {
		rng := rand.New(rand.NewPCG(uint64(seed), 0xC4A05))
		// Early enough that even a small project on a fast machine is still running.
		schedKillsAt := []time.Duration{
			1500*time.Millisecond + time.Duration(rng.Int64N(int64(1500*time.Millisecond))),
			4*time.Second + time.Duration(rng.Int64N(int64(2*time.Second))),
		}
		start := time.Now()
		var restarting sync.WaitGroup
		defer restarting.Wait()
		busy := make([]atomic.Bool, len(workers))
		nextWorkerKill := workerKillEvery/2 + time.Duration(rng.Int64N(int64(workerKillEvery)))
		for {
			next := nextWorkerKill
			if len(schedKillsAt) > 0 {
				next = min(next, schedKillsAt[0])
			}
			select {
			case <-chaosCtx.Done():
				return
			case <-time.After(next - time.Since(start)):
			}
			if len(schedKillsAt) > 0 && time.Since(start) >= schedKillsAt[0] {
				schedKillsAt = schedKillsAt[1:]
				sched.kill()
				schedulerKills.Add(1)
				if err := sched.start(ctx); err != nil {
					setChaosErr(err)
					return
				}
				continue
			}
			nextWorkerKill = time.Since(start) + workerKillEvery/2 + time.Duration(rng.Int64N(int64(workerKillEvery)))
			i := rng.IntN(len(workers))
			if !busy[i].CompareAndSwap(false, true) {
				continue
			}
			workers[i].kill()
			workerKills.Add(1)
			down := time.Duration(rng.Int64N(int64(time.Second)))
			restarting.Go(func() {
				defer busy[i].Store(false)
				time.Sleep(down)
				if err := workers[i].start(ctx); err != nil && ctx.Err() == nil {
					setChaosErr(err)
				}
			})
		}
	})

	// Wait for the run to end, then for Slack's summary of it, then a little longer for
	// late copies of messages to do any harm they can.
	final, err := waitForRun(ctx, st, started.ID, cfg.SeedLimit)
	stopChaos()
	chaosDone.Wait()
	if err != nil {
		return sr, err
	}
	chaosMu.Lock()
	err = chaosErr
	chaosMu.Unlock()
	if err != nil {
		return sr, err
	}
	summaryBy := time.Now().Add(30 * time.Second)
	for !hasSummary(slack.Texts()) && time.Now().Before(summaryBy) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(copyMaxDelay + time.Second)
	stopTaps()
	tapsDone.Wait()

	nodes, err := st.NodeList(ctx, started.ID)
	if err != nil {
		return sr, fmt.Errorf("error reading the nodes of run %s: %w", started.ID, err)
	}
	if final, err = st.RunGet(ctx, started.ID); err != nil {
		return sr, fmt.Errorf("error reading run %s: %w", started.ID, err)
	}
	texts := slack.Texts()
	v := check(evidence{run: final, nodes: nodes, jobs: bq.Jobs(), slackTexts: texts, expectation: gen})
	if schedulerKills.Load() < 2 {
		v.problem("the run ended before the scheduler was killed twice (%d kills): give it more nodes", schedulerKills.Load())
	}
	sr.Nodes, sr.Succeeded, sr.Failed, sr.Skipped = len(gen.project.Tables), v.Succeeded, v.Failed, v.Skipped
	sr.WorkerKills, sr.SchedulerKills = int(workerKills.Load()), int(schedulerKills.Load())
	for _, t := range copies {
		sr.MessageCopies += t.copies.Load()
	}
	sr.BigQueryFaults = bq.FaultCounts().Total()
	sr.FirestoreAborts, _ = proxy.Aborted()
	sr.SlackMessages = len(texts)
	sr.DoubleSubmissions, sr.LostNodes, sr.OrderViolations = v.DoubleSubmissions, v.LostNodes, v.OrderViolations
	sr.Problems = v.Problems
	sr.Elapsed = time.Since(began)
	if sr.OK() && cfg.LogDir == "" {
		_ = os.RemoveAll(logDir)
	}
	return sr, nil
}

func hasSummary(texts []string) bool {
	for _, t := range texts {
		if len(t) >= 7 && t[:7] == "Run of " {
			return true
		}
	}
	return false
}

// waitForRun polls the store until the run is over.
func waitForRun(ctx context.Context, st *firestorestore.Store, id string, limit time.Duration) (*run.Run, error) {
	deadline := time.Now().Add(limit)
	for {
		r, err := st.RunGet(ctx, id)
		if err == nil && r.State.Terminal() {
			return r, nil
		}
		if time.Now().After(deadline) {
			state := "unknown"
			if r != nil {
				state = string(r.State)
			}
			return nil, fmt.Errorf("run %s did not finish within %s (it is %s)", id, limit, state)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// callAPI calls the api service as token's user; out receives a 2xx answer's JSON.
func callAPI(ctx context.Context, token, method, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("error calling %s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("error reading the answer of %s %s: %w", method, url, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s answered %s: %s", method, url, strconv.Itoa(resp.StatusCode), data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("error decoding the answer of %s %s: %w", method, url, err)
		}
	}
	return nil
}
