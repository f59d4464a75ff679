package cloud_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/scheduler"
)

func TestNotifier(t *testing.T) {
	load := func(vars map[string]string) *config.Config {
		vars["MAESTRO_PROJECT"], vars["MAESTRO_INSECURE_SKIP_AUTH"] = "acme", "true"
		c, err := config.Load(config.Scheduler, func(k string) string { return vars[k] })
		require.NoError(t, err)
		return c
	}
	n, err := cloud.Notifier(t.Context(), load(map[string]string{}), nil, zap.NewNop())
	require.NoError(t, err)
	require.IsType(t, scheduler.LogNotifier{}, n, "no token: the log")

	t.Setenv("TEST_SLACK_TOKEN", "xoxb-test")
	n, err = cloud.Notifier(t.Context(), load(map[string]string{"MAESTRO_SLACK_TOKEN": "env:TEST_SLACK_TOKEN", "MAESTRO_SLACK_CHANNEL": "#data"}), nil, zap.NewNop())
	require.NoError(t, err)
	require.IsType(t, &notify.Slack{}, n)

	_, err = cloud.Notifier(t.Context(), load(map[string]string{"MAESTRO_SLACK_TOKEN": "env:TEST_SLACK_TOKEN_UNSET"}), nil, zap.NewNop())
	require.ErrorContains(t, err, "TEST_SLACK_TOKEN_UNSET is not set", "a configured token that does not resolve stops the service")
}
