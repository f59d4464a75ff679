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
connections:
  - {name: shop, driver: postgres, secret: "env:SHOP_DSN"}
  - {name: crm, driver: mysql, secret: "env:CRM_DSN"}
`

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
	switch r.IntN(4) {
	case 0:
		t.Schedules = nil // [] in the sidecar: manual-only
	case 1:
		t.Schedules = []string{"hourly", "weekly", "daily"}[:1+r.IntN(3)]
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
	if r.IntN(2) == 0 {
		t.Kind = "import"
		t.SQL = "SELECT id, created::date FROM orders -- source dialect\n"
		t.Import = &spec.Import{Connection: pick([]string{"shop", "crm"})}
		if r.IntN(2) == 0 {
			t.Import.Watermark = "updated_at"
			t.Disposition = spec.DispositionAppend
		}
	} else {
		if r.IntN(3) == 0 {
			t.Disposition = spec.DispositionAppend
		}
		if r.IntN(3) == 0 {
			t.ReadsPrevious = []string{"sales.daily", "other-project.ds.t"}[:1+r.IntN(2)]
		}
	}
	for i := range r.IntN(4) {
		ex := spec.Export{Format: pick([]string{"csv", "json", "parquet"}), Path: fmt.Sprintf("exports/{table}/%d/{run}.out", i)}
		if ex.Format == "csv" {
			ex.Header = r.IntN(2) == 0
		}
		if ex.Format != "parquet" {
			ex.Gzip = r.IntN(2) == 0
		}
		if r.IntN(2) == 0 {
			ex.Callback = &spec.Callback{URL: "https://hooks.example.test/x?a=1&b=yes", SecretRef: "env:HOOK_KEY"}
		}
		t.Exports = append(t.Exports, ex)
	}
	return t
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

func TestRenderSidecarRoundTrips(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "maestro.yaml"), []byte(renderConfig), 0o644))
	p, err := project.Load(context.Background(), dir)
	require.NoError(t, err)
	d := project.DefaultsOf(p)
	r := rand.New(rand.NewPCG(1, 2))
	want := map[string]spec.Table{}
	for i := range 400 {
		tb := genTable(r, fmt.Sprintf("ds%d.t%d", i%7, i))
		want[tb.Name] = tb
		writeTable(t, dir, &tb, d)
	}
	got := loadTables(t, dir)
	require.Len(t, got, len(want))
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
}

// FuzzRenderSidecar checks render → Load equality on generated tables whose free-text options
// come from the fuzzer.
func FuzzRenderSidecar(f *testing.F) {
	for i, s := range awkward {
		f.Add(uint64(i), s, awkward[(i+5)%len(awkward)], "DATE(ts)")
	}
	f.Fuzz(func(t *testing.T, seed uint64, description, owner, partition string) {
		for _, s := range []string{description, owner, partition} {
			if !utf8.ValidString(s) {
				t.Skip("a sidecar is UTF-8 text")
			}
		}
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "maestro.yaml"), []byte(renderConfig), 0o644))
		d := project.SidecarDefaults{Retries: 3, Schedule: "daily"}
		tb := genTable(rand.New(rand.NewPCG(seed, seed>>7)), "fz.t")
		tb.Description, tb.Owner, tb.PartitionBy = description, owner, strings.TrimSpace(partition)
		writeTable(t, dir, &tb, d)
		got := loadTables(t, dir)
		require.Equal(t, tb, got["fz.t"], "sidecar:\n%s", project.RenderSidecar(&tb, d))
	})
}
