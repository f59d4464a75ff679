// Command api is Maestro's HTTP API service for Cloud Run: run triggers and listings, and the
// project sync that `maestro push` calls, on Firestore and Pub/Sub. Configuration comes from
// environment variables (deploy/README.md lists them).
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/definitions"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
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
	sched := scheduler.New(st, q.Topic(engine.TasksTopic), scheduler.ProjectGraph(cfg.DefaultProject, cfg.DefaultDataset), scheduler.LogNotifier{Log: log}, log,
		scheduler.Config{GlobalLimit: cfg.MaxParallel})
	// Until the API authenticates its callers it acts as one user, "api": an admin unless the
	// store registers "api" with a narrower role.
	h := service.API(st, sched, log, service.APIConfig{User: "api", UserRole: definitions.RoleAdmin, DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset})
	return cloud.Serve(ctx, cfg, h, func(ctx context.Context) error { <-ctx.Done(); return nil }, log)
}
