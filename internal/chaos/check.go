package chaos

import (
	"fmt"
	"sort"
	"strings"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// evidence is what a chaos run left behind: the store's run and nodes, the BigQuery server's
// job log and what Slack was sent.
type evidence struct {
	run         *run.Run
	nodes       []*run.Node
	jobs        []bqfake.JobRecord
	slackTexts  []string
	expectation *generated
}

// verdict is the invariants' findings.
type verdict struct {
	Succeeded, Failed, Skipped int
	DoubleSubmissions          int // job ids whose work ran more than once, plus extra runs of a node's work under other ids
	LostNodes                  int // nodes not in the state the planted failures call for
	OrderViolations            int // jobs submitted before an upstream node's job had succeeded
	Problems                   []string
}

func (v *verdict) problem(format string, args ...any) {
	if len(v.Problems) < 20 {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

// OK reports whether every invariant held.
func (v *verdict) OK() bool { return len(v.Problems) == 0 }

// check applies the invariants to a finished chaos run:
//   - every node succeeded, except the planted failures (failed) and everything downstream of
//     them (skipped);
//   - no job's work ran twice, and no node's work ran under two job ids (a redelivered task
//     attaches to the job of its attempt; only a job that failed without running may be retried
//     under a new id);
//   - no node's job was submitted before the jobs of all its upstream nodes had succeeded, by the
//     BigQuery server's own clock;
//   - the run finished once: it is in its final state, with one summary in Slack;
//   - each planted failure was told in Slack exactly once, and nothing else was.
func check(e evidence) verdict {
	var v verdict
	g := e.expectation
	skippedWant := g.downstreamOf()
	want := map[string]run.NodeState{}
	for _, t := range g.project.Tables {
		switch {
		case skippedWant[t.Name]:
			want[t.Name] = run.NodeSkipped
		case g.planted[t.Name]:
			want[t.Name] = run.NodeFailed
		default:
			want[t.Name] = run.NodeSucceeded
		}
	}
	got := map[string]*run.Node{}
	for _, n := range e.nodes {
		got[n.Name] = n
		switch n.State {
		case run.NodeSucceeded:
			v.Succeeded++
		case run.NodeFailed:
			v.Failed++
		case run.NodeSkipped:
			v.Skipped++
		}
	}
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n, ok := got[name]
		switch {
		case !ok:
			v.LostNodes++
			v.problem("node %s is missing from the run", name)
		case n.State != want[name]:
			v.LostNodes++
			v.problem("node %s is %s, want %s (attempt %d, error %q)", name, n.State, want[name], n.Attempt, n.Error)
		}
	}

	// The BigQuery server's job log, by node: job ids are run.JobID(run, node, attempt).
	prefix := map[string]string{}
	for _, name := range names {
		prefix[strings.TrimSuffix(run.JobID(e.run.ID, name, 1), "1")] = name
	}
	jobsOf := map[string][]bqfake.JobRecord{}
	for _, j := range e.jobs {
		name, ok := prefix[strings.TrimRight(j.ID, "0123456789")]
		if !ok {
			continue // another run's, or not Maestro's
		}
		jobsOf[name] = append(jobsOf[name], j)
		if j.Executions > 1 {
			v.DoubleSubmissions += j.Executions - 1
			v.problem("job %s of %s ran %d times", j.ID, name, j.Executions)
		}
	}
	succeededAt := map[string]bqfake.JobRecord{}
	for _, name := range names {
		executed := 0
		for _, j := range jobsOf[name] {
			if j.Executions > 0 {
				executed++
			}
			if j.Succeeded() {
				succeededAt[name] = j
			}
		}
		if executed > 1 {
			v.DoubleSubmissions += executed - 1
			v.problem("the work of %s ran under %d job ids", name, executed)
		}
		if want[name] == run.NodeSucceeded && succeededAt[name].ID == "" {
			v.problem("%s succeeded in the store, but BigQuery has no successful job of it", name)
			v.LostNodes++
		}
		if want[name] == run.NodeSkipped && len(jobsOf[name]) > 0 {
			v.OrderViolations++
			v.problem("%s should have been skipped, but BigQuery got job %s", name, jobsOf[name][0].ID)
		}
	}
	for _, name := range names {
		for _, j := range jobsOf[name] {
			for _, up := range g.upstream[name] {
				u, ok := succeededAt[up]
				if !ok || j.Created.Before(u.Ended) {
					v.OrderViolations++
					v.problem("job %s of %s was submitted at %s, before upstream %s's job had succeeded (%v)",
						j.ID, name, j.Created.Format("15:04:05.000"), up, u.Ended.Format("15:04:05.000"))
				}
			}
		}
	}

	// The run finished, once.
	wantRun := run.RunSucceeded
	if len(g.planted) > 0 {
		wantRun = run.RunFailed
	}
	if e.run.State != wantRun {
		v.problem("run %s is %s, want %s", e.run.ID, e.run.State, wantRun)
	}
	summaries, told := 0, map[string]int{}
	for _, text := range e.slackTexts {
		if strings.HasPrefix(text, "Run of ") {
			summaries++
			continue
		}
		if table, _, ok := strings.Cut(text, " failed in run "+e.run.ID); ok {
			told[table]++
			continue
		}
		v.problem("unexpected Slack message: %q", text)
	}
	if summaries != 1 {
		v.problem("run %s was summarised in Slack %d times, want once", e.run.ID, summaries)
	}
	for _, name := range names {
		wantTold := 0
		if want[name] == run.NodeFailed {
			wantTold = 1
		}
		if told[name] != wantTold {
			v.problem("the failure of %s was told in Slack %d times, want %d", name, told[name], wantTold)
		}
	}
	return v
}
