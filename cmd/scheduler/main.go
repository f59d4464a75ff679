// Command scheduler is Maestro's scheduler service for Cloud Run: Cloud Scheduler calls POST
// /tick every minute (due schedules start runs, the sweeper repairs lost messages and expired
// leases), and completions arrive pulled or pushed from Pub/Sub, unlocking downstream tables.
// Configuration comes from environment variables (deploy/README.md lists them).
package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
)

func main() { cloud.Main(config.Scheduler, run) }

func run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	b, err := cloud.OpenBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	st, q := b.Store, b.Queue
	notifier, err := cloud.Notifier(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	sched := scheduler.New(st, q.Topic(engine.TasksTopic), scheduler.ProjectGraph(cfg.DefaultProject, cfg.DefaultDataset), notifier, log,
		scheduler.Config{GlobalLimit: cfg.MaxParallel, UndeliveredAfter: cfg.RedispatchAfter})
	scfg := service.SchedulerConfig{SweepEvery: cfg.SweepEvery}
	if !cfg.InsecureSkipAuth {
		if scfg.TickAuth, err = cloud.TickAuth(ctx, cfg); err != nil {
			return err
		}
	}
	if cfg.CompletionsMode == "push" {
		if scfg.Push, err = cloud.Push(ctx, cfg, log); err != nil {
			return err
		}
	} else {
		scfg.Completions = cloud.CompletionSubscription(q)
	}
	scfg.DeadLetters = scheduler.NewDeadLetters(st, log)
	scfg.DeadLetterSubscriptions = cloud.DeadLetterSubscriptions(q)
	h, loop := service.SchedulerService(sched, log, scfg)
	return cloud.Serve(ctx, cfg, h, loop, log)
}
