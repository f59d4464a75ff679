package project_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"

	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
)

const goodConfig = `default_project: acme
default_dataset: staging
default_schedule: daily
max_parallel: 8
schedules:
  - name: daily
    cron: "0 6 * * *"
    time_zone: Europe/Paris
    description: every morning
  - name: hourly
    cron: "@hourly"
    max_parallel: 2
connections:
  - name: shop
    driver: postgres
    secret: env:SHOP_DSN
  - name: crm
    driver: mysql
    secret: secretmanager:projects/acme/secrets/crm/versions/latest
notify:
  slack_channel: "#data"
  webhooks:
    - url: https://example.test/hook
      secret: env:HOOK_KEY
      events: [run.failed, table.failed]
`

func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ReadsSettingsTablesAndSidecars", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":     goodConfig,
			"sales/orders.sql": "SELECT * FROM raw.orders",
			"sales/orders.yaml": `description: one row per order
owner: ana@acme.test
group: finance
schedules: [hourly, daily]
disposition: append
partition_by: DATE(created_at)
cluster_by: [customer_id, country]
retries: 5
retry_backoff: 2m
conditions: {months: [1, 12], weekdays: [1, 2, 3, 4, 5], days: [1], hours: [6, 23]}
reads_previous: [sales.daily]
`,
			"sales/Daily.sql":  "SELECT * FROM sales.orders",
			"mart/manual.sql":  "SELECT 1",
			"mart/manual.yaml": "schedules: []\n",
			".git/config":      "ignored",
			"README.md":        "ignored",
		})
		p, err := project.Load(ctx, dir)
		require.NoError(t, err)
		require.Equal(t, "acme", p.DefaultProject)
		require.Equal(t, "staging", p.DefaultDataset)
		require.Equal(t, "daily", p.DefaultSchedule)
		require.Equal(t, 8, p.MaxParallel)
		require.Equal(t, project.DefaultRetriesDefault, p.DefaultRetries)
		require.Equal(t, []spec.Schedule{
			{Name: "daily", Cron: "0 6 * * *", TimeZone: "Europe/Paris", Description: "every morning"},
			{Name: "hourly", Cron: "@hourly", MaxParallel: 2},
		}, p.Schedules)
		require.Equal(t, []spec.Connection{
			{Name: "shop", Driver: "postgres", SecretRef: "env:SHOP_DSN"},
			{Name: "crm", Driver: "mysql", SecretRef: "secretmanager:projects/acme/secrets/crm/versions/latest"},
		}, p.Connections)
		require.Equal(t, spec.Notify{SlackChannel: "#data", Webhooks: []spec.Webhook{
			{URL: "https://example.test/hook", SecretRef: "env:HOOK_KEY", Events: []string{"run.failed", "table.failed"}},
		}}, p.Notify)

		require.Len(t, p.Tables, 3)
		byName := map[string]spec.Table{}
		for _, tb := range p.Tables {
			byName[tb.Name] = tb
		}
		require.Equal(t, spec.Table{
			Name: "sales.orders", SQL: "SELECT * FROM raw.orders", Kind: "query",
			Description: "one row per order", Owner: "ana@acme.test", Group: "finance",
			Schedules: []string{"hourly", "daily"}, Disposition: spec.DispositionAppend,
			PartitionBy: "DATE(created_at)", ClusterBy: []string{"customer_id", "country"},
			Retries: 5, RetryBackoff: 2 * time.Minute,
			Conditions:    spec.Conditions{Months: []int{1, 12}, Weekdays: []int{1, 2, 3, 4, 5}, Days: []int{1}, Hours: []int{6, 23}},
			ReadsPrevious: []string{"sales.daily"}, File: "sales/orders.sql",
		}, byName["sales.orders"])

		daily := byName["sales.daily"]
		require.Equal(t, []string{"daily"}, daily.Schedules, "no sidecar: the default schedule")
		require.Equal(t, spec.DispositionTruncate, daily.Disposition)
		require.Equal(t, 2, daily.Retries)
		require.Equal(t, 30*time.Second, daily.RetryBackoff)
		require.Equal(t, "sales/Daily.sql", daily.File)
		require.Empty(t, byName["mart.manual"].Schedules, "an explicit empty list is manual-only")
	})

	t.Run("FolderWithoutSettingsIsAProject", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{"a/x.sql": "SELECT 1"})
		p, err := project.Load(ctx, dir)
		require.NoError(t, err)
		require.Equal(t, 4, p.MaxParallel)
		require.Len(t, p.Tables, 1)
		require.Empty(t, p.Tables[0].Schedules, "no default schedule: manual-only")
	})

	t.Run("ReportsEveryErrorWithFileAndLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": `default_schedule: nightly
max_parallel: 0
colour: blue
schedules:
  - name: daily
    cron: "0 6 * *"
  - name: daily
    cron: "@daily"
    time_zone: Mars/Olympus
connections:
  - name: shop
    driver: postgres
    secret: "postgres://admin:hunter2@db:5432/shop"
  - name: other
    driver: oracle
    secret: hunter2
`,
			"sales/orders.sql": "SELECT 1",
			"sales/orders.yaml": `owner: ana
schedules:
  - hourly
disposition: replace
cluster_by: [a, b, c, d, e]
retries: -1
retry_backoff: soon
conditions:
  months: [0, 12]
  hours: [24]
reads_previous: [nodots]
`,
			"sales/ghost.yaml":   "owner: nobody\n",
			"sales/typo.sql":     "SELECT 1",
			"sales/typo.yaml":    "ownr: ana\n",
			"bad-ds/t.sql":       "SELECT 1",
			"sales/bad-tb.sql":   "SELECT 1",
			"toplevel.sql":       "SELECT 1",
			"sales/empty.sql":    "  \n",
			"sales/nested/x.sql": "SELECT 1",
		})
		_, err := project.Load(ctx, dir)
		require.Error(t, err)
		require.Equal(t, []string{
			`bad-ds: dataset folder name "bad-ds" may hold only letters, digits and underscores`,
			`maestro.yaml:1: unknown schedule "nightly"`,
			`maestro.yaml:2: max_parallel must be at least 1, not 0`,
			`maestro.yaml:3: unknown key "colour"`,
			`maestro.yaml:6: schedule "daily": invalid cron expression "0 6 * *": expected exactly 5 fields, found 4: [0 6 * *]`,
			`maestro.yaml:7: schedule "daily" is defined twice`,
			`maestro.yaml:9: schedule "daily": unknown time zone "Mars/Olympus"`,
			`maestro.yaml:13: connection "shop": secret must be a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V]), never the secret itself`,
			`maestro.yaml:15: connection "other": unknown driver "oracle" (postgres, mysql or sqlite)`,
			`maestro.yaml:16: connection "other": secret must be a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V]), never the secret itself`,
			`sales/bad-tb.sql: table name "bad-tb" may hold only letters, digits and underscores`,
			`sales/empty.sql: the file is empty`,
			`sales/ghost.yaml: sidecar without a SQL file (sales/ghost.sql)`,
			`sales/nested: nested folders are not allowed: tables are DATASET/TABLE.sql`,
			`sales/orders.yaml:3: unknown schedule "hourly"`,
			`sales/orders.yaml:4: disposition must be truncate or append, not "replace"`,
			`sales/orders.yaml:5: cluster_by allows at most 4 columns, not 5`,
			`sales/orders.yaml:6: retries must not be negative`,
			`sales/orders.yaml:7: retry_backoff "soon" is not a positive duration such as 30s or 5m`,
			`sales/orders.yaml:9: conditions.months: 0 is out of range 1-12`,
			`sales/orders.yaml:10: conditions.hours: 24 is out of range 0-23`,
			`sales/orders.yaml:11: reads_previous "nodots" is not dataset.table`,
			`sales/typo.yaml:1: unknown key "ownr"`,
			`toplevel.sql: a table's SQL must be in a dataset folder: DATASET/TABLE.sql`,
		}, errorLines(err))
		require.NotContains(t, err.Error(), "hunter2", "a secret is never echoed")
		var pe *project.Error
		require.ErrorAs(t, err, &pe)
	})

	t.Run("YAMLSyntaxErrorHasItsLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": "default_project: acme\nschedules:\n  - name: a\n   cron: x\n",
			"b/x.sql":      "SELECT 1",
			"b/x.yaml":     "owner: ana\nretries: lots\n",
			"A/y.sql":      "SELECT 1",
			"a/y.sql":      "SELECT 1",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`a: same dataset as folder A (names are case-insensitive)`,
			`b/x.yaml:2: cannot unmarshal !!str ` + "`lots`" + ` into int`,
			`maestro.yaml:2: did not find expected '-' indicator`,
		}, errorLines(err))
	})

	t.Run("SQLThatDoesNotParseIsAnError", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"a/good.sql": "SELECT 1",
			"a/bad.sql":  "SELECT 1\nFROM t WHERE x = 'unterminated\n",
		})
		_, err := project.Load(ctx, dir)
		require.Error(t, err)
		lines := errorLines(err)
		require.Len(t, lines, 1)
		require.Regexp(t, `^a/bad\.sql:2:\d+: `, lines[0])
	})
}

func TestLoadGraph(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("LayersAndExternals", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":        "default_project: acme\ndefault_dataset: staging\n",
			"staging/raw.sql":     "SELECT * FROM `acme.src.orders`",
			"sales/orders.sql":    "SELECT * FROM raw",
			"sales/daily.sql":     "SELECT * FROM sales.orders JOIN `acme`.sales.customers USING (id)",
			"sales/customers.sql": "SELECT * FROM `other-proj.crm.people`",
		})
		p, g, err := project.LoadGraph(ctx, dir)
		require.NoError(t, err)
		require.Len(t, p.Tables, 4)
		require.Equal(t, [][]string{{"sales.customers", "staging.raw"}, {"sales.orders"}, {"sales.daily"}}, g.Layers())
		require.Equal(t, []string{"other-proj.crm.people", "src.orders"}, g.Externals())

		g2, err := project.Graph(p)
		require.NoError(t, err)
		require.Equal(t, g.Layers(), g2.Layers())
	})

	t.Run("CycleNamesTablesInOrder", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"a/x.sql": "SELECT * FROM a.z",
			"a/y.sql": "SELECT * FROM a.x",
			"a/z.sql": "SELECT * FROM a.y",
		})
		_, g, err := project.LoadGraph(ctx, dir)
		var ce *dag.CycleError
		require.True(t, errors.As(err, &ce))
		require.EqualError(t, err, "cycle: a.x -> a.y -> a.z -> a.x")
		require.NotNil(t, g)
	})

	t.Run("GraphOfTablesFromElsewhereNamesTheTable", func(t *testing.T) {
		t.Parallel()
		p := &spec.Project{DefaultProject: "acme", Tables: []spec.Table{
			{Name: "a.x", SQL: "SELECT * FROM raw.src"},
			{Name: "a.y", SQL: "SELECT * FROM a.x WHERE s = 'open"},
		}}
		_, err := project.Graph(p)
		require.Error(t, err)
		require.Regexp(t, `^error parsing SQL: a\.y:1:\d+: `, err.Error())

		p.Tables[1].SQL = "SELECT * FROM `acme.a.x`"
		g, err := project.Graph(p)
		require.NoError(t, err)
		require.Equal(t, [][]string{{"a.x"}, {"a.y"}}, g.Layers())
		require.Equal(t, []string{"raw.src"}, g.Externals())
	})

	t.Run("ReadsPreviousBreaksCycle", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"a/x.sql":  "SELECT * FROM a.y",
			"a/x.yaml": "reads_previous: [a.y]\n",
			"a/y.sql":  "SELECT * FROM a.x",
		})
		_, g, err := project.LoadGraph(ctx, dir)
		require.NoError(t, err)
		require.Equal(t, [][]string{{"a.x"}, {"a.y"}}, g.Layers())
	})
}

const importConfig = `default_project: acme
connections:
  - name: shopdb
    driver: mysql
    secret: env:SHOP_DSN
  - name: crm
    driver: postgres
    secret: file:/run/secrets/crm
`

func TestLoadImports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// Source-dialect SQL that GoogleSQL rejects: MySQL's LIMIT offset,count and # comments,
	// PostgreSQL's :: casts and dollar-quoted strings.
	const mysqlSQL = "# orders, newest last\nSELECT id, total, updated_at FROM orders ORDER BY id LIMIT 10,20\n"
	const pgSQL = "SELECT id, created::date AS day, $$it's$$ AS note FROM people WHERE active::int = 1"

	t.Run("RoundTripKeepsSourceSQLVerbatim", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":      importConfig,
			"raw/orders.sql":    mysqlSQL,
			"raw/orders.yaml":   "import:\n  connection: shopdb\n  watermark: updated_at\npartition_by: DATE(updated_at)\ncluster_by: [id]\n",
			"raw/people.sql":    pgSQL,
			"raw/people.yaml":   "owner: ana@acme.test\nimport: {connection: crm}\nretries: 1\n",
			"sales/daily.sql":   "SELECT DATE(updated_at) AS day, SUM(total) AS total FROM raw.orders GROUP BY day",
			"sales/people.sql":  "SELECT * FROM raw.people JOIN `src.extra` USING (id)",
			"sales/people.yaml": "reads_previous: [sales.daily]\n",
		})
		p, g, err := project.LoadGraph(ctx, dir)
		require.NoError(t, err)
		byName := map[string]spec.Table{}
		for _, tb := range p.Tables {
			byName[tb.Name] = tb
		}
		require.Equal(t, spec.Table{
			Name: "raw.orders", SQL: mysqlSQL, Kind: "import",
			Import:      &spec.Import{Connection: "shopdb", Watermark: "updated_at"},
			Disposition: spec.DispositionAppend, PartitionBy: "DATE(updated_at)", ClusterBy: []string{"id"},
			Retries: project.DefaultRetriesDefault, RetryBackoff: project.RetryBackoffDefault, File: "raw/orders.sql",
		}, byName["raw.orders"])
		require.Equal(t, spec.Table{
			Name: "raw.people", SQL: pgSQL, Kind: "import", Owner: "ana@acme.test",
			Import:      &spec.Import{Connection: "crm"},
			Disposition: spec.DispositionTruncate, Retries: 1, RetryBackoff: project.RetryBackoffDefault,
			File: "raw/people.sql",
		}, byName["raw.people"])
		require.Equal(t, "query", byName["sales.daily"].Kind)
		require.Nil(t, byName["sales.daily"].Import)

		// Imports are roots their readers wait for, with no external sources of their own.
		require.Equal(t, [][]string{{"raw.orders", "raw.people"}, {"sales.daily", "sales.people"}}, g.Layers())
		require.Equal(t, []string{"src.extra"}, g.Externals())
		g2, err := project.Graph(p)
		require.NoError(t, err, "Graph must not parse an import's SQL either")
		require.Equal(t, g.Layers(), g2.Layers())
		require.Equal(t, g.Externals(), g2.Externals())
	})

	t.Run("SourceSQLIsNeitherParsedNorAnEdge", func(t *testing.T) {
		t.Parallel()
		// As a query table, the PostgreSQL does not even lex: the import is not passing by luck.
		dir := maestrotest.WriteTree(t, map[string]string{"raw/x.sql": pgSQL})
		_, err := project.Load(ctx, dir)
		require.Error(t, err)
		require.Regexp(t, `^raw/x\.sql:1:\d+: `, err.Error())

		// The source database's table "daily" is not the warehouse's sales.daily: parsed as
		// GoogleSQL with default_dataset sales it would be, and make a cycle.
		dir = maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":    importConfig + "default_dataset: sales\n",
			"raw/orders.sql":  "SELECT * FROM daily",
			"raw/orders.yaml": "import: {connection: shopdb}\n",
			"sales/daily.sql": "SELECT * FROM raw.orders",
		})
		_, g, err := project.LoadGraph(ctx, dir)
		require.NoError(t, err)
		require.Equal(t, [][]string{{"raw.orders"}, {"sales.daily"}}, g.Layers())
		require.Empty(t, g.Externals())
	})

	t.Run("EmptyImportFileIsAnError", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":    importConfig,
			"raw/orders.sql":  "\n",
			"raw/orders.yaml": "import:\n  connection: shopdb\n",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{`raw/orders.sql: the file is empty`}, errorLines(err))
	})

	t.Run("ValidationErrorsNameFileAndLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": importConfig,
			"raw/a.sql":    "SELECT 1 LIMIT 1,2",
			"raw/a.yaml":   "owner: ana\nimport:\n  connection: shop\n",
			"raw/b.sql":    "SELECT 1",
			"raw/b.yaml":   "import:\n  watermark: id\n",
			"raw/c.sql":    "SELECT 1",
			"raw/c.yaml":   "import:\n  connection: \"\"\n",
			"raw/d.sql":    "SELECT 1",
			"raw/d.yaml":   "description: x\nimport:\n",
			"raw/e.sql":    "SELECT 1",
			"raw/e.yaml":   "import:\n  connection: shopdb\n  watermark: updated at\n",
			"raw/f.sql":    "SELECT 1",
			"raw/f.yaml":   "import:\n  connection: shopdb\n  watermark: \"t.updated_at\"\n",
			"raw/g.sql":    "SELECT 1",
			"raw/g.yaml":   "import:\n  connection: shopdb\n  watermark: 1st\n",
			"raw/h.sql":    "SELECT 1",
			"raw/h.yaml":   "import:\n  connection: crm\n  watermark: id\ndisposition: truncate\nreads_previous: [raw.a]\n",
			"raw/i.sql":    "SELECT 1",
			"raw/i.yaml":   "import:\n  connection: crm\n  table: people\n",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`raw/a.yaml:3: unknown connection "shop" (declared: crm, shopdb in maestro.yaml)`,
			`raw/b.yaml:1: import needs a connection: the name of one declared in maestro.yaml`,
			`raw/c.yaml:2: import needs a connection: the name of one declared in maestro.yaml`,
			`raw/d.yaml:2: import needs a connection: the name of one declared in maestro.yaml`,
			`raw/e.yaml:3: import watermark "updated at" is not a plain column name (a letter or underscore, then letters, digits and underscores)`,
			`raw/f.yaml:3: import watermark "t.updated_at" is not a plain column name (a letter or underscore, then letters, digits and underscores)`,
			`raw/g.yaml:3: import watermark "1st" is not a plain column name (a letter or underscore, then letters, digits and underscores)`,
			`raw/h.yaml:4: disposition does not apply to an import: it follows from the watermark (none: truncate, every run re-imports everything; set: append the newer rows)`,
			`raw/h.yaml:5: reads_previous does not apply to an import: it reads the source database, no warehouse table`,
			`raw/i.yaml:3: unknown key "table"`,
		}, errorLines(err))
	})

	t.Run("NoConnectionsDeclared", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"raw/a.sql":  "SELECT 1",
			"raw/a.yaml": "import: {connection: shopdb}\n",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{`raw/a.yaml:1: unknown connection "shopdb" (none are declared in maestro.yaml)`}, errorLines(err))
	})
}

func TestLoadImportRefreshOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const config = importConfig + `schedules:
  - name: nightly
    cron: "0 3 * * *"
    time_zone: Europe/Paris
  - name: paris_hourly
    cron: "@hourly"
    time_zone: Europe/Paris
  - name: utc_hourly
    cron: "@hourly"
`

	t.Run("Parsed", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": config,
			"raw/a.sql":    "SELECT 1",
			"raw/a.yaml": "schedules: [nightly, paris_hourly]\nimport:\n  connection: shopdb\n  watermark: id\n" +
				"  on_schema_change: full_refresh\n  full_refresh: {weekdays: [0], hours: [3]}\n",
			"raw/b.sql":  "SELECT 1",
			"raw/b.yaml": "schedules: [utc_hourly, nightly]\nimport:\n  connection: shopdb\n  watermark: id\n  full_refresh:\n    days: [1]\n    time_zone: America/New_York\n",
			"raw/c.sql":  "SELECT 1",
			"raw/c.yaml": "import: {connection: shopdb, watermark: id, on_schema_change: fail, full_refresh: {months: [1]}}\n",
		})
		p, err := project.Load(ctx, dir)
		require.NoError(t, err)
		byName := map[string]*spec.Import{}
		for _, tb := range p.Tables {
			byName[tb.Name] = tb.Import
		}
		require.Equal(t, &spec.Import{Connection: "shopdb", Watermark: "id", OnSchemaChange: spec.SchemaChangeFullRefresh,
			FullRefresh: &spec.FullRefresh{Conditions: spec.Conditions{Weekdays: []int{0}, Hours: []int{3}}, TimeZone: "Europe/Paris"}},
			byName["raw.a"], "the zone defaults to the one of the table's schedules")
		require.Equal(t, &spec.FullRefresh{Conditions: spec.Conditions{Days: []int{1}}, TimeZone: "America/New_York"}, byName["raw.b"].FullRefresh)
		require.Equal(t, &spec.Import{Connection: "shopdb", Watermark: "id", OnSchemaChange: spec.SchemaChangeFail,
			FullRefresh: &spec.FullRefresh{Conditions: spec.Conditions{Months: []int{1}}}}, byName["raw.c"], "no schedule: UTC")
	})

	t.Run("ValidationErrorsNameFileAndLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": config,
			"raw/a.sql":    "SELECT 1",
			"raw/a.yaml":   "import:\n  connection: shopdb\n  watermark: id\n  on_schema_change: ignore\n",
			"raw/b.sql":    "SELECT 1",
			"raw/b.yaml":   "import:\n  connection: shopdb\n  on_schema_change: full_refresh\n  full_refresh: {hours: [3]}\n",
			"raw/c.sql":    "SELECT 1",
			"raw/c.yaml":   "import:\n  connection: shopdb\n  watermark: id\n  full_refresh:\n    hours: [24]\n    weekdays: [1, 7]\n    time_zone: Mars/Olympus\n",
			"raw/d.sql":    "SELECT 1",
			"raw/d.yaml":   "import:\n  connection: shopdb\n  watermark: id\n  full_refresh: {}\n",
			"raw/e.sql":    "SELECT 1",
			"raw/e.yaml":   "schedules: [nightly, utc_hourly]\nimport:\n  connection: shopdb\n  watermark: id\n  full_refresh: {hours: [3]}\n",
			"raw/f.sql":    "SELECT 1",
			"raw/f.yaml":   "import:\n  connection: shopdb\n  watermark: id\n  full_refresh: {every: 168h}\n",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`raw/a.yaml:4: import on_schema_change must be fail or full_refresh, not "ignore"`,
			`raw/b.yaml:3: import on_schema_change applies only to an incremental import (with a watermark): without one every run re-imports everything`,
			`raw/b.yaml:4: import full_refresh applies only to an incremental import (with a watermark): without one every run re-imports everything`,
			`raw/c.yaml:5: import full_refresh.hours: 24 is out of range 0-23`,
			`raw/c.yaml:6: import full_refresh.weekdays: 7 is out of range 0-6`,
			`raw/c.yaml:7: import full_refresh: unknown time zone "Mars/Olympus"`,
			`raw/d.yaml:4: import full_refresh needs at least one of months, weekdays, days or hours: with none every run would re-import everything (drop the watermark for that)`,
			`raw/e.yaml:5: import full_refresh: the table's schedules run in different time zones (nightly: Europe/Paris; utc_hourly: UTC); set full_refresh.time_zone`,
			`raw/f.yaml:4: unknown key "every"`,
			`raw/f.yaml:4: import full_refresh needs at least one of months, weekdays, days or hours: with none every run would re-import everything (drop the watermark for that)`,
		}, errorLines(err))
	})
}

func TestLoadSeeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const config = `default_project: acme
connections:
  - name: shop
    driver: sqlite
    secret: env:SHOP_DSN
    seed: sources/shop.sql
`

	t.Run("SeedFolderIsNotADataset", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":      config,
			"sources/shop.sql":  "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY);",
			"sources/README.md": "the shop database",
			"raw/products.sql":  "SELECT id FROM products",
			"raw/products.yaml": "import: {connection: shop}\n",
		})
		p, err := project.Load(ctx, dir)
		require.NoError(t, err)
		require.Equal(t, []spec.Connection{{Name: "shop", Driver: "sqlite", SecretRef: "env:SHOP_DSN", Seed: "sources/shop.sql"}}, p.Connections)
		require.Len(t, p.Tables, 1, "the seed script is not a table")
		require.Equal(t, "raw.products", p.Tables[0].Name)
	})

	t.Run("BadSeedsNameTheirLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": config + `  - name: a
    driver: sqlite
    secret: env:A
    seed: ../outside.sql
  - name: b
    driver: sqlite
    secret: env:B
    seed: sources/missing.sql
  - name: c
    driver: sqlite
    secret: env:C
    seed: top.sql
  - name: d
    driver: sqlite
    secret: env:D
    seed: sources/shop.txt
`,
			"sources/shop.sql":  "SELECT 1;",
			"sources/stray.sql": "SELECT 1",
			"sources/shop.txt":  "x",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`maestro.yaml:10: connection "a": seed "../outside.sql" must be FOLDER/FILE.sql, one folder deep in the project`,
			`maestro.yaml:14: connection "b": seed sources/missing.sql is not a file in the project folder`,
			`maestro.yaml:18: connection "c": seed "top.sql" must be FOLDER/FILE.sql, one folder deep in the project`,
			`maestro.yaml:22: connection "d": seed "sources/shop.txt" must be a .sql file`,
			`sources/stray.sql: folder sources holds seed scripts (connections in maestro.yaml), not tables: move this table to a dataset folder`,
		}, errorLines(err))
	})
}

func TestLoadWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("BareURLIsRefusedWithTheFormToWrite", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": "notify:\n  webhooks: [https://example.test/hook]\n",
		})
		_, err := project.Load(ctx, dir)
		require.ErrorContains(t, err, `webhook "https://example.test/hook" needs a key to sign its messages: write {url: https://example.test/hook, secret: env:NAME}`)
	})
	t.Run("EveryProblemNamesItsLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": `notify:
  webhooks:
    - url: ftp://example.test/hook
      secret: hunter2
      events: [run.started, run.exploded]
`,
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`maestro.yaml:3: webhook 1: url "ftp://example.test/hook" is not an http(s) URL`,
			`maestro.yaml:4: webhook 1: secret must be a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V]), never the secret itself`,
			`maestro.yaml:5: webhook 1: unknown event "run.exploded" (run.started, run.finished, run.failed, table.failed, table.cost_jump)`,
		}, errorLines(err))
		require.NotContains(t, err.Error(), "hunter2")
	})
}
