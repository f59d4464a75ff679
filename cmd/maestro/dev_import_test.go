package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

// TestDevImportsFromASourceDatabase: an import table reads a SQLite database by a connection
// whose secret is a reference, a query table reads the import, and a second run reads only the
// source's new rows.
func TestDevImportsFromASourceDatabase(t *testing.T) {
	ctx := context.Background()
	srcPath := filepath.Join(t.TempDir(), "shop.db")
	src, err := sql.Open("sqlite", srcPath)
	require.NoError(t, err)
	defer src.Close()
	_, err = src.Exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL)`)
	require.NoError(t, err)
	insert := func(from, to int) {
		for i := from; i <= to; i++ {
			_, err := src.Exec(`INSERT INTO orders VALUES (?, ?, ?)`, i, fmt.Sprintf("c%d", i%5), float64(i))
			require.NoError(t, err)
		}
	}
	insert(1, 50)
	t.Setenv("MAESTRO_TEST_SHOPDB", srcPath)

	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: shop\ndefault_dataset: raw\ndefault_schedule: daily\n" +
			"schedules:\n  - name: daily\n    cron: \"0 6 * * *\"\n" +
			"connections:\n  - name: shopdb\n    driver: sqlite\n    secret: env:MAESTRO_TEST_SHOPDB\n",
		"raw/orders.sql":   "SELECT id, customer, amount FROM orders",
		"raw/orders.yaml":  "import:\n  connection: shopdb\n  watermark: id\n",
		"marts/totals.sql": "SELECT customer, COUNT(*) AS orders, SUM(amount) AS amount FROM raw.orders GROUP BY customer",
	})
	state := filepath.Join(t.TempDir(), "state")
	flags := devFlags{once: true, stateDir: state, logFormat: "json"}
	var out, logs bytes.Buffer
	require.NoError(t, runDev(ctx, project, flags, &out, &logs), logs.String())
	require.Regexp(t, `raw\.orders\s+succeeded\s+1\s+\S+\s+50\s`, out.String())
	require.Regexp(t, `marts\.totals\s+succeeded`, out.String())

	insert(51, 60)
	out.Reset()
	require.NoError(t, runDev(ctx, project, flags, &out, &logs), logs.String())
	require.Regexp(t, `raw\.orders\s+succeeded\s+1\s+\S+\s+10\s`, out.String(), "only the ten new rows are read")

	wh, err := duckdbwarehouse.Open(ctx, filepath.Join(state, "warehouse"), &duckdbwarehouse.Options{DefaultProject: "shop"})
	require.NoError(t, err)
	defer wh.Close()
	rows, err := wh.Read(ctx, "SELECT CAST(SUM(orders) AS INT64) FROM marts.totals", sqlref.Options{DefaultProject: "shop"}, 1)
	require.NoError(t, err)
	require.EqualValues(t, 60, rows.Values[0][0], "the mart sees every imported row")
}
