package project_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
)

func TestLoadExports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RoundTripOfAFullBlock", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":     importConfig,
			"sales/orders.sql": "SELECT * FROM raw.orders",
			"sales/orders.yaml": `owner: ana@acme.test
exports:
  - format: csv            # csv, json or parquet
    path: exports/{table}/{run}.csv.gz
    header: true
    gzip: true
    callback:
      url: https://example.com/hooks/orders
      secret: env:ORDERS_HOOK_KEY
  - format: json
    path: feeds/orders-{run}.ndjson
    gzip: false
  - format: parquet
    path: lake/{table}/latest.parquet
    callback: {url: "http://partner.example:8080/maestro?src=orders", secret: "secretmanager:projects/acme/secrets/hook/versions/2"}
`,
			"raw/orders.sql":  "SELECT id, total FROM orders LIMIT 10,20",
			"raw/orders.yaml": "import: {connection: shopdb}\nexports:\n  - {format: csv, path: \"raw/{run}.csv\", callback: {url: \"https://h.example/x\", secret: \"file:/run/secrets/hook\"}}\n",
			"sales/plain.sql": "SELECT 1",
			"sales/none.sql":  "SELECT 1",
			"sales/none.yaml": "exports: []\n",
		})
		p, g, err := project.LoadGraph(ctx, dir)
		require.NoError(t, err)
		byName := map[string]spec.Table{}
		for _, tb := range p.Tables {
			byName[tb.Name] = tb
		}
		require.Equal(t, []spec.Export{
			{
				Format: "csv", Path: "exports/{table}/{run}.csv.gz", Header: true, Gzip: true,
				Callback: &spec.Callback{URL: "https://example.com/hooks/orders", SecretRef: "env:ORDERS_HOOK_KEY"},
			},
			{Format: "json", Path: "feeds/orders-{run}.ndjson"},
			{
				Format: "parquet", Path: "lake/{table}/latest.parquet",
				Callback: &spec.Callback{URL: "http://partner.example:8080/maestro?src=orders", SecretRef: "secretmanager:projects/acme/secrets/hook/versions/2"},
			},
		}, byName["sales.orders"].Exports)
		require.Equal(t, "ana@acme.test", byName["sales.orders"].Owner)

		orders := byName["raw.orders"]
		require.Equal(t, "import", orders.Kind, "exports do not change the kind")
		require.Equal(t, &spec.Import{Connection: "shopdb"}, orders.Import)
		require.Equal(t, []spec.Export{{
			Format: "csv", Path: "raw/{run}.csv",
			Callback: &spec.Callback{URL: "https://h.example/x", SecretRef: "file:/run/secrets/hook"},
		}}, orders.Exports)

		require.Nil(t, byName["sales.plain"].Exports)
		require.Empty(t, byName["sales.none"].Exports)
		// An export adds no edge: the graph is that of the SQL alone.
		require.Equal(t, [][]string{{"raw.orders", "sales.none", "sales.plain"}, {"sales.orders"}}, g.Layers())
	})

	t.Run("ValidationErrorsNameFileAndLine", func(t *testing.T) {
		t.Parallel()
		const secretMsg = "secret must be a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V]), never the secret itself"
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": importConfig,
			"x/format.sql": "SELECT 1",
			"x/format.yaml": `exports:
  - format: xml
    path: a.xml
  - path: b.csv
  - format: CSV
    path: c.csv
`,
			"x/path.sql": "SELECT 1",
			"x/path.yaml": `exports:
  - format: csv
  - format: csv
    path: ""
  - format: csv
    path: /abs/{run}.csv
  - format: csv
    path: a//{table}.csv
  - format: csv
    path: a/../{run}.csv
  - format: csv
    path: "out/{run}/"
  - format: csv
    path: "out/{date}/{run}.csv"
  - format: csv
    path: "out/{run.csv"
  - format: csv
    path: "out/{Table}.csv"
  - format: csv
    path: "out\\{run}.csv"
`,
			"x/opts.sql": "SELECT 1",
			"x/opts.yaml": `exports:
  - format: json
    path: a.json
    header: true
  - format: parquet
    path: b.parquet
    header: false
    gzip: true
  - format: csv
    path: c.csv
    header: false
    gzip: false
  - format: json
    path: d.json
    gzip: true
`,
			"x/dup.sql": "SELECT 1",
			"x/dup.yaml": `exports:
  - format: csv
    path: out/{run}.csv
  - format: json
    path: out/{run}.json
  - format: parquet
    path: out/{run}.csv
  - format: csv
    path: out/{run}.csv
`,
			"x/hook.sql": "SELECT 1",
			"x/hook.yaml": `exports:
  - format: csv
    path: a.csv
    callback:
      url: ftp://example.com/x
      secret: env:OK
  - format: csv
    path: b.csv
    callback:
      url: /hooks/orders
      secret: env:OK
  - format: csv
    path: c.csv
    callback:
      url: https://admin:hunter2@example.com/hook
      secret: env:OK
  - format: csv
    path: d.csv
    callback:
      secret: env:OK
  - format: csv
    path: e.csv
    callback:
      url: https://example.com/hook
  - format: csv
    path: f.csv
    callback:
      url: https://example.com/hook
      secret: s3cr3t-hmac-key
  - format: csv
    path: g.csv
    callback:
      url: https://example.com/hook
      secret: "env:s3cr3t key"
  - format: csv
    path: h.csv
    callback:
  - format: csv
    path: i.csv
    callback:
      url: "https:example.com"
      secret: file:/k
      method: PUT
`,
			"x/imp.sql":  "SELECT 1 LIMIT 1,2",
			"x/imp.yaml": "import: {connection: crm}\nexports:\n  - format: avro\n    path: a.avro\n",
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`x/dup.yaml:7: export 3: same path as export 1: each export must write its own file`,
			`x/dup.yaml:9: export 4: same path as export 1: each export must write its own file`,

			`x/format.yaml:2: export 1: unknown format "xml" (csv, json or parquet)`,
			`x/format.yaml:4: export 2 needs a format (csv, json or parquet), or a sheet or postgres destination`,
			`x/format.yaml:5: export 3: unknown format "CSV" (csv, json or parquet)`,

			`x/hook.yaml:5: export 1: callback url must be an absolute http or https URL`,
			`x/hook.yaml:10: export 2: callback url must be an absolute http or https URL`,
			`x/hook.yaml:15: export 3: callback url must not hold a user name or password: credentials go in the secret`,
			`x/hook.yaml:19: export 4: callback needs a url`,
			`x/hook.yaml:23: export 5: callback needs a secret, a reference to the key that signs its messages (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V])`,
			`x/hook.yaml:29: export 6: callback ` + secretMsg,
			`x/hook.yaml:34: export 7: callback ` + secretMsg,
			`x/hook.yaml:37: export 8: callback needs a url`,
			`x/hook.yaml:37: export 8: callback needs a secret, a reference to the key that signs its messages (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V])`,
			`x/hook.yaml:41: export 9: callback url must be an absolute http or https URL`,
			`x/hook.yaml:43: unknown key "method"`,

			`x/imp.yaml:3: export 1: unknown format "avro" (csv, json or parquet)`,

			`x/opts.yaml:4: export 1: header applies only to csv, not json`,
			`x/opts.yaml:7: export 2: header applies only to csv, not parquet`,
			`x/opts.yaml:8: export 2: gzip does not apply to parquet, whose columns are compressed already`,

			`x/path.yaml:2: export 1: needs a path: the object key of the file, such as exports/{table}/{run}.csv`,
			`x/path.yaml:4: export 2: needs a path: the object key of the file, such as exports/{table}/{run}.csv`,
			`x/path.yaml:6: export 3: path "/abs/{run}.csv" is not a valid object key: absolute (starts with a slash)`,
			`x/path.yaml:8: export 4: path "a//{table}.csv" is not a valid object key: empty path segment (double slash)`,
			`x/path.yaml:10: export 5: path "a/../{run}.csv" is not a valid object key: path segment ".."`,
			`x/path.yaml:12: export 6: path "out/{run}/" is not a valid object key: ends with a slash`,
			`x/path.yaml:14: export 7: path "out/{date}/{run}.csv" has the unknown placeholder {date} (only {table} and {run} are replaced)`,
			`x/path.yaml:16: export 8: path "out/{run.csv" has an unmatched brace (only {table} and {run} are placeholders)`,
			`x/path.yaml:18: export 9: path "out/{Table}.csv" has the unknown placeholder {Table} (only {table} and {run} are replaced)`,
			`x/path.yaml:20: export 10: path "out\\{run}.csv" is not a valid object key: contains '\\'`,
		}, errorLines(err))
		require.NotContains(t, err.Error(), "hunter2", "credentials in a URL are never echoed")
		require.NotContains(t, err.Error(), "s3cr3t", "a secret is never echoed")
	})
}

func TestLoadSheetAndPostgresExports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":     importConfig,
			"sales/orders.sql": "SELECT 1 AS id",
			"sales/orders.yaml": `exports:
  - sheet:
      spreadsheet_id: 1AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789-ab
      keep_tabs: 5
      credentials: env:SHEETS_KEY
    callback: {url: "https://example.com/hook", secret: "env:HOOK"}
  - sheet: {spreadsheet_id: 1AbCdEfGhIjK}
  - postgres:
      connection: crm
      table: reporting.Daily_Orders
  - postgres: {connection: crm, table: orders_copy}
  - format: csv
    path: out/{run}.csv
`,
		})
		p, err := project.Load(ctx, dir)
		require.NoError(t, err)
		require.Equal(t, []spec.Export{
			{Sheet: &spec.SheetExport{SpreadsheetID: "1AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789-ab", KeepTabs: 5, CredentialsRef: "env:SHEETS_KEY"},
				Callback: &spec.Callback{URL: "https://example.com/hook", SecretRef: "env:HOOK"}},
			{Sheet: &spec.SheetExport{SpreadsheetID: "1AbCdEfGhIjK"}},
			{Postgres: &spec.PostgresExport{Connection: "crm", Table: "reporting.Daily_Orders"}},
			{Postgres: &spec.PostgresExport{Connection: "crm", Table: "orders_copy"}},
			{Format: "csv", Path: "out/{run}.csv"},
		}, p.Tables[0].Exports)
	})

	t.Run("ValidationErrorsNameFileAndLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml": importConfig,
			"x/sheet.sql":  "SELECT 1",
			"x/sheet.yaml": `exports:
  - sheet:
      keep_tabs: 0
  - sheet:
      spreadsheet_id: "https://docs.google.com/spreadsheets/d/abc/edit"
      keep_tabs: 201
      credentials: "{\"private_key\": \"-----BEGIN\"}"
  - sheet: {spreadsheet_id: 1AbCdEfGhIjK}
    format: csv
    path: a.csv
    gzip: true
  - sheet:
  - sheet: {spreadsheet_id: 1AbCdEfGhIjK, tab: x}
`,
			"x/pg.sql": "SELECT 1",
			"x/pg.yaml": `exports:
  - postgres:
      table: a.b.c
  - postgres:
      connection: nope
      table: ""
  - postgres:
      connection: shopdb
      table: ".t"
  - postgres: {connection: crm, table: orders}
    sheet: {spreadsheet_id: 1AbCdEfGhIjK}
  - postgres: {connection: crm, table: public.t}
  - postgres: {connection: crm, table: t}
    header: true
  - postgres: {connection: crm, table: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}
`,
		})
		_, err := project.Load(ctx, dir)
		require.Equal(t, []string{
			`x/pg.yaml:2: export 1: postgres needs a connection: the name of one declared in maestro.yaml`,
			`x/pg.yaml:3: export 1: postgres table "a.b.c" has more than one dot: write schema.table (names with dots are not supported)`,
			`x/pg.yaml:5: export 2: unknown connection "nope" (declared: crm, shopdb in maestro.yaml)`,
			`x/pg.yaml:6: export 2: postgres needs a table: schema.table, or table for the public schema`,
			`x/pg.yaml:8: export 3: connection "shopdb" is a mysql connection, not postgres`,
			`x/pg.yaml:9: export 3: postgres table ".t" has an empty name part: write schema.table or table`,
			`x/pg.yaml:10: export 4 has both sheet and postgres: each export has one destination`,
			`x/pg.yaml:13: export 6: same PostgreSQL table as export 5: each would replace the other's rows`,
			`x/pg.yaml:14: export 6: header does not apply to a postgres export, which writes no file`,
			`x/pg.yaml:15: export 7: postgres table "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is longer than PostgreSQL's 63 bytes`,

			`x/sheet.yaml:2: export 1: sheet needs a spreadsheet_id, the id in the spreadsheet's URL (…/spreadsheets/d/ID/edit)`,
			`x/sheet.yaml:3: export 1: sheet keep_tabs must be between 1 and 200, not 0`,
			`x/sheet.yaml:5: export 2: sheet spreadsheet_id "https://docs.google.com/spreadsheets/d/abc/edit" is not a spreadsheet id (letters, digits, '-' and '_', as in …/spreadsheets/d/ID/edit)`,
			`x/sheet.yaml:6: export 2: sheet keep_tabs must be between 1 and 200, not 201`,
			`x/sheet.yaml:7: export 2: sheet credentials secret must be a reference (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V]), never the secret itself`,
			`x/sheet.yaml:9: export 3: format does not apply to a sheet export, which writes no file`,
			`x/sheet.yaml:10: export 3: path does not apply to a sheet export, which writes no file`,
			`x/sheet.yaml:11: export 3: gzip does not apply to a sheet export, which writes no file`,
			`x/sheet.yaml:12: export 4: sheet needs a spreadsheet_id, the id in the spreadsheet's URL (…/spreadsheets/d/ID/edit)`,
			`x/sheet.yaml:13: unknown key "tab"`,
		}, errorLines(err))
		require.NotContains(t, err.Error(), "BEGIN", "a key is never echoed")
	})
}
