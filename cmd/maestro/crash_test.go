package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

// slowChain writes a project of five tables in a chain, each a query that keeps DuckDB busy
// for a while, so that a process can be killed with some succeeded and one running.
func slowChain(t *testing.T) string {
	t.Helper()
	burn := "SUM(MOD(a * b, 7)) FROM UNNEST(GENERATE_ARRAY(1, 12000)) AS a CROSS JOIN UNNEST(GENERATE_ARRAY(1, 12000)) AS b"
	files := map[string]string{
		"maestro.yaml": "default_project: crash\ndefault_dataset: work\ndefault_schedule: daily\n" +
			"schedules:\n  - name: daily\n    cron: \"0 3 * * *\"\n",
		"work/step1.sql": "SELECT 1 AS step, " + burn,
	}
	prev := "step1"
	for _, name := range []string{"step2", "step3", "step4", "step5"} {
		files["work/"+name+".sql"] = "SELECT (SELECT MAX(step) FROM work." + prev + ") + 1 AS step, " + burn
		prev = name
	}
	return maestrotest.WriteTree(t, files)
}

func buildMaestro(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "maestro")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "building maestro: %s", out)
	return bin
}

// TestDevSurvivesKill9 kills `maestro dev` mid-run and starts it again: the run completes and
// no node that had succeeded runs again, according to the warehouse's own job log.
func TestDevSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildMaestro(t)
	project := slowChain(t)
	state := filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// First life: wait until two nodes succeeded, then kill -9.
	first := exec.CommandContext(ctx, bin, "dev", "--once", "--state", state, "--addr", "", "--log-format", "json", project)
	stderr, err := first.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, first.Start())
	succeeded := 0
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var line struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "node succeeded" {
			succeeded++
			if succeeded == 2 {
				break
			}
		}
	}
	require.Equal(t, 2, succeeded, "the first process never got two nodes done")
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()

	// What the store says survived the crash.
	st, err := sqlitestore.Open(ctx, filepath.Join(state, "maestro.db"))
	require.NoError(t, err)
	runs, err := st.RunList(ctx, &store.RunListParams{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, run.RunRunning, runs[0].State, "the killed run is unfinished")
	runID := runs[0].ID
	before, err := st.NodeList(ctx, runID)
	require.NoError(t, err)
	doneBefore := map[string]string{}
	for _, n := range before {
		if n.State == run.NodeSucceeded {
			doneBefore[n.Name] = n.JobID
		}
	}
	require.GreaterOrEqual(t, len(doneBefore), 2)
	require.NoError(t, st.Close())

	// Second life: --once finishes the unfinished run instead of starting another.
	second := exec.CommandContext(ctx, bin, "dev", "--once", "--state", state, "--addr", "", project)
	out, err := second.CombinedOutput()
	require.NoError(t, err, "second run failed:\n%s", out)
	require.Contains(t, string(out), runID)

	st, err = sqlitestore.Open(ctx, filepath.Join(state, "maestro.db"))
	require.NoError(t, err)
	defer st.Close()
	r, err := st.RunGet(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, run.RunSucceeded, r.State)
	runs, err = st.RunList(ctx, &store.RunListParams{})
	require.NoError(t, err)
	require.Len(t, runs, 1, "no second run was started")
	after, err := st.NodeList(ctx, runID)
	require.NoError(t, err)
	for _, n := range after {
		require.Equal(t, run.NodeSucceeded, n.State, n.Name)
		if job, ok := doneBefore[n.Name]; ok {
			require.Equal(t, job, n.JobID, "node %s kept the job it succeeded with", n.Name)
		}
	}

	wh, err := duckdbwarehouse.Open(ctx, filepath.Join(state, "warehouse"), &duckdbwarehouse.Options{DefaultProject: "crash"})
	require.NoError(t, err)
	defer wh.Close()
	jobs, err := wh.Jobs(ctx)
	require.NoError(t, err)
	perNode := map[string]int{}
	for _, j := range jobs {
		require.Equal(t, duckdbwarehouse.JobSucceeded, j.State, j.JobID)
		require.True(t, strings.Contains(j.JobID, runID), j.JobID)
		perNode[j.Destination.Dataset+"."+j.Destination.Table]++
	}
	require.Len(t, perNode, 5)
	for node, count := range perNode {
		require.Equal(t, 1, count, "node %s ran %d times", node, count)
	}
}
