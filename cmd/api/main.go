// Command api is Maestro's HTTP API service for Cloud Run: the JSON API under /api/v1 (tables,
// runs, schedules, connections, users, tokens; see internal/service) on Firestore and Pub/Sub,
// authenticated by API tokens or Identity-Aware Proxy. Configuration comes from environment
// variables (deploy/README.md lists them).
package main

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
)

func main() { cloud.Main(config.API, run) }

func run(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	b, err := cloud.OpenBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	st, q := b.Store, b.Queue
	if err := ensureAdmins(ctx, st, cfg.Admins, log); err != nil {
		return err
	}
	// Starting a run is assembling it in the store and publishing its first tasks: the API does
	// it itself, so a run starts even while the scheduler service is scaled to zero.
	sched := scheduler.New(st, q.Topic(engine.TasksTopic), scheduler.ProjectGraph(cfg.DefaultProject, cfg.DefaultDataset), scheduler.LogNotifier{Log: log}, log,
		scheduler.Config{GlobalLimit: cfg.MaxParallel})
	h := service.API(st, sched, log, service.APIConfig{DefaultProject: cfg.DefaultProject, DefaultDataset: cfg.DefaultDataset,
		IAP: service.IAPConfig{Audience: cfg.IAPAudience, JWKSURL: cfg.IAPJWKSURL}, IAPDefaultRole: cfg.IAPDefaultRole})
	return cloud.Serve(ctx, cfg, h, func(ctx context.Context) error { <-ctx.Done(); return nil }, log)
}

// ensureAdmins makes the configured e-mails admins, keeping their name and group: the first
// admin has to come from somewhere, and the API lets only admins add users.
func ensureAdmins(ctx context.Context, st store.Store, admins []string, log *zap.Logger) error {
	for _, email := range admins {
		u, err := st.UserGet(ctx, email)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u = &store.User{Email: email}
		case err != nil:
			return fmt.Errorf("error reading admin %s: %w", email, err)
		case u.Role == "admin":
			continue
		}
		u.Role = "admin"
		if err := st.UserPut(ctx, *u); err != nil {
			return fmt.Errorf("error making %s an admin: %w", email, err)
		}
		log.Info("made an admin (MAESTRO_ADMINS)", zap.String("email", email))
	}
	return nil
}
