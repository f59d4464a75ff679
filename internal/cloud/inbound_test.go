package cloud_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/secret"
	apiservice "github.com/maestro-sql/maestro/internal/service"
)

func TestInbound(t *testing.T) {
	load := func(vars map[string]string) *config.Config {
		vars["MAESTRO_PROJECT"] = "acme"
		c, err := config.Load(config.API, func(k string) string { return vars[k] })
		require.NoError(t, err)
		return c
	}
	env := map[string]string{"SIGNING": "slack-signing-secret", "BOT": "xoxb-test", "TKEY": "0123456789abcdef0123456789abcdef", "SHORT": "abc"}
	secrets := secret.Resolver{Getenv: func(k string) string { return env[k] }}

	sc, key, err := cloud.Inbound(t.Context(), load(map[string]string{}), secrets)
	require.NoError(t, err)
	require.Empty(t, sc.SigningSecret, "unset: the Slack routes answer 404")
	require.Empty(t, key, "unset: no trigger can be made")

	sc, key, err = cloud.Inbound(t.Context(), load(map[string]string{"MAESTRO_SLACK_SIGNING_SECRET": "env:SIGNING",
		"MAESTRO_SLACK_TOKEN": "env:BOT", "MAESTRO_TRIGGER_KEY": "env:TKEY"}), secrets)
	require.NoError(t, err)
	require.NotNil(t, sc.Users, "users.info through the bot token")
	require.Equal(t, []byte(env["TKEY"]), key)
	ts, sig := apiservice.SignSlack([]byte("slack-signing-secret"), time.Now(), []byte("text=runs"))
	_, err = apiservice.VerifySlack(sc.SigningSecret, http.Header{"X-Slack-Request-Timestamp": {ts}, "X-Slack-Signature": {sig}}, []byte("text=runs"), time.Now())
	require.NoError(t, err, "the resolved secret verifies what Slack signs")

	_, _, err = cloud.Inbound(t.Context(), load(map[string]string{"MAESTRO_SLACK_SIGNING_SECRET": "env:UNSET"}), secrets)
	require.ErrorContains(t, err, "MAESTRO_SLACK_SIGNING_SECRET")
	_, _, err = cloud.Inbound(t.Context(), load(map[string]string{"MAESTRO_TRIGGER_KEY": "env:SHORT"}), secrets)
	require.ErrorContains(t, err, "at least 16")
	require.NotContains(t, err.Error(), "abc", "the key is never echoed")
}
