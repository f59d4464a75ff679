// Package devmode assembles Maestro on its embedded backends in one process: the store on
// SQLite, the queue in memory, the warehouse on DuckDB and objects in a local folder, all kept
// in one state folder the user can delete.
package devmode

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/definitions"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/exporter"
	"github.com/maestro-sql/maestro/internal/external"
	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/importer"
	"github.com/maestro-sql/maestro/internal/importer/sqlitesource"
	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
	"github.com/maestro-sql/maestro/internal/worker"
)

// Config configures a System.
type Config struct {
	// StateDir holds the store, the warehouse and objects. Defaults to ".maestro".
	StateDir string
	// Project is the loaded project folder.
	Project *spec.Project
	// Workers bounds tasks running at once. Defaults to the project's max_parallel.
	Workers int
	// Lease is a worker's lease on a running node. Defaults to 6s: short, so that after a crash
	// the next start picks up quickly.
	Lease time.Duration
	// User is who syncs the definitions. Defaults to "dev".
	User string
	// ProjectDir is the project folder; connections' seed scripts are read from it.
	ProjectDir string
	// Sources points connections, by name, at other databases than their secrets name: a
	// postgres:// URL, a MySQL DSN or a SQLite file (see DriverOf).
	Sources map[string]string
	// ExternalPollEvery is how often a waiting external table looks for its upload. Defaults
	// to 2s.
	ExternalPollEvery time.Duration
	// SheetsEndpoint overrides the Sheets API's address for sheet exports (a local stand-in
	// such as sheetsfake, which then needs no credentials). Empty: Google's.
	SheetsEndpoint string
	// SlackAPIURL overrides Slack's Web API URL (tests: a slacktest server). Empty: Slack's.
	SlackAPIURL string
	// UIURL is the base URL Slack messages link to (the HTTP server's). Empty: no links.
	UIURL string
}

// System is every part of Maestro on embedded backends.
type System struct {
	Store     *sqlitestore.Store
	Warehouse *duckdbwarehouse.Warehouse
	Objects   *localblob.Bucket
	Queue     *memqueue.Queue
	Scheduler *scheduler.Scheduler
	Worker    *worker.Worker
	Project   *spec.Project
	// History is the Git history of table changes in the state folder; nil if it cannot be kept.
	History *history.Mirror
	// CallbackKey is the key behind CallbackKeyRef when the variable is unset.
	CallbackKey string
	// TriggerKey derives trigger URL secrets (the state folder's trigger.key).
	TriggerKey []byte
	// SlackSigningSecret verifies Slack's requests (SLACK_SIGNING_SECRET); nil: Slack's routes
	// are not served. SlackBotToken (empty when it does not resolve) at SlackUsersAPIURL
	// (empty: Slack's) looks up who pressed a button.
	SlackSigningSecret []byte
	SlackBotToken      string
	SlackUsersAPIURL   string

	webhooks    *notify.Webhooks // nil without webhooks
	tasks       queue.Subscription
	completions queue.Subscription
	log         *zap.Logger
}

// Open opens (or creates) the state folder and wires everything.
func Open(ctx context.Context, cfg Config, log *zap.Logger) (*System, error) {
	if cfg.StateDir == "" {
		cfg.StateDir = ".maestro"
	}
	if cfg.User == "" {
		cfg.User = "dev"
	}
	if cfg.Lease == 0 {
		cfg.Lease = 6 * time.Second
	}
	p := cfg.Project
	if cfg.Workers == 0 {
		cfg.Workers = p.MaxParallel
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("error creating state folder %s: %w", cfg.StateDir, err)
	}
	sys := &System{Project: p, log: log}
	var err error
	if sys.Store, err = sqlitestore.Open(ctx, filepath.Join(cfg.StateDir, "maestro.db")); err != nil {
		return nil, fmt.Errorf("error opening the store: %w", err)
	}
	if sys.Objects, err = localblob.Open(filepath.Join(cfg.StateDir, "objects")); err != nil {
		sys.Close()
		return nil, fmt.Errorf("error opening the object folder: %w", err)
	}
	// Loads and extracts read and write the object folder, as BigQuery does Cloud Storage.
	if sys.Warehouse, err = duckdbwarehouse.Open(ctx, filepath.Join(cfg.StateDir, "warehouse"),
		&duckdbwarehouse.Options{DefaultProject: p.DefaultProject, FilesDir: sys.Objects.Dir()}); err != nil {
		sys.Close()
		return nil, fmt.Errorf("error opening the warehouse: %w", err)
	}

	// maestro dev is one person's own Maestro: they may change every table.
	res, err := definitions.Sync(ctx, sys.Store, p, store.User{Email: cfg.User, Name: cfg.User, Role: definitions.RoleAdmin})
	if err != nil {
		sys.Close()
		return nil, err
	}
	log.Info("definitions synced", zap.Int("created", res.Created), zap.Int("updated", res.Updated),
		zap.Int("deleted", res.Deleted), zap.Int("unchanged", res.Unchanged))
	warnEstimates(ctx, sys.Warehouse, p, res.Changed, log)
	sys.History = openHistory(ctx, sys.Store, cfg.StateDir, log)

	sys.Queue = memqueue.New(nil)
	if sys.tasks, err = sys.Queue.CreateSubscription(engine.TasksSubscription, queue.SubscriptionConfig{
		Topic: engine.TasksTopic, AckDeadline: 10 * time.Second, MaxDeliveries: 20,
		DeadLetterTopic: engine.TasksDeadLetterTopic, MaxOutstanding: cfg.Workers,
	}); err != nil {
		sys.Close()
		return nil, fmt.Errorf("error creating the task subscription: %w", err)
	}
	if sys.completions, err = sys.Queue.CreateSubscription(engine.CompletionsSubscription, queue.SubscriptionConfig{
		Topic: engine.CompletionsTopic, AckDeadline: 10 * time.Second, MaxDeliveries: 20,
		DeadLetterTopic: engine.CompletionsDeadLetterTopic, MaxOutstanding: 4,
	}); err != nil {
		sys.Close()
		return nil, fmt.Errorf("error creating the completion subscription: %w", err)
	}

	if sys.CallbackKey, err = callbackKey(cfg.StateDir); err != nil {
		sys.Close()
		return nil, err
	}
	if err := sys.inbound(ctx, cfg, log); err != nil {
		sys.Close()
		return nil, err
	}
	secrets := &resolver{next: secret.Resolver{}.Resolve, callbackKey: sys.CallbackKey}
	chat, hooks := notifiers(ctx, cfg, sys.Store, secrets.Resolve, log)
	sys.webhooks = hooks
	sys.Scheduler = scheduler.New(sys.Store, sys.Queue.Topic(engine.TasksTopic),
		scheduler.ProjectGraph(p.DefaultProject, p.DefaultDataset), chat, log,
		scheduler.Config{
			GlobalLimit:       cfg.Workers,
			UndeliveredAfter:  3 * time.Second,
			UnpropagatedAfter: 2 * time.Second,
		})
	sources, err := prepareSources(ctx, cfg, secrets.Resolve, log)
	if err != nil {
		sys.Close()
		return nil, err
	}
	secrets.sources = sources
	// On one machine a SQLite file is a source too.
	drivers := importer.ServerDrivers()
	drivers["sqlite"] = sqlitesource.Open
	imports := &importer.Importer{
		Connections: connectionsWith(sys.Store.ConnectionList, sources),
		Resolve:     secrets.Resolve,
		Drivers:     drivers,
		Bucket:      sys.Objects, BucketName: "local",
		Warehouse:      sys.Warehouse,
		DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset,
	}
	exports := &exporter.Exporter{
		Warehouse: sys.Warehouse, BucketName: "local",
		FileURL: func(_ context.Context, key string) (callback.File, error) {
			u, err := sys.FileURL(key)
			return callback.File{URL: u}, err
		},
		// On one machine the receiver is usually on it too, or on the local network.
		Callbacks:      callback.New(callback.Config{Allow: localNetworks}),
		Resolve:        secrets.Resolve,
		DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset,
		Bucket: sys.Objects,
		Sheets: exporter.SheetsService(cfg.SheetsEndpoint),
		RunTime: func(ctx context.Context, runID string) (time.Time, error) {
			r, err := sys.Store.RunGet(ctx, runID)
			if err != nil {
				return time.Time{}, err
			}
			return r.CreatedAt, nil
		},
		Connections: sys.Store.ConnectionList,
		Deliveries:  sys.Store,
	}
	exec := &worker.QueryExecutor{Warehouse: sys.Warehouse, DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset}
	if cfg.ExternalPollEvery == 0 {
		cfg.ExternalPollEvery = 2 * time.Second
	}
	// Uploads land in the object folder (through the API: a folder cannot sign URLs), which the
	// warehouse loads from.
	externals := &external.Executor{
		Bucket: sys.Objects, URI: func(key string) string { return "gs://local/" + key },
		Warehouse: sys.Warehouse, DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset,
		PollEvery: cfg.ExternalPollEvery, Log: log,
	}
	sys.Worker = worker.New(sys.Store, sys.Queue.Topic(engine.CompletionsTopic),
		map[string]worker.Executor{"query": exports.Wrap(exec), "import": exports.Wrap(imports),
			external.Kind: exports.Wrap(externals)}, log,
		worker.Config{Lease: cfg.Lease, DefaultRetryBackoff: 2 * time.Second, Dispatcher: sys.Scheduler, Concurrency: cfg.Workers, Pull: true, MaxChain: -1})
	return sys, nil
}

// FileURL is the file:// URL of the object at key in the object folder: where export callbacks
// and the API's export listing point a reader on this machine.
func (s *System) FileURL(key string) (string, error) {
	path, err := filepath.Abs(filepath.Join(s.Objects.Dir(), filepath.FromSlash(key)))
	if err != nil {
		return "", fmt.Errorf("error making the path of object %s: %w", key, err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String(), nil
}

// localNetworks are the addresses maestro dev's callbacks may reach beyond the public internet:
// loopback and private ranges. Link-local (the cloud metadata address) stays refused.
var localNetworks = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("fc00::/7"),
}

// Run runs the worker and scheduler loops until ctx is done.
func (s *System) Run(ctx context.Context, loops engine.SchedulerLoops) error {
	errc := make(chan error, 2)
	go func() { errc <- engine.RunWorker(ctx, s.tasks, s.Worker) }()
	go func() { errc <- engine.RunScheduler(ctx, s.completions, s.Scheduler, s.log, loops) }()
	return errors.Join(<-errc, <-errc)
}

// Close releases everything opened. Webhooks still being delivered get up to half a minute.
func (s *System) Close() error {
	if s.webhooks != nil {
		done := make(chan struct{})
		go func() { s.webhooks.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			s.log.Warn("webhooks still being delivered were given up")
		}
	}
	var errs []error
	if s.Queue != nil {
		errs = append(errs, s.Queue.Close())
	}
	if s.Warehouse != nil {
		errs = append(errs, s.Warehouse.Close())
	}
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
	}
	return errors.Join(errs...)
}
