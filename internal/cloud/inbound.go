package cloud

import (
	"context"
	"fmt"

	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/service"
)

// Inbound resolves what the api service needs to take calls from outside: the Slack app's
// signing secret with a users.info lookup through the bot token (MAESTRO_SLACK_SIGNING_SECRET,
// MAESTRO_SLACK_TOKEN), and the key trigger secrets are derived from (MAESTRO_TRIGGER_KEY).
// A reference that is set and does not resolve is an error: the routes would refuse everything.
func Inbound(ctx context.Context, cfg *config.Config, secrets secret.Resolver) (service.SlackConfig, []byte, error) {
	var sc service.SlackConfig
	var key []byte
	if cfg.SlackSigningSecret != "" {
		v, err := secrets.Resolve(ctx, cfg.SlackSigningSecret)
		if err != nil {
			return sc, nil, fmt.Errorf("error resolving MAESTRO_SLACK_SIGNING_SECRET: %w", err)
		}
		sc.SigningSecret = []byte(v)
		if cfg.SlackToken != "" {
			token, err := secrets.Resolve(ctx, cfg.SlackToken)
			if err != nil {
				return sc, nil, fmt.Errorf("error resolving MAESTRO_SLACK_TOKEN: %w", err)
			}
			sc.Users = service.SlackWebUsers(cfg.SlackAPIURL, token, nil)
		}
	}
	if cfg.TriggerKey != "" {
		v, err := secrets.Resolve(ctx, cfg.TriggerKey)
		if err != nil {
			return sc, nil, fmt.Errorf("error resolving MAESTRO_TRIGGER_KEY: %w", err)
		}
		if len(v) < 16 {
			return sc, nil, fmt.Errorf("MAESTRO_TRIGGER_KEY resolves to %d bytes; a key of at least 16 (32 random bytes advised) is needed", len(v))
		}
		key = []byte(v)
	}
	return sc, key, nil
}
