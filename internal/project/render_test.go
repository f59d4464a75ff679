package project_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
)

// renderConfig declares what generated tables name, with defaults that differ from the built-in
// ones so that "omit the default" is relative to the project.
const renderConfig = `default_retries: 3
default_schedule: daily
schedules:
  - {name: daily, cron: "@daily"}
  - {name: hourly, cron: "@hourly"}
  - {name: weekly, cron: "@weekly"}
  - {name: paris, cron: "0 3 * * *", time_zone: Europe/Paris}
connections:
  - {name: shop, driver: postgres, secret: "env:SHOP_DSN"}
  - {name: crm, driver: mysql, secret: "env:CRM_DSN"}
  - {name: reporting, driver: postgres, secret: "env:REPORTING_DSN"}
`

// renderZones are the time zones of renderConfig's schedules other than UTC.
var renderZones = map[string]string{"paris": "Europe/Paris"}

// awkward are strings YAML would misread if written plainly.
var awkward = []string{
	"", "plain words", "yes", "no", "null", "~", "123", "1.5", "0x1F", "true", "a: b", "#not a comment",
	"- dash", "[list]", "{map}", "'single'", `"double"`, "two\nlines", "trailing newline\n", " leading space",
	"trailing space ", "tab\there", "ünïcødé ✓", "back\\slash", "*alias", "&anchor", "!tag", "%percent",
	"@at", "`tick`", "|pipe", ">fold", "a,b", "x\r\ny", "\n\nblank first", "ends with colon:",
	"\u00a0no-break space first", "nul\x00", "esc\x1b", "line\u2028separator", "\ufeffbom", "nel\u0085",
}

// genTable makes a valid table named name, as Load would produce it in a project of renderConfig.
func genTable(r *rand.Rand, name string) spec.Table {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	t := spec.Table{
		Name: name, Kind: "query", SQL: "SELECT 1 AS x\n", Disposition: spec.DispositionTruncate,
		Retries: 3, RetryBackoff: 30 * time.Second, Schedules: []string{"daily"},
	}
	if r.IntN(2) == 0 {
		t.Description = pick(awkward)
	}
	if r.IntN(2) == 0 {
		t.Owner = pick([]string{"ana@acme.test", "bob", "yes", "Zoë <z@acme.test>"})
	}
	if r.IntN(2) == 0 {
		t.Group = pick([]string{"finance", "sales", "null", "42"})
	}
	switch r.IntN(5) {
	case 0:
		t.Schedules = nil // [] in the sidecar: manual-only
	case 1:
		t.Schedules = []string{"hourly", "weekly", "daily"}[:1+r.IntN(3)]
	case 2:
		t.Schedules = []string{"paris", "hourly"}[:1+r.IntN(2)] // one zone, or two
	}
	if r.IntN(3) == 0 {
		t.PartitionBy = pick([]string{"DATE(created_at)", "day", "TIMESTAMP_TRUNC(ts, HOUR)"})
	}
	for range r.IntN(5) {
		if c := pick([]string{"a", "b", "customer_id", "Region"}); !slices.Contains(t.ClusterBy, c) {
			t.ClusterBy = append(t.ClusterBy, c)
		}
	}
	if r.IntN(3) == 0 {
		t.Retries = r.IntN(6)
	}
	if r.IntN(3) == 0 {
		t.RetryBackoff = []time.Duration{time.Second, 90 * time.Second, 1500 * time.Millisecond, time.Hour}[r.IntN(4)]
	}
	ints := func(lo, hi int) []int {
		var out []int
		for v := lo; v <= hi; v++ {
			if r.IntN(4) == 0 {
				out = append(out, v)
			}
		}
		return out
	}
	if r.IntN(3) == 0 {
		t.Conditions = spec.Conditions{Months: ints(1, 12), Weekdays: ints(0, 6), Days: ints(1, 31), Hours: ints(0, 23)}
	}
	switch r.IntN(5) {
	case 0, 1:
		genImport(r, &t, ints)
	case 2:
		genExternal(r, &t)
	default:
		if r.IntN(3) == 0 {
			t.Disposition = spec.DispositionAppend
		}
		if r.IntN(3) == 0 {
			t.ReadsPrevious = []string{"sales.daily", "other-project.ds.t"}[:1+r.IntN(2)]
		}
	}
	for i := range r.IntN(4) {
		t.Exports = append(t.Exports, genExport(r, i))
	}
	return t
}

// genImport makes t an import table: full or incremental, the latter with its refresh options.
func genImport(r *rand.Rand, t *spec.Table, ints func(lo, hi int) []int) {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	t.Kind = "import"
	t.SQL = "SELECT id, created::date FROM orders -- source dialect\n"
	t.Import = &spec.Import{Connection: pick([]string{"shop", "crm"})}
	if r.IntN(3) == 0 {
		return // full: replaced every run, so no refresh options
	}
	t.Import.Watermark = "updated_at"
	t.Disposition = spec.DispositionAppend
	t.Import.OnSchemaChange = pick([]string{"", spec.SchemaChangeFail, spec.SchemaChangeFullRefresh})
	if r.IntN(2) == 0 {
		return
	}
	fr := &spec.FullRefresh{Conditions: spec.Conditions{Months: ints(1, 12), Weekdays: ints(0, 6), Days: ints(1, 31), Hours: ints(0, 23)}}
	if len(fr.Months)+len(fr.Weekdays)+len(fr.Days)+len(fr.Hours) == 0 {
		fr.Hours = []int{3} // at least one condition
	}
	// The zone defaults to the schedules' (when they share one); otherwise it is explicit.
	zones := map[string]bool{}
	implied := ""
	for _, s := range t.Schedules {
		implied = renderZones[s]
		zones[implied] = true
	}
	fr.TimeZone = pick([]string{"", "Europe/Paris", "Asia/Tokyo", "UTC"})
	if fr.TimeZone == "" {
		fr.TimeZone = implied
		if len(zones) > 1 {
			fr.TimeZone = "America/New_York"
		}
	}
	t.Import.FullRefresh = fr
}

// genExternal makes t an external table: its SQL comments only, no reads_previous.
func genExternal(r *rand.Rand, t *spec.Table) {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	t.Kind = "external"
	t.SQL = pick([]string{"", "-- uploaded each morning by the partner\n", "/* feed */\n# CSV, one row per sale\n"})
	if r.IntN(3) == 0 {
		t.Disposition = spec.DispositionAppend
	}
	ex := &spec.External{Format: pick([]string{"csv", "json"}), Timeout: time.Hour}
	if r.IntN(2) == 0 {
		ex.Timeout = []time.Duration{90 * time.Second, 30 * time.Minute, 2 * time.Hour, 168 * time.Hour, 2*time.Hour + 30*time.Minute}[r.IntN(5)]
	}
	if ex.Format == "csv" {
		ex.Header = r.IntN(3) != 0 // true is the default
	}
	names := []string{"id", "Amount", "null", "yes", "_ts", "x1"}
	types := []string{"STRING", "BYTES", "INT64", "INTEGER", "FLOAT64", "NUMERIC", "BIGNUMERIC", "BOOL", "DATE", "TIME", "DATETIME", "TIMESTAMP", "JSON"}
	for _, i := range r.Perm(len(names))[:r.IntN(4)] {
		ex.Schema = append(ex.Schema, spec.Column{Name: names[i], Type: pick(types)})
	}
	t.External = ex
}

// genExport makes export i (0-based) of a table: a file, a sheet or a PostgreSQL table, each
// with or without a callback.
func genExport(r *rand.Rand, i int) spec.Export {
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	var ex spec.Export
	switch r.IntN(3) {
	case 0:
		ex.Sheet = &spec.SheetExport{SpreadsheetID: pick([]string{
			"1AbCdEfGhIjKlMnOpQrStUvWxYz_0123456789", "1234567890", "1e100000000", "-dash-first_id", "null_or_not"})}
		if r.IntN(2) == 0 {
			ex.Sheet.KeepTabs = 1 + r.IntN(200)
		}
		if r.IntN(2) == 0 {
			ex.Sheet.CredentialsRef = pick([]string{"env:SHEETS_KEY", "secretmanager:projects/acme/secrets/sheets-writer", "file:/etc/sa key.json"})
		}
	case 1:
		// Export numbers keep two PostgreSQL exports of one table off the same table.
		ex.Postgres = &spec.PostgresExport{Connection: pick([]string{"shop", "reporting"}),
			Table: fmt.Sprintf(pick([]string{"reporting.Daily_Orders%d", "t%d", "public.yes%d", "My Schema.%d"}), i)}
	default:
		ex.Format = pick([]string{"csv", "json", "parquet"})
		ex.Path = fmt.Sprintf("exports/{table}/%d/{run}.out", i)
		if ex.Format == "csv" {
			ex.Header = r.IntN(2) == 0
		}
		if ex.Format != "parquet" {
			ex.Gzip = r.IntN(2) == 0
		}
	}
	if r.IntN(2) == 0 {
		ex.Callback = &spec.Callback{URL: pick([]string{"https://hooks.example.test/x?a=1&b=yes", "http://10.0.0.7:8080/done"}),
			SecretRef: pick([]string{"env:HOOK_KEY", "secretmanager:projects/acme/secrets/hook/versions/2"})}
	}
	return ex
}

// writeTable writes t as SQL plus rendered sidecar into the project folder dir.
func writeTable(t testing.TB, dir string, tb *spec.Table, d project.SidecarDefaults) {
	dataset, table, _ := strings.Cut(tb.Name, ".")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, dataset), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, dataset, table+".sql"), []byte(tb.SQL), 0o644))
	if side := project.RenderSidecar(tb, d); side != nil {
		require.NoError(t, os.WriteFile(filepath.Join(dir, dataset, table+".yaml"), side, 0o644))
	}
}

func loadTables(t testing.TB, dir string) map[string]spec.Table {
	p, err := project.Load(context.Background(), dir)
	require.NoError(t, err)
	out := map[string]spec.Table{}
	for _, tb := range p.Tables {
		tb.File = ""
		out[tb.Name] = tb
	}
	return out
}

// roundTrip writes 400 generated tables, their sidecars rendered with renderConfig's defaults,
// and loads them back: the generated tables, the loaded ones (by name) and the defaults.
func roundTrip(t *testing.T) (want, got map[string]spec.Table, d project.SidecarDefaults) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "maestro.yaml"), []byte(renderConfig), 0o644))
	p, err := project.Load(context.Background(), dir)
	require.NoError(t, err)
	d = project.DefaultsOf(p)
	r := rand.New(rand.NewPCG(1, 2))
	want = map[string]spec.Table{}
	for i := range 400 {
		tb := genTable(r, fmt.Sprintf("ds%d.t%d", i%7, i))
		want[tb.Name] = tb
		writeTable(t, dir, &tb, d)
	}
	got = loadTables(t, dir)
	require.Len(t, got, len(want))
	return want, got, d
}

func TestRenderSidecarRoundTrips(t *testing.T) {
	t.Parallel()
	want, got, d := roundTrip(t)
	for name, w := range want {
		require.Equal(t, w, got[name], "table %s, sidecar:\n%s", name, project.RenderSidecar(&w, d))
	}
}

func TestRenderSidecarOmitsDefaultsInAStableOrder(t *testing.T) {
	t.Parallel()
	d := project.SidecarDefaults{Retries: 2, Schedule: "daily"}
	plain := spec.Table{Name: "s.t", Kind: "query", Disposition: spec.DispositionTruncate, Retries: 2,
		RetryBackoff: 30 * time.Second, Schedules: []string{"daily"}}
	require.Nil(t, project.RenderSidecar(&plain, d), "a table of defaults needs no sidecar")

	tb := plain
	tb.Owner, tb.Group, tb.Description = "ana@acme.test", "finance", "123"
	tb.Schedules = []string{"hourly", "daily"}
	tb.Retries = 5
	tb.Kind, tb.Import = "import", &spec.Import{Connection: "shop", Watermark: "updated_at"}
	tb.Disposition = spec.DispositionAppend
	tb.Exports = []spec.Export{{Format: "csv", Path: "out/{run}.csv", Header: true,
		Callback: &spec.Callback{URL: "https://h.test/x", SecretRef: "env:K"}}}
	require.Equal(t, `description: "123"
owner: ana@acme.test
group: finance
schedules: [hourly, daily]
retries: 5
import:
  connection: shop
  watermark: updated_at
exports:
  - format: csv
    path: out/{run}.csv
    header: true
    callback:
      url: https://h.test/x
      secret: env:K
`, string(project.RenderSidecar(&tb, d)))

	manual := plain
	manual.Schedules = nil
	require.Equal(t, "schedules: []\n", string(project.RenderSidecar(&manual, d)),
		"with a default schedule, manual-only must be said")
}

func TestRenderSidecarExternalRefreshAndDestinations(t *testing.T) {
	t.Parallel()
	d := project.SidecarDefaults{Retries: 2, Zones: map[string]string{"daily": "", "paris": "Europe/Paris"}}
	base := spec.Table{Name: "s.t", Kind: "query", Disposition: spec.DispositionTruncate, Retries: 2,
		RetryBackoff: 30 * time.Second}

	ext := base
	ext.Kind = "external"
	ext.External = &spec.External{Format: "csv", Timeout: 2*time.Hour + 30*time.Minute, Header: false,
		Schema: []spec.Column{{Name: "id", Type: "INT64"}, {Name: "null", Type: "STRING"}}}
	ext.Exports = []spec.Export{
		{Sheet: &spec.SheetExport{SpreadsheetID: "1234567890", KeepTabs: 5, CredentialsRef: "env:SA"},
			Callback: &spec.Callback{URL: "https://h.test/x", SecretRef: "env:K"}},
		{Postgres: &spec.PostgresExport{Connection: "crm", Table: "reporting.Daily_Orders"}},
	}
	require.Equal(t, `external:
  format: csv
  timeout: 2h30m
  header: false
  schema:
    - {name: id, type: INT64}
    - {name: "null", type: STRING}
exports:
  - sheet:
      spreadsheet_id: "1234567890"
      keep_tabs: 5
      credentials: env:SA
    callback:
      url: https://h.test/x
      secret: env:K
  - postgres:
      connection: crm
      table: reporting.Daily_Orders
`, string(project.RenderSidecar(&ext, d)))

	// A JSON upload's header is false, a default timeout is left out.
	ext.External = &spec.External{Format: "json", Timeout: time.Hour}
	ext.Exports = nil
	require.Equal(t, "external:\n  format: json\n", string(project.RenderSidecar(&ext, d)))

	imp := base
	imp.Kind, imp.Disposition, imp.Schedules = "import", spec.DispositionAppend, []string{"paris"}
	imp.Import = &spec.Import{Connection: "shop", Watermark: "id", OnSchemaChange: spec.SchemaChangeFullRefresh,
		FullRefresh: &spec.FullRefresh{Conditions: spec.Conditions{Weekdays: []int{0}, Hours: []int{3}}, TimeZone: "Europe/Paris"}}
	require.Equal(t, `schedules: [paris]
import:
  connection: shop
  watermark: id
  on_schema_change: full_refresh
  full_refresh:
    weekdays: [0]
    hours: [3]
`, string(project.RenderSidecar(&imp, d)), "the zone of the table's schedule is full_refresh's default")

	imp.Schedules = []string{"daily"}
	require.Contains(t, string(project.RenderSidecar(&imp, d)), "    time_zone: Europe/Paris\n",
		"a zone other than the schedules' is written")
	imp.Schedules = []string{"paris"}
	require.Contains(t, string(project.RenderSidecar(&imp, project.SidecarDefaults{Retries: 2})), "    time_zone: Europe/Paris\n",
		"without the schedules' zones, every zone but UTC is written")
}

func TestSidecarChanges(t *testing.T) {
	t.Parallel()
	d := project.SidecarDefaults{Retries: 2}
	a := spec.Table{Name: "s.t", Kind: "query", Schedules: []string{"daily"}, Retries: 2, Owner: "ana"}
	b := a
	b.Schedules = []string{"hourly"}
	b.Retries = 4
	b.Exports = []spec.Export{{Format: "csv", Path: "x.csv"}}
	require.Equal(t, []string{"schedules daily → hourly", "retries default → 4", "exports added"},
		project.SidecarChanges(&a, &b, d))
	require.Empty(t, project.SidecarChanges(&a, &a, d))

	ext := a
	ext.Kind = "external"
	ext.External = &spec.External{Format: "csv", Timeout: time.Hour, Header: true}
	ext.Exports = []spec.Export{{Sheet: &spec.SheetExport{SpreadsheetID: "1AbCdEfGhIjK"}}}
	require.Equal(t, []string{"external added", "exports added"}, project.SidecarChanges(&a, &ext, d))
	ext2 := ext
	ext2.External = &spec.External{Format: "csv", Timeout: 2 * time.Hour, Header: true}
	ext2.Exports = []spec.Export{{Sheet: &spec.SheetExport{SpreadsheetID: "1AbCdEfGhIjK", KeepTabs: 3}}}
	require.Equal(t, []string{"external changed", "exports changed"}, project.SidecarChanges(&ext, &ext2, d))
	ext2.Exports = []spec.Export{{Postgres: &spec.PostgresExport{Connection: "crm", Table: "t"}}}
	require.Equal(t, []string{"external changed", "exports changed"}, project.SidecarChanges(&ext, &ext2, d))

	imp := a
	imp.Kind = "import"
	imp.Import = &spec.Import{Connection: "shop", Watermark: "id"}
	imp2 := imp
	imp2.Import = &spec.Import{Connection: "shop", Watermark: "id", OnSchemaChange: spec.SchemaChangeFullRefresh}
	require.Equal(t, []string{"import changed"}, project.SidecarChanges(&imp, &imp2, d))
	imp3 := imp
	imp3.Import = &spec.Import{Connection: "shop", Watermark: "id",
		FullRefresh: &spec.FullRefresh{Conditions: spec.Conditions{Hours: []int{3}}}}
	require.Equal(t, []string{"import changed"}, project.SidecarChanges(&imp, &imp3, d))
	require.Equal(t, []string{"import removed", "external added", "exports added"}, project.SidecarChanges(&imp, &ext, d))
}

// FuzzRenderSidecar checks render → Load equality on generated tables whose free-text options
// come from the fuzzer: description, owner and partition_by, and in the export blocks a
// PostgreSQL table name and a sheet's credentials file path.
func FuzzRenderSidecar(f *testing.F) {
	for i, s := range awkward {
		f.Add(uint64(i), s, awkward[(i+5)%len(awkward)], "DATE(ts)", awkward[(i+9)%len(awkward)], awkward[(i+13)%len(awkward)])
	}
	f.Fuzz(func(t *testing.T, seed uint64, description, owner, partition, pgTable, credPath string) {
		for _, s := range []string{description, owner, partition, pgTable, credPath} {
			if !utf8.ValidString(s) {
				t.Skip("a sidecar is UTF-8 text")
			}
		}
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "maestro.yaml"), []byte(renderConfig), 0o644))
		d := project.SidecarDefaults{Retries: 3, Schedule: "daily"}
		tb := genTable(rand.New(rand.NewPCG(seed, seed>>7)), "fz.t")
		tb.Description, tb.Owner, tb.PartitionBy = description, owner, strings.TrimSpace(partition)
		pgTable = "fz_" + pgTable // a name no generated one has, so never a second export's
		pgValid := strings.Count(pgTable, ".") <= 1 && !strings.ContainsAny(pgTable, "\x00\ufffd")
		for part := range strings.SplitSeq(pgTable, ".") {
			pgValid = pgValid && strings.TrimSpace(part) != "" && len(part) <= 63
		}
		credValid := credPath != "" && !strings.Contains(credPath, "://") && !strings.Contains(credPath, "\n")
		for i, ex := range tb.Exports {
			if ex.Postgres != nil && pgValid {
				tb.Exports[i].Postgres = &spec.PostgresExport{Connection: ex.Postgres.Connection, Table: pgTable}
				pgValid = false // once: two exports to one table are refused
			}
			if ex.Sheet != nil && credValid {
				sh := *ex.Sheet
				sh.CredentialsRef = "file:" + credPath
				tb.Exports[i].Sheet = &sh
			}
		}
		writeTable(t, dir, &tb, d)
		got := loadTables(t, dir)
		require.Equal(t, tb, got["fz.t"], "sidecar:\n%s", project.RenderSidecar(&tb, d))
	})
}
