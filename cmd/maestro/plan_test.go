package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
)

var smallProject = map[string]string{
	"maestro.yaml":        "default_project: acme\ndefault_dataset: staging\ndefault_schedule: daily\nschedules:\n  - name: daily\n    cron: \"0 5 * * *\"\n",
	"staging/raw.sql":     "SELECT * FROM `acme.src.orders`",
	"sales/orders.sql":    "SELECT * FROM raw",
	"sales/daily.sql":     "SELECT * FROM sales.orders JOIN `acme`.sales.customers USING (id)",
	"sales/customers.sql": "SELECT * FROM `other-proj.crm.people`",
}

func TestPlan(t *testing.T) {
	t.Parallel()

	t.Run("PrintsLayersUpstreamAndExternals", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, smallProject)
		out, errOut, code := execForTest(t, newPlanCmd(), "", dir)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, `4 tables in 3 layers, 2 external sources

layer 1: sales.customers, staging.raw
layer 2: sales.orders
layer 3: sales.daily

tables:
  sales.customers (layer 1)
    external: other-proj.crm.people
  sales.daily (layer 3)
    upstream: sales.customers, sales.orders
  sales.orders (layer 2)
    upstream: staging.raw
  staging.raw (layer 1)
    external: src.orders

external sources:
  other-proj.crm.people
  src.orders
`, out)
	})

	t.Run("PlainFolderWithoutSettings", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{"a/x.sql": "SELECT 1", "a/y.sql": "SELECT * FROM a.x"})
		out, _, code := execForTest(t, newPlanCmd(), "", dir)
		require.Equal(t, 0, code)
		require.Contains(t, out, "layer 1: a.x\nlayer 2: a.y\n")
	})

	t.Run("ImportTableIsARootWithoutExternals", func(t *testing.T) {
		t.Parallel()
		// The import's SQL is MySQL, run by the source database: its "orders" is not the
		// warehouse's sales.orders (parsed as GoogleSQL it would be, making a cycle).
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":     "default_project: acme\ndefault_dataset: sales\nconnections:\n  - name: shopdb\n    driver: mysql\n    secret: env:SHOP_DSN\n",
			"raw/orders.sql":   "SELECT id, note FROM orders ORDER BY id LIMIT 10,20",
			"raw/orders.yaml":  "import:\n  connection: shopdb\n  watermark: updated_at\n",
			"sales/orders.sql": "SELECT * FROM raw.orders",
		})
		out, errOut, code := execForTest(t, newPlanCmd(), "", dir)
		require.Equal(t, 0, code, errOut)
		require.Equal(t, `2 tables in 2 layers, 0 external sources

layer 1: raw.orders
layer 2: sales.orders

tables:
  raw.orders (layer 1)
  sales.orders (layer 2)
    upstream: raw.orders
`, out)
	})

	t.Run("CycleIsNamedInOrderAndFails", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"a/x.sql": "SELECT * FROM a.z",
			"a/y.sql": "SELECT * FROM a.x",
			"a/z.sql": "SELECT * FROM a.y",
			"a/w.sql": "SELECT * FROM a.z",
			"a/v.sql": "SELECT 1",
		})
		out, errOut, code := execForTest(t, newPlanCmd(), "", dir)
		require.Equal(t, 1, code)
		require.Equal(t, "cycle: a.x -> a.y -> a.z -> a.x\n", errOut)
		require.Contains(t, out, "layer 1: a.v\nnot runnable (on or after a cycle): a.w, a.x, a.y, a.z\n")
		require.Contains(t, out, "\ncycles:\n  cycle: a.x -> a.y -> a.z -> a.x\n")
	})

	t.Run("FolderErrorsNameFileAndLine", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"maestro.yaml":      "schedules:\n  - name: daily\n    cron: \"0 5 * * *\"\n",
			"sales/orders.sql":  "SELECT 1",
			"sales/orders.yaml": "owner: ana\nschedules: [hourly]\n",
		})
		out, errOut, code := execForTest(t, newPlanCmd(), "", dir)
		require.Equal(t, 1, code)
		require.Empty(t, out)
		require.Equal(t, "sales/orders.yaml:2: unknown schedule \"hourly\"\n", errOut)
	})

	t.Run("JSON", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, smallProject)
		out, _, code := execForTest(t, newPlanCmd(), "", "--json", dir)
		require.Equal(t, 0, code)
		var got struct {
			Tables []struct {
				Name, File                                string
				Layer                                     int
				Upstream, Downstream, External, Schedules []string
			}
			Layers    [][]string
			Externals []string
			Cycles    [][]string
		}
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Equal(t, [][]string{{"sales.customers", "staging.raw"}, {"sales.orders"}, {"sales.daily"}}, got.Layers)
		require.Equal(t, []string{"other-proj.crm.people", "src.orders"}, got.Externals)
		require.Empty(t, got.Cycles)
		require.Len(t, got.Tables, 4)
		d := got.Tables[1]
		require.Equal(t, "sales.daily", d.Name)
		require.Equal(t, "sales/daily.sql", d.File)
		require.Equal(t, 3, d.Layer)
		require.Equal(t, []string{"sales.customers", "sales.orders"}, d.Upstream)
		require.Equal(t, []string{"daily"}, d.Schedules)
		require.Equal(t, []string{"sales.daily"}, got.Tables[2].Downstream)
	})

	t.Run("DotIsADigraph", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, smallProject)
		out, _, code := execForTest(t, newPlanCmd(), "", "--dot", dir)
		require.Equal(t, 0, code)
		edges := checkDot(t, out)
		require.ElementsMatch(t, []string{
			"staging.raw -> sales.orders", "sales.orders -> sales.daily", "sales.customers -> sales.daily",
			"src.orders -> staging.raw", "other-proj.crm.people -> sales.customers",
		}, edges)
		if dot, err := exec.LookPath("dot"); err == nil {
			c := exec.Command(dot, "-Tplain")
			c.Stdin = strings.NewReader(out)
			res, err := c.CombinedOutput()
			require.NoError(t, err, string(res))
		}
	})
}

func TestGenProjectThenPlan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, errOut, code := execForTest(t, newGenProjectCmd(), "", "--tables", "200", "--layers", "7", dir)
	require.Equal(t, 0, code, errOut)
	out, errOut, code := execForTest(t, newPlanCmd(), "", dir)
	require.Equal(t, 0, code, errOut)
	require.True(t, strings.HasPrefix(out, "200 tables in 7 layers, "), out[:min(len(out), 200)])

	// The same seed writes the same project.
	again := t.TempDir()
	_, _, code = execForTest(t, newGenProjectCmd(), "", "--tables", "200", "--layers", "7", again)
	require.Equal(t, 0, code)
	out2, _, _ := execForTest(t, newPlanCmd(), "", again)
	require.Equal(t, out, out2)
}

var (
	dotNode = regexp.MustCompile(`^("(?:[^"\\]|\\.)*")( \[[a-z]+=[a-z]+(?:, [a-z]+=[a-z]+)*\])?;$`)
	dotEdge = regexp.MustCompile(`^("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*")( \[[a-z]+=[a-z]+\])?;$`)
	dotAttr = regexp.MustCompile(`^(rankdir=LR|node \[shape=box\]);$`)
)

// checkDot checks that out is one DOT digraph made only of the statements plan writes, every edge
// joining declared nodes, and returns its edges as "a -> b".
func checkDot(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Equal(t, "digraph maestro {", lines[0])
	require.Equal(t, "}", lines[len(lines)-1])
	declared := map[string]bool{}
	var edges []string
	for _, l := range lines[1 : len(lines)-1] {
		l = strings.TrimSpace(l)
		if m := dotEdge.FindStringSubmatch(l); m != nil {
			require.True(t, declared[m[1]] && declared[m[2]], "edge between undeclared nodes: %s", l)
			edges = append(edges, strings.Trim(m[1], `"`)+" -> "+strings.Trim(m[2], `"`))
			continue
		}
		if m := dotNode.FindStringSubmatch(l); m != nil {
			declared[m[1]] = true
			continue
		}
		require.Regexp(t, dotAttr, l)
	}
	return edges
}
