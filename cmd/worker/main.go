// Command worker is Maestro's worker service for Cloud Run: it receives task messages (pulled
// by a worker pool, or pushed by Pub/Sub to POST /push/tasks), claims the node, runs its
// BigQuery job with a job id derived from (run, node, attempt), heartbeats while it runs, and
// records the outcome. Configuration comes from environment variables (deploy/README.md).
package main

import (
	"fmt"

	"context"

	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/blob/gcsblob"
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
	if cfg.Bucket != "" {
		// Nothing writes objects yet (extracts and exports will); failing now beats failing then.
		bucket, err := gcsblob.Open(ctx, cfg.Bucket)
		if err != nil {
			return fmt.Errorf("error opening bucket %s: %w", cfg.Bucket, err)
		}
		defer bucket.Close()
	}
	exec := &worker.QueryExecutor{Warehouse: wh, DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset}
	// The worker dispatches what its nodes unlock, within the same limits as the scheduler.
	dispatcher := scheduler.New(st, q.Topic(engine.TasksTopic), nil, nil, log, scheduler.Config{GlobalLimit: cfg.MaxParallel})
	w := worker.New(st, q.Topic(engine.CompletionsTopic), map[string]worker.Executor{"query": exec}, log,
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
