// Command worker is Maestro's worker service for Cloud Run: it receives task messages (pulled
// by a worker pool, or pushed by Pub/Sub to POST /push/tasks), claims the node, runs its
// BigQuery job with a job id derived from (run, node, attempt) — a query, or an import from
// PostgreSQL or MySQL, then the table's exports — heartbeats while it runs, and records the
// outcome. Configuration comes from environment variables (deploy/README.md).
package main

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/worker"
)

func main() { cloud.Main(config.Worker, run) }

func run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	b, err := cloud.OpenBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	st, q := b.Store, b.Queue
	var bqOpts []option.ClientOption
	if cfg.BigQueryEndpoint != "" {
		bqOpts = append(bqOpts, option.WithEndpoint(cfg.BigQueryEndpoint), option.WithoutAuthentication())
	}
	wh, err := bigquerywarehouse.OpenWithOptions(ctx, cfg.BQProject, &bigquerywarehouse.Options{Location: cfg.BQLocation}, bqOpts...)
	if err != nil {
		return fmt.Errorf("error opening BigQuery of project %s: %w", cfg.BQProject, err)
	}
	defer wh.Close()
	execs, closeExecs, err := cloud.WorkerExecutors(ctx, cfg, cloud.WorkerParts{
		Connections: st.ConnectionList, Warehouse: wh, Secrets: cloud.Secrets(), Getenv: os.Getenv, Log: log,
		Runs: st.RunGet, Deliveries: st,
	})
	if err != nil {
		return err
	}
	defer closeExecs()
	// The worker dispatches what its nodes unlock, within the same limits as the scheduler.
	dispatcher := scheduler.New(st, q.Topic(engine.TasksTopic), nil, nil, log, scheduler.Config{GlobalLimit: cfg.MaxParallel})
	w := worker.New(st, q.Topic(engine.CompletionsTopic), execs, log,
		worker.Config{Lease: cfg.Lease, Dispatcher: dispatcher, Concurrency: cfg.Workers})
	var tasks queue.Subscription
	var push service.PushHandler
	if cfg.WorkerMode == "push" {
		if push, err = cloud.Push(ctx, cfg, log); err != nil {
			return err
		}
	} else {
		tasks = cloud.TaskSubscription(q, cfg)
	}
	h, loop := service.WorkerService(w, tasks, push)
	return cloud.Serve(ctx, cfg, h, loop, log)
}
