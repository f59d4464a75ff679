// Command api is Maestro's HTTP API service for Cloud Run: the JSON API under /api/v1 (tables,
// runs, schedules, connections, users, tokens, costs, history, external tables' uploads; see
// internal/service) on Firestore and Pub/Sub, authenticated by API tokens or Identity-Aware
// Proxy. Configuration comes from environment variables (deploy/README.md lists them).
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/scheduler"
)

func main() { cloud.Main(config.API, run) }

func run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	b, err := cloud.OpenBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	st, q := b.Store, b.Queue
	// Starting a run is assembling it in the store and publishing its first tasks: the API does
	// it itself, so a run starts even while the scheduler service is scaled to zero.
	sched := scheduler.New(st, q.Topic(engine.TasksTopic), scheduler.ProjectGraph(cfg.DefaultProject, cfg.DefaultDataset), cloud.APINotifier(cfg, st, log), log,
		scheduler.Config{GlobalLimit: cfg.MaxParallel})
	h, loop, closeAPI, err := cloud.APIService(ctx, cfg, st, sched, log)
	if err != nil {
		return err
	}
	defer closeAPI()
	return cloud.Serve(ctx, cfg, h, loop, log)
}
