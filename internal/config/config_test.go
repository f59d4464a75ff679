package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/config"
	"github.com/maestro-sql/maestro/internal/spec"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestDefaultsFillWhatIsUnset(t *testing.T) {
	c, err := config.Load(config.Worker, env(map[string]string{"MAESTRO_PROJECT": "acme"}))
	require.NoError(t, err)
	require.Equal(t, "acme", c.BQProject, "the BigQuery project defaults to the Maestro project")
	require.Equal(t, "acme", c.DefaultProject)
	require.Equal(t, "(default)", c.FirestoreDatabase)
	require.Equal(t, "pull", c.WorkerMode)
	require.Equal(t, 8, c.Workers)
	require.Equal(t, 60*time.Second, c.Lease)
	require.Equal(t, 8080, c.Port)
}

func TestEveryBadVariableIsNamedAtOnce(t *testing.T) {
	_, err := config.Load(config.Worker, env(map[string]string{
		"MAESTRO_WORKERS":     "many",
		"MAESTRO_LEASE":       "10",
		"MAESTRO_WORKER_MODE": "poll",
	}))
	require.Error(t, err)
	for _, want := range []string{"MAESTRO_PROJECT is required", `MAESTRO_WORKERS must be a positive whole number, not "many"`,
		`MAESTRO_LEASE must be a positive duration such as 30s or 2m, not "10"`, `MAESTRO_WORKER_MODE must be one of pull, push, not "poll"`} {
		require.Contains(t, err.Error(), want)
	}
}

func TestPushModeRequiresTheTokenChecks(t *testing.T) {
	_, err := config.Load(config.Worker, env(map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_WORKER_MODE": "push"}))
	require.ErrorContains(t, err, "MAESTRO_PUSH_AUDIENCE is required")
	require.ErrorContains(t, err, "MAESTRO_PUSH_SERVICE_ACCOUNT is required in push mode")

	_, err = config.Load(config.Scheduler, env(map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_PUSH_AUDIENCE": "https://s"}))
	require.ErrorContains(t, err, "MAESTRO_TICK_SERVICE_ACCOUNT is required")
}

func TestSkippingAuthIsRefusedOnCloudRun(t *testing.T) {
	vars := map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_INSECURE_SKIP_AUTH": "true"}
	c, err := config.Load(config.Scheduler, env(vars))
	require.NoError(t, err, "locally, tests may run without tokens")
	require.True(t, c.InsecureSkipAuth)

	vars["K_SERVICE"] = "maestro-scheduler"
	_, err = config.Load(config.Scheduler, env(vars))
	require.ErrorContains(t, err, "MAESTRO_INSECURE_SKIP_AUTH cannot be set on Cloud Run")
}

func TestMarkdownListsEveryVariable(t *testing.T) {
	md := config.Markdown()
	for _, v := range config.Vars {
		require.Contains(t, md, "| `"+v.Name+"` |")
	}
}

func TestExportSigningAndCallbackRanges(t *testing.T) {
	c, err := config.Load(config.Worker, env(map[string]string{"MAESTRO_PROJECT": "acme"}))
	require.NoError(t, err)
	require.Equal(t, 24*time.Hour, c.SignedURLExpiry)
	require.Empty(t, c.CallbackAllow, "callbacks reach public addresses only, unless told")

	c, err = config.Load(config.Worker, env(map[string]string{"MAESTRO_PROJECT": "acme",
		"MAESTRO_SIGNED_URL_SERVICE_ACCOUNT": "signer@acme.iam.gserviceaccount.com", "MAESTRO_SIGNED_URL_KEY": "secretmanager:projects/acme/secrets/signer",
		"MAESTRO_SIGNED_URL_EXPIRY": "2h", "MAESTRO_CALLBACK_ALLOW_CIDRS": "10.8.0.0/16, 127.0.0.1/32"}))
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, c.SignedURLExpiry)
	require.Equal(t, "signer@acme.iam.gserviceaccount.com", c.SignerAccount)
	require.Equal(t, "secretmanager:projects/acme/secrets/signer", c.SignerKeyRef)
	require.Equal(t, []string{"10.8.0.0/16", "127.0.0.1/32"}, []string{c.CallbackAllow[0].String(), c.CallbackAllow[1].String()})

	_, err = config.Load(config.Worker, env(map[string]string{"MAESTRO_PROJECT": "acme",
		"MAESTRO_SIGNED_URL_KEY": "env:KEY", "MAESTRO_SIGNED_URL_EXPIRY": "200h", "MAESTRO_CALLBACK_ALLOW_CIDRS": "10.8.0.0/16,everything"}))
	require.ErrorContains(t, err, "MAESTRO_SIGNED_URL_KEY needs MAESTRO_SIGNED_URL_SERVICE_ACCOUNT")
	require.ErrorContains(t, err, `MAESTRO_SIGNED_URL_EXPIRY must be at most 168h (Cloud Storage refuses longer signed URLs), not "200h"`)
	require.ErrorContains(t, err, `MAESTRO_CALLBACK_ALLOW_CIDRS must list address ranges such as 10.8.0.0/16, not "everything"`)
}

func TestSlackAndPricing(t *testing.T) {
	c, err := config.Load(config.Scheduler, env(map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_INSECURE_SKIP_AUTH": "true",
		"MAESTRO_SLACK_TOKEN": "env:SLACK_BOT_TOKEN", "MAESTRO_SLACK_CHANNEL": "#data",
		"MAESTRO_SLACK_ROUTES": `[{"tables": ["sales.*"], "slack_channel": "#sales"}]`,
		"MAESTRO_PRICING":      "editions:0.06"}))
	require.NoError(t, err)
	require.Equal(t, "env:SLACK_BOT_TOKEN", c.SlackToken)
	require.Equal(t, []spec.NotifyRoute{{Tables: []string{"sales.*"}, SlackChannel: "#sales"}}, c.SlackRoutes)
	require.Equal(t, spec.Pricing{Model: "editions", USDPerSlotHour: 0.06, AnomalyMultiple: 3, AnomalyRuns: 10}, c.Pricing)

	c, err = config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme"}))
	require.NoError(t, err)
	require.Empty(t, c.Pricing.Model, "no pricing: costs unknown")

	_, err = config.Load(config.Scheduler, env(map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_INSECURE_SKIP_AUTH": "true",
		"MAESTRO_SLACK_TOKEN": "xoxb-1234-secret", "MAESTRO_PRICING": "flat:10", "MAESTRO_SLACK_ROUTES": `[{"slack_channel": "#x"}]`,
		"MAESTRO_COST_ANOMALY_MULTIPLE": "0.5"}))
	require.ErrorContains(t, err, "MAESTRO_SLACK_TOKEN must be a reference")
	require.NotContains(t, err.Error(), "xoxb")
	require.ErrorContains(t, err, `MAESTRO_PRICING: unknown model "flat"`)
	require.ErrorContains(t, err, "route 1 needs a slack_channel and at least one of tables, group or schedule")
	require.ErrorContains(t, err, "MAESTRO_COST_ANOMALY_MULTIPLE must be above 1")
}

func TestSlackSigningSecretAndTriggerKeyAreReferences(t *testing.T) {
	c, err := config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme",
		"MAESTRO_SLACK_SIGNING_SECRET": "secretmanager:projects/acme/secrets/slack-signing", "MAESTRO_TRIGGER_KEY": "file:/secrets/trigger-key"}))
	require.NoError(t, err)
	require.Equal(t, "secretmanager:projects/acme/secrets/slack-signing", c.SlackSigningSecret)
	require.Equal(t, "file:/secrets/trigger-key", c.TriggerKey)

	_, err = config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme",
		"MAESTRO_SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5", "MAESTRO_TRIGGER_KEY": "hunter2"}))
	require.ErrorContains(t, err, "MAESTRO_SLACK_SIGNING_SECRET must be a reference")
	require.ErrorContains(t, err, "MAESTRO_TRIGGER_KEY must be a reference")
	require.NotContains(t, err.Error(), "8f742231", "the secret is never echoed")
	require.NotContains(t, err.Error(), "hunter2")
}

func TestHistoryCredentialIsAReference(t *testing.T) {
	vars := map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_HISTORY_REMOTE": "https://git.example.test/acme/history.git",
		"MAESTRO_HISTORY_AUTH": "ghp_s3cr3t"}
	_, err := config.Load(config.API, env(vars))
	require.ErrorContains(t, err, "MAESTRO_HISTORY_AUTH must be a secret reference")
	require.NotContains(t, err.Error(), "ghp_s3cr3t", "the value is never repeated")

	vars["MAESTRO_HISTORY_AUTH"] = "env:HISTORY_TOKEN"
	c, err := config.Load(config.API, env(vars))
	require.NoError(t, err)
	require.Equal(t, "main", c.HistoryBranch)
	require.Equal(t, "/tmp/maestro-history", c.HistoryDir)
}

func TestWebhooks(t *testing.T) {
	c, err := config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme",
		"MAESTRO_WEBHOOKS": `[{"url": "https://hooks.example.test/m", "secret": "secretmanager:projects/acme/secrets/hook", "events": ["run.started"]}]`}))
	require.NoError(t, err)
	require.Equal(t, []spec.Webhook{{URL: "https://hooks.example.test/m", SecretRef: "secretmanager:projects/acme/secrets/hook", Events: []string{"run.started"}}}, c.Webhooks)

	_, err = config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme",
		"MAESTRO_WEBHOOKS": `[{"url": "ftp://x", "secret": "hunter2", "events": ["run.exploded"]}]`}))
	require.ErrorContains(t, err, `webhook 1: url "ftp://x" is not an http(s) URL`)
	require.ErrorContains(t, err, "webhook 1: secret must be a reference")
	require.ErrorContains(t, err, `webhook 1: unknown event "run.exploded"`)
	require.NotContains(t, err.Error(), "hunter2")
	_, err = config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_WEBHOOKS": `{"url": "x"}`}))
	require.ErrorContains(t, err, "MAESTRO_WEBHOOKS must be a JSON list")
}

func TestAPIAuthentication(t *testing.T) {
	c, err := config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme",
		"MAESTRO_IAP_AUDIENCE": "/projects/1/global/backendServices/2", "MAESTRO_ADMINS": " Ana@Example.com, bo@example.com ,"}))
	require.NoError(t, err)
	require.Equal(t, "https://www.gstatic.com/iap/verify/public_key-jwk", c.IAPJWKSURL)
	require.Equal(t, []string{"ana@example.com", "bo@example.com"}, c.Admins)
	require.Empty(t, c.IAPDefaultRole, "strangers are refused unless said otherwise")

	_, err = config.Load(config.API, env(map[string]string{"MAESTRO_PROJECT": "acme", "MAESTRO_IAP_DEFAULT_ROLE": "admin", "MAESTRO_ADMINS": "ana"}))
	require.ErrorContains(t, err, `MAESTRO_IAP_DEFAULT_ROLE must be viewer or editor (or empty), not "admin"`)
	require.ErrorContains(t, err, `MAESTRO_ADMINS must list e-mail addresses, not "ana"`)
}
