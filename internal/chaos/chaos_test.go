package chaos

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/gcpemu"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// TestCheckFindsEachViolation: the invariants catch what they promise to — a job run twice, a
// node run under two job ids, a job submitted before its upstream succeeded, a lost node, a
// failure told twice, a run summarised twice — and pass a clean run.
func TestCheckFindsEachViolation(t *testing.T) {
	t.Parallel()
	g := generate(3, 30, 3, 1)
	var planted string
	for p := range g.planted {
		planted = p
	}
	skipped := g.downstreamOf()
	r := &run.Run{ID: "r1", State: run.RunFailed}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var nodes []*run.Node
	var jobs []bqfake.JobRecord
	// Jobs in layer order, one second apart, each ending before the next starts.
	for i, tb := range g.project.Tables {
		n := &run.Node{RunID: r.ID, Name: tb.Name, State: run.NodeSucceeded}
		created := t0.Add(time.Duration(i) * time.Second)
		j := bqfake.JobRecord{ID: run.JobID(r.ID, tb.Name, 1), Created: created, Started: created,
			Ended: created.Add(500 * time.Millisecond), Executions: 1}
		switch {
		case skipped[tb.Name]:
			n.State = run.NodeSkipped
			nodes = append(nodes, n)
			continue
		case tb.Name == planted:
			n.State = run.NodeFailed
			j.ErrorReason = "invalidQuery"
		}
		nodes = append(nodes, n)
		jobs = append(jobs, j)
	}
	slack := []string{planted + " failed in run r1 (attempt 1 of 6), owner chaos@example.com: boom", "Run of daily failed: ..."}
	clean := evidence{run: r, nodes: nodes, jobs: jobs, slackTexts: slack, expectation: g}
	v := check(clean)
	require.True(t, v.OK(), "%v", v.Problems)
	require.Equal(t, 1, v.Failed)

	t.Run("AJobRunTwice", func(t *testing.T) {
		e := clean
		e.jobs = append([]bqfake.JobRecord(nil), jobs...)
		e.jobs[0].Executions = 2
		require.Equal(t, 1, check(e).DoubleSubmissions)
	})
	t.Run("ANodeRunUnderTwoIDs", func(t *testing.T) {
		e := clean
		again := jobs[0]
		again.ID = run.JobID(r.ID, g.project.Tables[0].Name, 2)
		e.jobs = append(append([]bqfake.JobRecord(nil), jobs...), again)
		require.Equal(t, 1, check(e).DoubleSubmissions)
	})
	t.Run("AJobBeforeItsUpstream", func(t *testing.T) {
		e := clean
		e.jobs = append([]bqfake.JobRecord(nil), jobs...)
		last := len(e.jobs) - 1
		e.jobs[last].Created = t0.Add(-time.Second)
		require.Positive(t, check(e).OrderViolations)
	})
	t.Run("ALostNode", func(t *testing.T) {
		e := clean
		e.nodes = append([]*run.Node(nil), nodes...)
		lost := *e.nodes[0]
		lost.State = run.NodeRunning
		e.nodes[0] = &lost
		require.Equal(t, 1, check(e).LostNodes)
	})
	t.Run("AFailureToldTwice", func(t *testing.T) {
		e := clean
		e.slackTexts = append([]string{slack[0]}, slack...)
		v := check(e)
		require.False(t, v.OK())
	})
	t.Run("ARunSummarisedTwice", func(t *testing.T) {
		e := clean
		e.slackTexts = append(append([]string(nil), slack...), slack[1])
		v := check(e)
		require.False(t, v.OK())
	})
}

// TestChaosSeed runs one seed of a 100-table project through the whole harness: the three services
// as processes on the emulators, with every fault, and requires it to pass. `maestro chaos` runs
// 20 seeds of 500 tables.
func TestChaosSeed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	fs, err := gcpemu.StartFirestore(ctx)
	if err == nil {
		var ps *gcpemu.Process
		ps, err = gcpemu.StartPubSub(ctx)
		if err == nil {
			defer ps.Stop()
			t.Setenv("PUBSUB_EMULATOR_HOST", ps.Host)
			t.Setenv("FIRESTORE_EMULATOR_HOST", fs.Host)
			defer fs.Stop()
			bin := t.TempDir()
			root, err := filepath.Abs(filepath.Join("..", ".."))
			require.NoError(t, err)
			require.NoError(t, BuildServices(ctx, root, bin))
			var out bytes.Buffer
			res, err := Run(ctx, Config{FirestoreHost: fs.Host, PubSubHost: ps.Host, Binaries: bin, Seeds: 1,
				SeedStart: 101, Nodes: 100, Layers: 5, Planted: 2, LogDir: t.TempDir()}, &out)
			require.NoError(t, err, out.String())
			t.Log(out.String())
			require.Equal(t, 1, res.Passed, out.String())
			require.Regexp(t, regexp.MustCompile(`(?m)^seeds=1 passed=1 nodes=100 double_submissions=0 lost_nodes=0 order_violations=0$`), out.String())
			return
		}
		fs.Stop()
	}
	if gcpemu.Required() {
		t.Fatal("the emulators are required:", err)
	}
	t.Skip("the emulators are not available:", err)
}
