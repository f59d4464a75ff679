package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/devmode"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

// quickstartCopy copies examples/quickstart to a temporary folder, pointing its export callback
// at addr instead of the default 127.0.0.1:8080, which another program may hold.
func quickstartCopy(t *testing.T, addr string) string {
	t.Helper()
	src := filepath.Join("..", "..", "examples", "quickstart")
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	sidecar := filepath.Join(dst, "marts", "daily_revenue.yaml")
	b, err := os.ReadFile(sidecar)
	require.NoError(t, err)
	require.Contains(t, string(b), "http://127.0.0.1:8080"+devmode.CallbackPath, "the example calls back maestro dev's own receiver")
	require.NoError(t, os.WriteFile(sidecar, bytes.ReplaceAll(b, []byte("127.0.0.1:8080"), []byte(addr)), 0o644))
	return dst
}

// nodeRows returns the ROWS column of each node in a --once summary.
func nodeRows(t *testing.T, summary string) map[string]string {
	t.Helper()
	rows := map[string]string{}
	re := regexp.MustCompile(`^\S+\s+(\S+)\s+(\S+)\s+\d+\s+\S+\s+(\d+)\s`)
	for _, line := range strings.Split(summary, "\n")[1:] {
		if m := re.FindStringSubmatch(line); m != nil {
			require.Equal(t, "succeeded", m[2], line)
			rows[m[1]] = m[3]
		}
	}
	return rows
}

// receivedCallbacks returns the "callback received" log entries of a JSON log.
func receivedCallbacks(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["message"] == "callback received" {
			out = append(out, e)
		}
	}
	return out
}

// TestQuickstart runs the README's first command on the example: every table succeeds, the two
// import tables read the SQLite database the example seeds, the CSV export is written and its
// signed callback accepted by maestro dev's own receiver, and a second run reads no review twice.
func TestQuickstart(t *testing.T) {
	t.Setenv(devmode.CallbackKeyEnv, "")
	t.Setenv("QUICKSTART_SHOP_DSN", "")
	addr := freeAddr(t)
	dir := quickstartCopy(t, addr)
	state := filepath.Join(t.TempDir(), "state")
	flags := devFlags{once: true, stateDir: state, logFormat: "json", addr: addr}
	var out, logs bytes.Buffer
	require.NoError(t, runDev(context.Background(), dir, flags, &out, &logs), "%s\n%s", out.String(), logs.String())

	rows := nodeRows(t, out.String())
	require.Len(t, rows, 14, out.String())
	require.Equal(t, "500", rows["raw.products"])
	require.Equal(t, "3000", rows["raw.reviews"])
	require.Equal(t, "8", rows["marts.product_ratings"], "one row per category")
	require.FileExists(t, filepath.Join(state, "sources", "shop.db"), "the seeded source lives in the state folder")

	got := receivedCallbacks(t, logs.String())
	require.Len(t, got, 1, logs.String())
	require.Equal(t, "marts.daily_revenue", got[0]["table"])
	require.EqualValues(t, 690, got[0]["rows"])
	files := got[0]["files"].([]any)
	require.Len(t, files, 1)
	path := strings.TrimPrefix(files[0].(string), "file://")
	require.True(t, filepath.IsAbs(path), path)
	csv, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Equal(t, "order_date,country,orders,revenue,returned_value", lines[0])
	require.Len(t, lines, 691, "a header and one line per row")

	out.Reset()
	logs.Reset()
	require.NoError(t, runDev(context.Background(), dir, flags, &out, &logs), "%s\n%s", out.String(), logs.String())
	rows = nodeRows(t, out.String())
	require.Equal(t, "0", rows["raw.reviews"], "an incremental import reads only new reviews: none")
	require.Equal(t, "500", rows["raw.products"], "a full import reads everything again")
	require.Len(t, receivedCallbacks(t, logs.String()), 1, "each run's export calls back once")
}

// TestQuickstartFromPostgres: with --source the example seeds and imports a PostgreSQL database,
// and the warehouse holds exactly its rows.
func TestQuickstartFromPostgres(t *testing.T) {
	t.Setenv(devmode.CallbackKeyEnv, "")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test")
	require.NoError(t, err)
	defer admin.Close(ctx)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "quickstart_" + hex.EncodeToString(b)
	_, err = admin.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })

	addr := freeAddr(t)
	dir := quickstartCopy(t, addr)
	state := filepath.Join(t.TempDir(), "state")
	flags := devFlags{once: true, stateDir: state, logFormat: "json", addr: addr, tables: []string{"raw.products", "raw.reviews"},
		sources: []string{"postgres://postgres@127.0.0.1:5432/test?search_path=" + schema}}
	var out, logs bytes.Buffer
	require.NoError(t, runDev(ctx, dir, flags, &out, &logs), "%s\n%s", out.String(), logs.String())
	rows := nodeRows(t, out.String())
	require.Equal(t, map[string]string{"raw.products": "500", "raw.reviews": "3000"}, rows)

	var pgSum float64
	var pgNullComments int64
	require.NoError(t, admin.QueryRow(ctx, "SELECT SUM(list_price) FROM "+schema+".products").Scan(&pgSum))
	require.NoError(t, admin.QueryRow(ctx, "SELECT COUNT(*) FROM "+schema+".reviews WHERE comment IS NULL").Scan(&pgNullComments))
	require.Positive(t, pgNullComments)
	require.NoFileExists(t, filepath.Join(state, "sources", "shop.db"), "--source replaces the SQLite database")

	wh, err := duckdbwarehouse.Open(ctx, filepath.Join(state, "warehouse"), &duckdbwarehouse.Options{DefaultProject: "quickstart"})
	require.NoError(t, err)
	defer wh.Close()
	res, err := wh.Read(ctx, "SELECT SUM(list_price), (SELECT CAST(COUNTIF(comment IS NULL) AS INT64) FROM raw.reviews) FROM raw.products",
		sqlref.Options{DefaultProject: "quickstart"}, 1)
	require.NoError(t, err)
	require.InDelta(t, pgSum, res.Values[0][0], 1e-6)
	require.EqualValues(t, pgNullComments, res.Values[0][1], "NULL comments stay NULL")
}

func TestParseSources(t *testing.T) {
	p := &spec.Project{Connections: []spec.Connection{{Name: "shop"}, {Name: "crm"}}}
	one := &spec.Project{Connections: []spec.Connection{{Name: "shop"}}}

	got, err := parseSources(one, []string{"postgres://u:pw@db/shop"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"shop": "postgres://u:pw@db/shop"}, got, "a bare DSN is for the only connection")

	got, err = parseSources(p, []string{"crm=host=db user=u password=pw", "shop=/tmp/shop.db"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"crm": "host=db user=u password=pw", "shop": "/tmp/shop.db"}, got)

	_, err = parseSources(p, []string{"postgres://u:hunter2@db/x"})
	require.ErrorContains(t, err, "NAME=DSN (connections: shop, crm)")
	require.NotContains(t, err.Error(), "hunter2", "a DSN is never echoed")
	_, err = parseSources(p, []string{"shop=a", "shop=b"})
	require.ErrorContains(t, err, `given twice for connection "shop"`)
	_, err = parseSources(one, []string{"shop="})
	require.ErrorContains(t, err, "empty DSN")
}
