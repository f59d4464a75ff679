package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/config"
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
