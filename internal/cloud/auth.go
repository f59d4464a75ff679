package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubpush"
	"github.com/maestro-sql/maestro/internal/service"
)

// TickAuth accepts only calls carrying an OIDC token of the Cloud Scheduler job's service
// account for the scheduler's audience.
func TickAuth(ctx context.Context, cfg *config.Config) (service.Authenticator, error) {
	v, err := pubsubpush.NewVerifier(ctx, pubsubpush.Config{Audience: cfg.PushAudience, ServiceAccountEmail: cfg.TickAccount})
	if err != nil {
		return nil, fmt.Errorf("error setting up the tick's token check: %w", err)
	}
	return func(r *http.Request) error {
		if status, reason := v.Authorize(r); status != 0 {
			return errors.New(reason)
		}
		return nil
	}, nil
}

// Push serves Pub/Sub push deliveries that carry an OIDC token of the push service account.
func Push(ctx context.Context, cfg *config.Config, log *zap.Logger) (service.PushHandler, error) {
	pcfg := pubsubpush.Config{Audience: cfg.PushAudience, ServiceAccountEmail: cfg.PushAccount, Logger: log}
	if _, err := pubsubpush.NewVerifier(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("error setting up the push token check: %w", err)
	}
	return func(h queue.Handler) http.Handler {
		ph, err := pubsubpush.New(ctx, pcfg, h)
		if err != nil {
			// The configuration passed the check above: only a missing handler gets here.
			log.Error("push endpoint misconfigured", zap.Error(err))
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "push endpoint misconfigured", http.StatusInternalServerError)
			})
		}
		return ph
	}, nil
}
