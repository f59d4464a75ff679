// Package engine runs Maestro's loops: workers receiving tasks, the scheduler receiving
// completions, the sweeper and the schedule clock. `maestro dev` runs them all in one process;
// the production services each run their part.
package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/worker"
)

// Topic and subscription names, the same on every queue backend.
const (
	TasksTopic                 = "maestro-tasks"
	TasksSubscription          = "maestro-tasks-worker"
	TasksDeadLetterTopic       = "maestro-tasks-dead"
	CompletionsTopic           = "maestro-completions"
	CompletionsSubscription    = "maestro-completions-scheduler"
	CompletionsDeadLetterTopic = "maestro-completions-dead"
	// The dead-letter topics' subscriptions (deploy/ names them as their topics), which keep
	// what Pub/Sub gave up on; the scheduler reports it.
	TasksDeadLetterSubscription       = "maestro-tasks-dead"
	CompletionsDeadLetterSubscription = "maestro-completions-dead"
)

// RunWorker delivers tasks to w until ctx is done.
func RunWorker(ctx context.Context, tasks queue.Subscription, w *worker.Worker) error {
	err := tasks.Receive(ctx, w.Handle)
	w.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("error receiving tasks: %w", err)
	}
	return nil
}

// SchedulerLoops configures RunScheduler.
type SchedulerLoops struct {
	// SweepEvery is the sweeper's period. Defaults to 5s.
	SweepEvery time.Duration
	// TickEvery is how often due schedules are checked. Defaults to 15s. 0 with NoTick: never.
	TickEvery time.Duration
	NoTick    bool
}

// RunScheduler delivers completions to s, and runs the sweeper and schedule clock, until ctx is
// done. completions is nil when they are pushed over HTTP instead.
func RunScheduler(ctx context.Context, completions queue.Subscription, s *scheduler.Scheduler, log *zap.Logger, cfg SchedulerLoops) error {
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = 5 * time.Second
	}
	if cfg.TickEvery == 0 {
		cfg.TickEvery = 15 * time.Second
	}
	errc := make(chan error, 1)
	if completions != nil {
		go func() { errc <- completions.Receive(ctx, s.HandleCompletion) }()
	} else {
		go func() { <-ctx.Done(); errc <- ctx.Err() }()
	}
	dispatcherDone := make(chan struct{})
	go func() { defer close(dispatcherDone); s.RunDispatcher(ctx) }()
	defer func() { <-dispatcherDone }()

	// Sweep at once: after a restart this is what picks up where a dead process stopped.
	if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
		log.Warn("sweep failed", zap.Error(err))
	}
	sweep := time.NewTicker(cfg.SweepEvery)
	defer sweep.Stop()
	var tick <-chan time.Time
	if !cfg.NoTick {
		t := time.NewTicker(cfg.TickEvery)
		defer t.Stop()
		tick = t.C
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			log.Warn("schedule tick failed", zap.Error(err))
		}
	}
	for {
		select {
		case <-ctx.Done():
			err := <-errc
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("error receiving completions: %w", err)
			}
			return nil
		case err := <-errc:
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("error receiving completions: %w", err)
			}
			return nil
		case <-sweep.C:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				log.Warn("sweep failed", zap.Error(err))
			}
		case <-tick:
			if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
				log.Warn("schedule tick failed", zap.Error(err))
			}
		}
	}
}
