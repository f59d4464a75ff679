package devmode

import (
	"context"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// SlackTokenRefDefault is the bot token's reference when maestro.yaml's notify.slack_token
// names none.
const SlackTokenRefDefault = "env:SLACK_BOT_TOKEN"

// SlackAPIURLEnv names the variable that points maestro dev at another Slack Web API URL
// (Config.SlackAPIURL): a test server, or a proxy.
const SlackAPIURLEnv = "MAESTRO_SLACK_API_URL"

// notifiers returns the chat notifier (see notifier) and, when the project lists webhooks, the
// webhooks beside it, which may reach receivers on this machine or the local network.
func notifiers(ctx context.Context, cfg Config, st *sqlitestore.Store, resolve func(context.Context, string) (string, error), log *zap.Logger) (scheduler.Notifier, *notify.Webhooks) {
	chat := notifier(ctx, cfg, st, log)
	if len(cfg.Project.Notify.Webhooks) == 0 {
		return chat, nil
	}
	pricing := cfg.Project.Pricing
	hooks := notify.NewWebhooks(callback.New(callback.Config{Allow: localNetworks}), cfg.Project.Notify.Webhooks, st, log,
		notify.WebhooksConfig{Resolve: resolve, CostJumps: func(ctx context.Context, r *run.Run, nodes []*run.Node) ([]cost.Anomaly, error) {
			return cost.Anomalies(ctx, st, pricing, r, nodes)
		}})
	return notify.Notifiers{chat, hooks}, hooks
}

// notifier returns Slack when the project's bot token resolves, else the log: maestro dev
// works without a Slack workspace, and says so once.
func notifier(ctx context.Context, cfg Config, st notify.Store, log *zap.Logger) scheduler.Notifier {
	p := cfg.Project
	ref := p.Notify.SlackToken
	if ref == "" {
		ref = SlackTokenRefDefault
	}
	token, err := secret.Resolver{}.Resolve(ctx, ref)
	if err != nil {
		if p.Notify.SlackChannel != "" || len(p.Notify.Routes) > 0 {
			log.Warn("slack is configured but its token does not resolve; notifications go to the log", zap.Error(err))
		}
		return scheduler.LogNotifier{Log: log}
	}
	var opts []slack.Option
	if cfg.SlackAPIURL != "" {
		opts = append(opts, slack.OptionAPIURL(cfg.SlackAPIURL))
	}
	log.Info("notifications go to slack", zap.String("channel", p.Notify.SlackChannel), zap.Int("routes", len(p.Notify.Routes)))
	return notify.NewSlack(slack.New(token, opts...), st, log, notify.Config{
		Channel: p.Notify.SlackChannel, Routes: p.Notify.Routes, Pricing: p.Pricing, UIURL: cfg.UIURL,
	})
}

// warnEstimates logs the synced tables whose dry run costs more than pricing.estimate_warn_usd,
// when the warehouse can dry-run (BigQuery can; the embedded DuckDB cannot estimate, so then
// nothing is said).
func warnEstimates(ctx context.Context, wh any, p *spec.Project, changed []string, log *zap.Logger) {
	dr, ok := wh.(warehouse.DryRunner)
	if !ok {
		return
	}
	warnings, err := cost.EstimateWarnings(ctx, dr, p, p.Pricing, changed)
	if err != nil {
		log.Warn("estimating the synced tables failed", zap.Error(err))
	}
	for _, w := range warnings {
		log.Warn("costly table", zap.String("node", w.Table), zap.Float64("usd", w.USD), zap.String("estimate", w.Message))
	}
}
