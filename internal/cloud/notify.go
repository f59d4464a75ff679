package cloud

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/secret"
)

// Notifier returns the scheduler's notifier: Slack when MAESTRO_SLACK_TOKEN is set, else the
// log. A token reference that does not resolve is an error: the service would otherwise run
// silently without the notifications it was configured for.
func Notifier(ctx context.Context, cfg *config.Config, st notify.Store, log *zap.Logger) (scheduler.Notifier, error) {
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
