package project_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
)

func TestLoadNotifyAndPricing(t *testing.T) {
	t.Parallel()

	t.Run("RoutesAndPricing", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": `schedules:
  - {name: hourly, cron: "@hourly"}
notify:
  slack_channel: "#data"
  slack_token: env:MY_SLACK_TOKEN
  routes:
    - {tables: [Sales.*, "*.daily_*"], slack_channel: "#sales"}
    - {group: finance, schedule: hourly, slack_channel: C0123}
pricing:
  model: on_demand
  usd_per_tib: 6.25
  estimate_warn_usd: 2.5
`,
			"a/x.sql": "SELECT 1",
		})
		p, err := project.Load(t.Context(), dir)
		require.NoError(t, err)
		require.Equal(t, spec.Notify{SlackChannel: "#data", SlackToken: "env:MY_SLACK_TOKEN", Routes: []spec.NotifyRoute{
			{Tables: []string{"sales.*", "*.daily_*"}, SlackChannel: "#sales"},
			{Group: "finance", Schedule: "hourly", SlackChannel: "C0123"},
		}}, p.Notify)
		require.Equal(t, spec.Pricing{Model: "on_demand", USDPerTiB: 6.25, EstimateWarnUSD: 2.5,
			AnomalyMultiple: project.AnomalyMultipleDefault, AnomalyRuns: project.AnomalyRunsDefault}, p.Pricing)
	})

	t.Run("NoPricingMeansUnknownCost", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{"a/x.sql": "SELECT 1"})
		p, err := project.Load(t.Context(), dir)
		require.NoError(t, err)
		require.Equal(t, spec.Pricing{}, p.Pricing)
	})

	t.Run("EditionsWithAlertsOff", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": "pricing: {model: editions, usd_per_slot_hour: 0.06, anomaly_multiple: 0}\n",
			"a/x.sql":      "SELECT 1",
		})
		p, err := project.Load(t.Context(), dir)
		require.NoError(t, err)
		require.Equal(t, spec.Pricing{Model: "editions", USDPerSlotHour: 0.06, AnomalyRuns: project.AnomalyRunsDefault}, p.Pricing)
	})

	t.Run("ErrorsNameTheirLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": `schedules:
  - {name: daily, cron: "@daily"}
notify:
  slack_token: xoxb-123-secret
  routes:
    - tables: [sales]
      slack_channel: "#a"
    - schedule: weekly
      slack_channel: "#b"
    - group: finance
    - slack_channel: "#c"
pricing:
  model: on_demand
  usd_per_slot_hour: 0.06
  anomaly_multiple: 0.5
  anomaly_runs: 1
`,
			"a/x.sql": "SELECT 1",
		})
		_, err := project.Load(t.Context(), dir)
		require.Equal(t, []string{
			`maestro.yaml:4: notify: slack_token: secret must be a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V]), never the secret itself`,
			`maestro.yaml:6: notify route 1: table "sales" must be dataset.table, where either may be a pattern such as sales.* or *.daily_*`,
			`maestro.yaml:8: notify route 2: unknown schedule "weekly"`,
			`maestro.yaml:10: notify route 3 has no slack_channel`,
			`maestro.yaml:11: notify route 4 matches nothing: give tables, group or schedule`,
			`maestro.yaml:13: pricing: model on_demand needs usd_per_tib, a positive price`,
			`maestro.yaml:14: pricing: usd_per_slot_hour is for model editions, not on_demand`,
			`maestro.yaml:15: pricing: anomaly_multiple must be above 1 (or 0: no alerts), not 0.5`,
			`maestro.yaml:16: pricing: anomaly_runs must be at least 3, not 1`,
		}, errorLines(err))
		require.NotContains(t, err.Error(), "xoxb", "a token is never echoed")
	})
}
