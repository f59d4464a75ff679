package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// chainProject writes a three-table chain a → b → c on one schedule.
func chainProject(t *testing.T) string {
	t.Helper()
	return maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: small\ndefault_dataset: ds\ndefault_schedule: daily\n" +
			"schedules:\n  - name: daily\n    cron: \"0 3 * * *\"\n",
		"ds/a.sql": "SELECT x FROM UNNEST(GENERATE_ARRAY(1, 10)) AS x",
		"ds/b.sql": "SELECT x * 2 AS y FROM ds.a",
		"ds/c.sql": "SELECT SUM(y) AS total FROM ds.b",
	})
}

func TestDevOnce(t *testing.T) {
	ctx := context.Background()
	project := chainProject(t)
	state := filepath.Join(t.TempDir(), "state")
	flags := devFlags{once: true, stateDir: state, logFormat: "json"}

	var out, logs bytes.Buffer
	require.NoError(t, runDev(ctx, project, flags, &out, &logs), logs.String())
	require.Regexp(t, `ds\.c\s+succeeded`, out.String())

	bad := flags
	bad.schedules = []string{"weekly"}
	err := runDev(ctx, project, bad, &out, &logs)
	require.ErrorContains(t, err, `unknown schedule "weekly": maestro.yaml defines "daily"`)

	out.Reset()
	some := flags
	some.tables, some.downstream = []string{"ds.b"}, true
	require.NoError(t, runDev(ctx, project, some, &out, &logs))
	require.Regexp(t, `ds\.b\s+succeeded`, out.String())
	require.Regexp(t, `ds\.c\s+succeeded`, out.String())
	require.NotContains(t, out.String(), "ds.a ", "only b and what is downstream of it ran")

	// SQL that does not parse is refused before anything starts, and the stored definition stays.
	require.NoError(t, os.WriteFile(filepath.Join(project, "ds", "b.sql"), []byte("SELECT 'oops FROM ds.a"), 0o644))
	err = runDev(ctx, project, flags, &out, &logs)
	require.ErrorContains(t, err, "ds/b.sql:1:8: unterminated string")
	st, err := sqlitestore.Open(ctx, filepath.Join(state, "maestro.db"))
	require.NoError(t, err)
	rec, err := st.TableGet(ctx, "ds.b")
	require.NoError(t, err)
	require.Equal(t, "SELECT x * 2 AS y FROM ds.a", rec.Table.SQL)
	require.Equal(t, 1, rec.Revision)
	require.NoError(t, st.Close())

	require.NoError(t, os.WriteFile(filepath.Join(project, "ds", "b.sql"), []byte("SELECT nope FROM ds.a"), 0o644))
	out.Reset()
	err = runDev(ctx, project, flags, &out, &logs)
	require.Error(t, err, "a failed node makes --once fail")
	require.Regexp(t, `ds\.b\s+failed`, out.String())
	require.Regexp(t, `ds\.c\s+skipped`, out.String())
}
