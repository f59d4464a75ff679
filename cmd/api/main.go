// Command api is Maestro's HTTP API service for Cloud Run: run triggers and listings, and the
// project sync that `maestro push` calls, on Firestore and Pub/Sub. Configuration comes from
// environment variables (deploy/README.md lists them).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
)

func main() {
	cfg, err := config.Load(config.API, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	log := cloud.Logger(cfg, os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("api stopped", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	st, err := cloud.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	q, err := cloud.OpenQueue(ctx, cfg)
	if err != nil {
		return err
	}
	defer q.Close()
	// Starting a run is assembling it in the store and publishing its first tasks: the API does
	// it itself, so a run starts even while the scheduler service is scaled to zero.
	sched := scheduler.New(st, q.Topic(engine.TasksTopic), cloud.Graph(cfg), cloud.LogNotifier{Log: log}, log,
		scheduler.Config{GlobalLimit: cfg.MaxParallel})
	h := service.API(st, sched, log, service.APIConfig{User: "api", DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset})
	return cloud.Serve(ctx, cfg, h, func(ctx context.Context) error { <-ctx.Done(); return nil }, log)
}
