package cloud

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/store"
)

// NotifierStore is what notifications read and write of the store.
type NotifierStore interface {
	notify.Store
	store.DeliveryRecorder
}

// Notifier returns the scheduler's notifier: Slack when MAESTRO_SLACK_TOKEN is set, else the
// log, and beside it the webhooks of MAESTRO_WEBHOOKS. A token reference that does not resolve is
// an error: the service would otherwise run silently without the notifications it was
// configured for.
func Notifier(ctx context.Context, cfg *config.Config, st NotifierStore, log *zap.Logger) (scheduler.Notifier, error) {
	chat, err := chatNotifier(ctx, cfg, st, log)
	if err != nil {
		return nil, err
	}
	return withWebhooks(chat, cfg, st, log), nil
}

// APINotifier is the api service's: runs it starts (manual runs, resumes) are told to the
// webhooks; the scheduler service tells how they end.
func APINotifier(cfg *config.Config, st NotifierStore, log *zap.Logger) scheduler.Notifier {
	return withWebhooks(scheduler.LogNotifier{Log: log}, cfg, st, log)
}

func withWebhooks(n scheduler.Notifier, cfg *config.Config, st NotifierStore, log *zap.Logger) scheduler.Notifier {
	if len(cfg.Webhooks) == 0 {
		return n
	}
	// Refused by default: loopback, private ranges, link-local and the metadata server.
	client := callback.New(callback.Config{Allow: cfg.CallbackAllow})
	pricing := cfg.Pricing
	return notify.Notifiers{n, notify.NewWebhooks(client, cfg.Webhooks, st, log, notify.WebhooksConfig{Resolve: Secrets().Resolve,
		CostJumps: func(ctx context.Context, r *run.Run, nodes []*run.Node) ([]cost.Anomaly, error) {
			return cost.Anomalies(ctx, st, pricing, r, nodes)
		}})}
}

func chatNotifier(ctx context.Context, cfg *config.Config, st notify.Store, log *zap.Logger) (scheduler.Notifier, error) {
	if cfg.SlackToken == "" {
		log.Info("MAESTRO_SLACK_TOKEN is unset: failures and run summaries go to the log")
		return scheduler.LogNotifier{Log: log}, nil
	}
	token, err := secret.Resolver{}.Resolve(ctx, cfg.SlackToken)
	if err != nil {
		return nil, fmt.Errorf("error resolving MAESTRO_SLACK_TOKEN: %w", err)
	}
	var opts []slack.Option
	if cfg.SlackAPIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.SlackAPIURL))
	}
	return notify.NewSlack(slack.New(token, opts...), st, log, notify.Config{
		Channel: cfg.SlackChannel, Routes: cfg.SlackRoutes, Pricing: cfg.Pricing, UIURL: cfg.UIURL,
	}), nil
}
