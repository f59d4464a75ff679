package project_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
)

func TestLoadExternalTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const config = "default_project: acme\ndefault_dataset: sales\n"

	t.Run("RoundTripAndGraphRoot", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":     config,
			"ext/partner.sql":  "-- uploaded nightly by the partner's system\n/* CSV, one row per sale */\n# owner: sales ops\n",
			"ext/partner.yaml": "owner: ana@acme.test\nexternal:\n  format: csv\n  timeout: 2h\n  schema:\n    - {name: id, type: int64}\n    - {name: amount, type: NUMERIC}\npartition_by: DATE(sold_at)\n",
			"ext/feed.sql":     "",
			"ext/feed.yaml":    "external: {format: json}\ndisposition: append\n",
			"ext/plain.sql":    "\n",
			"ext/plain.yaml":   "external:\n  format: csv\n  header: false\n",
			// Reads the external tables: it waits for them.
			"sales/totals.sql": "SELECT SUM(amount) AS amount FROM ext.partner JOIN ext.feed USING (id) JOIN ext.plain USING (id)",
		})
		p, g, err := project.LoadGraph(ctx, dir)
		require.NoError(t, err)
		byName := map[string]spec.Table{}
		for _, tb := range p.Tables {
			byName[tb.Name] = tb
		}
		require.Equal(t, spec.Table{
			Name: "ext.partner", SQL: "-- uploaded nightly by the partner's system\n/* CSV, one row per sale */\n# owner: sales ops\n",
			Kind: "external", Owner: "ana@acme.test",
			External: &spec.External{Format: "csv", Timeout: 2 * time.Hour, Header: true,
				Schema: []spec.Column{{Name: "id", Type: "INT64"}, {Name: "amount", Type: "NUMERIC"}}},
			Disposition: spec.DispositionTruncate, PartitionBy: "DATE(sold_at)",
			Retries: project.DefaultRetriesDefault, RetryBackoff: project.RetryBackoffDefault, File: "ext/partner.sql",
		}, byName["ext.partner"])
		require.Equal(t, &spec.External{Format: "json", Timeout: project.ExternalTimeoutDefault}, byName["ext.feed"].External,
			"a JSON table has no header, and the timeout defaults")
		require.Equal(t, spec.DispositionAppend, byName["ext.feed"].Disposition)
		require.Equal(t, &spec.External{Format: "csv", Timeout: project.ExternalTimeoutDefault}, byName["ext.plain"].External)

		require.Equal(t, [][]string{{"ext.feed", "ext.partner", "ext.plain"}, {"sales.totals"}}, g.Layers())
		require.Empty(t, g.Externals(), "an external table is the project's own table, not an external source")
		g2, err := project.Graph(p)
		require.NoError(t, err, "Graph must not parse an external table's comments as a query")
		require.Equal(t, g.Layers(), g2.Layers())
	})

	t.Run("CSVHeaderDefaultsToTrue", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"ext/a.sql":  "",
			"ext/a.yaml": "external:\n  format: csv\n",
		})
		p, err := project.Load(ctx, dir)
		require.NoError(t, err)
		require.True(t, p.Tables[0].External.Header)
	})

	t.Run("ValidationErrorsNameFileAndLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": config + "connections:\n  - name: shop\n    driver: postgres\n    secret: env:SHOP\n",
			"ext/a.sql":    "-- fine\nSELECT 1\n",
			"ext/a.yaml":   "external: {format: csv}\n",
			"ext/b.sql":    "",
			"ext/b.yaml":   "description: x\nexternal:\n  timeout: 2h\n",
			"ext/c.sql":    "",
			"ext/c.yaml":   "external:\n  format: parquet\n  timeout: soon\n",
			"ext/d.sql":    "",
			"ext/d.yaml":   "external:\n  format: json\n  header: true\n  timeout: 200h\n",
			"ext/e.sql":    "",
			"ext/e.yaml":   "external:\n  format: csv\n  schema:\n    - name: id\n      type: INT64\n    - name: ID\n      type: STRING\n    - name: 2nd\n      type: STRUCT<a INT64>\n    - name: x\n",
			"ext/f.sql":    "",
			"ext/f.yaml":   "import:\n  connection: shop\nexternal:\n  format: csv\nreads_previous: [ext.a]\n",
			"ext/g.sql":    "/* never closed\n",
			"ext/g.yaml":   "external:\n  format: csv\n  delimiter: \";\"\n",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`ext/a.sql:2:1: an external table's SQL file may hold only comments (its rows are uploaded, not computed), but here is "SELECT"`,
			`ext/b.yaml:2: external needs a format: csv or json (newline-delimited)`,
			`ext/c.yaml:2: external format must be csv or json (newline-delimited), not "parquet"`,
			`ext/c.yaml:3: external timeout "soon" is not a positive duration such as 30m or 2h`,
			`ext/d.yaml:3: header applies to csv only: a JSON line names its own fields`,
			`ext/d.yaml:4: external timeout 200h is longer than 168h (7 days), the longest an upload URL stays valid`,
			`ext/e.yaml:6: external schema column "ID" is also column 1 (names are case-insensitive)`,
			`ext/e.yaml:8: external schema column "2nd" is not a column name (a letter or underscore, then letters, digits and underscores)`,
			`ext/e.yaml:9: external schema column "2nd": type "STRUCT<a INT64>" cannot be loaded from a file (STRING, BYTES, INT64, FLOAT64, NUMERIC, BIGNUMERIC, BOOL, DATE, TIME, DATETIME, TIMESTAMP or JSON)`,
			`ext/e.yaml:10: external schema column "x" has no type (STRING, INT64, FLOAT64, NUMERIC, BOOL, DATE, TIMESTAMP, ...)`,
			`ext/f.yaml:3: a table is either an import or external, not both: its rows come from a source database (import) or are uploaded (external)`,
			`ext/f.yaml:5: reads_previous does not apply to an external table: its rows are uploaded, it reads no warehouse table`,
			`ext/g.sql:1:1: unterminated comment near "/*"`,
			`ext/g.yaml:3: unknown key "delimiter"`,
		}, errorLines(err))
	})
}
