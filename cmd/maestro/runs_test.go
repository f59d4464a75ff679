package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/devmode"
	"github.com/maestro-sql/maestro/internal/engine"
	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
)

// TestRunsAndLogs starts runs through the CLI on a whole Maestro on the embedded backends
// (DuckDB, SQLite, in-memory queue) behind the real API: a schedule with a table that fails
// (--wait exits 1 naming it; logs show each table's state, error, statistics and the export's
// callback delivery), tables that succeed, a resume, a cancel, the list of runs and of tables.
func TestRunsAndLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	t.Setenv("MAESTRO_TEST_HOOK_KEY", "hook-key")
	dir := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: small\ndefault_dataset: ds\ndefault_schedule: daily\ndefault_retries: 0\n" +
			"schedules:\n  - name: daily\n    cron: \"0 3 * * *\"\n",
		"ds/a.sql": "SELECT x FROM UNNEST(GENERATE_ARRAY(1, 10)) AS x",
		"ds/b.sql": "SELECT x * 2 AS y FROM ds.a",
		"ds/b.yaml": "owner: ana@example.com\ngroup: sales\nexports:\n  - format: csv\n    path: exports/{table}/{run}.csv\n" +
			"    callback:\n      url: " + hook.URL + "/done\n      secret: env:MAESTRO_TEST_HOOK_KEY\n",
		"ds/c.sql":         "SELECT SUM(y) AS total FROM ds.b",
		"ds/bad.sql":       "SELECT no_such_column FROM ds.a",
		"ds/after.sql":     "SELECT * FROM ds.bad",
		"ext/partner.sql":  "-- uploaded by the partner\n",
		"ext/partner.yaml": "schedules: []\nexternal:\n  format: csv\n  timeout: 30m\n  schema:\n    - {name: id, type: INT64}\n",
	})
	p, err := project.Load(ctx, dir)
	require.NoError(t, err)
	var logs bytes.Buffer
	log, err := newLogger("json", &logs)
	require.NoError(t, err)
	sys, err := devmode.Open(ctx, devmode.Config{StateDir: filepath.Join(t.TempDir(), "state"), Project: p, ProjectDir: dir,
		ExternalPollEvery: 50 * time.Millisecond}, log)
	require.NoError(t, err)
	defer sys.Close()
	loops, stop := context.WithCancel(ctx)
	loopsDone := make(chan error, 1)
	go func() { loopsDone <- sys.Run(loops, engine.SchedulerLoops{SweepEvery: time.Second, NoTick: true}) }()
	defer func() { stop(); <-loopsDone }()
	srv := httptest.NewServer(service.API(sys.Store, sys.Scheduler, log, service.APIConfig{DefaultProject: "small", DefaultDataset: "ds"}))
	defer srv.Close()
	admin := newUserToken(t, sys.Store, store.User{Email: "admin@example.com", Role: "admin"})
	viewer := newUserToken(t, sys.Store, store.User{Email: "val@example.com", Role: "viewer"})
	api := []string{"--api", srv.URL, "--token", admin}
	runID := regexp.MustCompile(`started run (\S+) `)

	out, errOut, code := execForTest(t, newRunCmd(), "", append(api, "daily", "--wait", "--poll", "50ms")...)
	require.Equal(t, 1, code, "a table failed: %s %s %s", out, errOut, logs.String())
	require.Regexp(t, `started run \S+ \(schedule daily, 5 tables\)`, out)
	require.Regexp(t, `(?m)^  ds\.a +succeeded  10 rows`, out)
	require.Regexp(t, `(?m)^  ds\.bad +failed  attempt 1: `, out)
	require.Regexp(t, `(?m)^  ds\.after +skipped$`, out)
	require.Regexp(t, `run \S+ failed in \S+: 3 succeeded, 1 failed, 1 skipped\n$`, out)
	require.Contains(t, errOut, "ds.bad failed: ")
	require.Contains(t, errOut, "no_such_column")
	failed := runID.FindStringSubmatch(out)[1]

	out, errOut, code = execForTest(t, newLogsCmd(), "", append(api, failed)...)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^run `+failed+`  failed  schedule daily  started \S+ \S+ UTC by admin@example.com, took \S+\n  3 succeeded, 1 failed, 1 skipped; 21 rows`, out)
	require.Regexp(t, `(?m)^ds\.a  succeeded  attempt 1  \S+ → \S+ \(\S+\)\n  job \S+\n  10 rows, `, out)
	require.Regexp(t, `(?m)^ds\.bad  failed  attempt 1 .*\n  job \S+\n(  .*\n)?  error: .*no_such_column`, out)
	require.Regexp(t, `(?m)^ds\.after  skipped\n  skipped: ds\.bad did not succeed\n`, out)
	require.Regexp(t, `(?m)^  export.completed `+regexp.QuoteMeta(hook.URL)+`/done → HTTP 200, attempt 1, `, out)

	out, errOut, code = execForTest(t, newLogsCmd(), "", append(api, failed, "--node", "ds.b")...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "\nds.b  succeeded")
	require.NotContains(t, out, "ds.a  ")
	require.Contains(t, out, "export.completed "+hook.URL+"/done → HTTP 200")
	_, errOut, code = execForTest(t, newLogsCmd(), "", append(api, failed, "--node", "ds.nope")...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "has no table ds.nope; it ran ds.a, ")

	// Resume re-runs what failed and was skipped; it fails again (the SQL is still wrong).
	out, _, code = execForTest(t, newRunCmd(), "", append(api, "resume", failed, "--wait", "--poll", "50ms")...)
	require.Equal(t, 1, code)
	require.Regexp(t, `started run \S+ \(resume of `+failed+`, 5 tables\)`, out)

	out, errOut, code = execForTest(t, newRunCmd(), "", append(api, "--table", "ds.b", "--downstream", "--wait", "--poll", "50ms")...)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `run \S+ succeeded in \S+: 2 succeeded\n$`, out, "ds.b and ds.c: %s", out)

	// An external table waits for its upload: the run stays running until cancelled; --wait
	// gives up at its timeout with exit 2, leaving the run alone.
	out, errOut, code = execForTest(t, newRunCmd(), "", append(api, "--table", "ext.partner", "--wait", "--poll", "50ms", "--timeout", "300ms")...)
	require.Equal(t, 2, code, out)
	require.Contains(t, errOut, "is still running after 300ms; it goes on (maestro run cancel ")
	waiting := runID.FindStringSubmatch(out)[1]
	_, errOut, code = execForTest(t, newRunCmd(), "", "--api", srv.URL, "--token", viewer, "cancel", waiting)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "403 Forbidden")
	out, errOut, code = execForTest(t, newRunCmd(), "", append(api, "cancel", waiting)...)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "run "+waiting+" cancelled: 1 cancelled\n", out)

	out, errOut, code = execForTest(t, newRunsCmd(), "", "--api", srv.URL, "--token", viewer)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5, out)
	require.Regexp(t, `^RUN +STATE +WHAT +BY +STARTED +DURATION +TABLES$`, lines[0])
	require.Regexp(t, `^`+waiting+` +cancelled +tables +admin@example.com .* -$`, lines[1], "newest first; a cancelled run keeps no counts")
	require.Regexp(t, `^`+failed+` +failed +schedule daily +admin@example.com .* 3 succeeded, 1 failed, 1 skipped$`, lines[4])
	out, _, code = execForTest(t, newRunsCmd(), "", append(api, "--state", "failed")...)
	require.Equal(t, 0, code)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 3, out)

	_, errOut, code = execForTest(t, newRunCmd(), "", append(api, "weekly")...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "weekly")
	_, errOut, code = execForTest(t, newRunCmd(), "", append(api, "daily", "--table", "ds.a")...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "name a schedule or give --table, not both")

	t.Run("Tables", func(t *testing.T) {
		out, errOut, code := execForTest(t, newTablesCmd(), "", "--api", srv.URL, "--token", viewer)
		require.Equal(t, 0, code, errOut)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 7, out)
		require.Regexp(t, `^NAME +KIND +OWNER +GROUP +SCHEDULES +REV +UPDATED$`, lines[0])
		require.Regexp(t, `^ds\.a +query +- +- +daily +1 +\S+ \S+ by dev$`, lines[1])
		require.Regexp(t, `^ext\.partner +external +- +- +- +1 `, lines[6])

		out, _, code = execForTest(t, newTablesCmd(), "", "--api", srv.URL, "--token", viewer, "--group", "sales")
		require.Equal(t, 0, code)
		require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, out)
		require.Contains(t, out, "ds.b ")
		out, _, code = execForTest(t, newTablesCmd(), "", "--api", srv.URL, "--token", viewer, "--kind", "external")
		require.Equal(t, 0, code)
		require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 2, out)
		out, _, code = execForTest(t, newTablesCmd(), "", "--api", srv.URL, "--token", viewer, "--dataset", "nope")
		require.Equal(t, 0, code)
		require.Equal(t, "no tables\n", out)

		out, errOut, code = execForTest(t, newTablesCmd(), "", "--api", srv.URL, "--token", viewer, "get", "DS.B")
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, `^table ds\.b \(query\)
owner:      ana@example.com
group:      sales
schedules:  daily
revision:   1 \(ETag "1"\), changed \S+ \S+ UTC by dev; created \S+ by dev
upstream:   ds\.a
downstream: ds\.c

-- ds/b\.sql
SELECT x \* 2 AS y FROM ds\.a

# ds/b\.yaml
owner: ana@example.com
group: sales
schedules: \[daily\]
retries: 0
exports:
`, out)
		_, errOut, code = execForTest(t, newTablesCmd(), "", "--api", srv.URL, "--token", viewer, "get", "ds.nope")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "404 Not Found): no table ds.nope")
	})
}
