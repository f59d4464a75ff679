package devmode

import (
	"context"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/secret"
)

// SlackSigningSecretRef is where maestro dev finds the Slack app's signing secret; unset, the
// Slack routes of its API answer 404.
const SlackSigningSecretRef = "env:SLACK_SIGNING_SECRET"

// TriggerKeyFile is the state folder's file holding the key trigger URL secrets are derived
// from (made on first start, like callback.key).
const TriggerKeyFile = "trigger.key"

// inbound fills what maestro dev's API needs to take calls from outside: the trigger key of
// the state folder, the Slack signing secret (none when SLACK_SIGNING_SECRET is unset) and a
// bot token for users.info when it resolves.
func (sys *System) inbound(ctx context.Context, cfg Config, log *zap.Logger) error {
	key, err := stateKey(cfg.StateDir, TriggerKeyFile)
	if err != nil {
		return err
	}
	sys.TriggerKey = []byte(key)
	v, err := secret.Resolver{}.Resolve(ctx, SlackSigningSecretRef)
	if err != nil {
		return nil // no Slack app: nothing to serve
	}
	sys.SlackSigningSecret = []byte(v)
	ref := SlackTokenRefDefault
	if cfg.Project != nil && cfg.Project.Notify.SlackToken != "" {
		ref = cfg.Project.Notify.SlackToken
	}
	token, err := secret.Resolver{}.Resolve(ctx, ref)
	if err != nil {
		log.Warn("the slack bot token does not resolve: Slack users cannot be known, so their buttons and commands are refused", zap.Error(err))
		return nil
	}
	sys.SlackUsersAPIURL, sys.SlackBotToken = cfg.SlackAPIURL, token
	log.Info("serving Slack's buttons and /maestro")
	return nil
}
