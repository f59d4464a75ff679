package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/worker"
)

// Authenticator checks that a request comes from the one identity allowed to make it (Cloud
// Scheduler's service account for /tick). It returns an error saying why not.
type Authenticator func(r *http.Request) error

// PushHandler turns a queue handler into the endpoint a Pub/Sub push subscription calls; it
// verifies the push identity itself.
type PushHandler func(h queue.Handler) http.Handler

// Loop is what a service runs beside its HTTP server until ctx is done.
type Loop func(ctx context.Context) error

// SchedulerConfig configures the scheduler service.
type SchedulerConfig struct {
	SweepEvery time.Duration
	// TickAuth guards POST /tick; nil lets anyone tick (local tests only).
	TickAuth Authenticator
	// Completions, in pull mode, is the completion subscription. Nil in push mode.
	Completions queue.Subscription
	// Push, in push mode, serves POST /push/completions. Nil in pull mode.
	Push PushHandler
	// DeadLetters, when set, reports every message of DeadLetterSubscriptions (logged at error
	// level, counted) and serves the counts and latest ones at GET /dead-letters (guarded by
	// TickAuth).
	DeadLetters             *scheduler.DeadLetters
	DeadLetterSubscriptions []DeadLetterSubscription
}

// DeadLetterSubscription is a dead-letter subscription the scheduler reports from.
type DeadLetterSubscription struct {
	Name         string
	Subscription queue.Subscription
	// Completions says its messages are completions; otherwise they are tasks.
	Completions bool
}

// SchedulerService serves the scheduler: POST /tick (Cloud Scheduler calls it every minute:
// due schedules start runs, and the sweeper runs), completions pulled or pushed, and the
// dispatcher and sweeper loops.
func SchedulerService(s *scheduler.Scheduler, log *zap.Logger, cfg SchedulerConfig) (http.Handler, Loop) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("POST /tick", func(w http.ResponseWriter, r *http.Request) {
		if cfg.TickAuth != nil {
			if err := cfg.TickAuth(r); err != nil {
				log.Warn("refused a tick", zap.Error(err))
				writeJSONError(w, http.StatusForbidden, "only the scheduler job's service account may tick")
				return
			}
		}
		tickErr := s.Tick(r.Context())
		sweepErr := s.Sweep(r.Context())
		if err := errors.Join(tickErr, sweepErr); err != nil {
			log.Error("tick failed", zap.Error(err))
			// 5xx makes Cloud Scheduler retry the tick per its retry policy.
			writeJSONError(w, http.StatusInternalServerError, "the tick failed; see the log")
			return
		}
		writeJSON(w, map[string]string{"status": "ok"})
	})
	if cfg.Push != nil {
		mux.Handle("POST /push/completions", cfg.Push(s.HandleCompletion))
	}
	if cfg.DeadLetters != nil {
		mux.HandleFunc("GET /dead-letters", func(w http.ResponseWriter, r *http.Request) {
			if cfg.TickAuth != nil {
				if err := cfg.TickAuth(r); err != nil {
					writeJSONError(w, http.StatusForbidden, "only the scheduler job's service account may read dead letters")
					return
				}
			}
			writeJSON(w, cfg.DeadLetters.Report())
		})
	}
	loop := func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		var receivers sync.WaitGroup
		defer receivers.Wait()
		defer cancel()
		if cfg.DeadLetters != nil {
			for _, d := range cfg.DeadLetterSubscriptions {
				receivers.Go(func() {
					err := d.Subscription.Receive(ctx, cfg.DeadLetters.Handler(d.Name, d.Completions))
					if err != nil && ctx.Err() == nil {
						log.Error("receiving dead letters failed; they stay in their subscription", zap.String("subscription", d.Name), zap.Error(err))
					}
				})
			}
		}
		return engine.RunScheduler(ctx, cfg.Completions, s, log, engine.SchedulerLoops{SweepEvery: cfg.SweepEvery, NoTick: true})
	}
	return mux, loop
}

// WorkerService serves a worker: tasks pulled from tasks (pull mode, a Cloud Run worker pool),
// or pushed to POST /push/tasks (push mode, a Cloud Run service).
func WorkerService(w *worker.Worker, tasks queue.Subscription, push PushHandler) (http.Handler, Loop) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	if push != nil {
		mux.Handle("POST /push/tasks", push(w.Handle))
		return mux, func(ctx context.Context) error { <-ctx.Done(); return nil }
	}
	return mux, func(ctx context.Context) error { return engine.RunWorker(ctx, tasks, w) }
}

// ShutdownBudget is how long a service takes to stop after SIGTERM: Cloud Run kills it 10 s
// after the signal, and the rest is margin for closing the clients.
const ShutdownBudget = 8 * time.Second

// Serve listens on addr and runs loop until ctx is done (SIGTERM), then stops taking requests,
// lets running ones finish and stops the loop, all within ShutdownBudget. ready, if not nil, is
// called once the port accepts connections.
func Serve(ctx context.Context, addr string, h http.Handler, loop Loop, log *zap.Logger, ready func(addr string)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("error listening on %s: %w", addr, err)
	}
	// Request bodies and answers are bounded per route by the handlers (the API sets deadlines per
	// request; a worker's push request lasts as long as its task), so only the header read and
	// idle keep-alive connections are bounded here.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLoop()
	loopErr := make(chan error, 1)
	go func() { loopErr <- loop(loopCtx) }()
	if ready != nil {
		ready(l.Addr().String())
	}
	log.Info("serving", zap.String("addr", l.Addr().String()))

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		stopLoop()
		<-loopErr
		return fmt.Errorf("error serving HTTP: %w", err)
	case err := <-loopErr:
		_ = srv.Close()
		if err == nil {
			err = errors.New("the service loop stopped by itself")
		}
		return err
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownBudget)
	defer cancel()
	httpErr := srv.Shutdown(shutdownCtx)
	stopLoop()
	select {
	case err := <-loopErr:
		return errors.Join(httpErr, err)
	case <-shutdownCtx.Done():
		return errors.Join(httpErr, errors.New("the service loop did not stop within the shutdown budget"))
	}
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}
