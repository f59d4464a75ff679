package timeline

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
)

var t0 = time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func node(name string, state run.NodeState, start, end float64, up ...string) *run.Node {
	n := &run.Node{Name: name, Kind: "query", State: state, Attempt: 1, Upstream: up}
	if start >= 0 {
		n.StartedAt = at(start)
	}
	if end >= 0 {
		n.FinishedAt = at(end)
	}
	return n
}

func rowNamed(t *testing.T, tl *Timeline, name string) Row {
	t.Helper()
	for _, r := range tl.Rows {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no row %s", name)
	return Row{}
}

func TestBuild(t *testing.T) {
	t.Parallel()

	t.Run("CriticalPathFollowsTheUpstreamThatEndedLast", func(t *testing.T) {
		t.Parallel()
		// d waits for b (ends at 4) and c (ends at 7): c decided when d could start.
		rn := &run.Run{ID: "r1", State: run.RunSucceeded, CreatedAt: t0, FinishedAt: at(10)}
		nodes := []*run.Node{
			node("s.d", run.NodeSucceeded, 7, 10, "s.b", "s.c"),
			node("s.a", run.NodeSucceeded, 0, 2),
			node("s.b", run.NodeSucceeded, 2, 4, "s.a"),
			node("s.c", run.NodeSucceeded, 2, 7, "s.a"),
			node("s.e", run.NodeSucceeded, 2, 3, "s.a"),
		}
		tl := Build(rn, nodes, at(100), func(s run.Stats) (float64, bool) { return float64(s.BytesBilled) / 1e12 * 6.25, true })
		if got := strings.Join(tl.Critical, " "); got != "s.a s.c s.d" {
			t.Errorf("critical path %q, want s.a s.c s.d", got)
		}
		if rowNamed(t, tl, "s.b").Critical || !rowNamed(t, tl, "s.c").Critical {
			t.Error("rows do not mark the critical path")
		}
		var names []string
		for _, r := range tl.Rows {
			names = append(names, r.Name)
		}
		if strings.Join(names, " ") != "s.a s.b s.c s.e s.d" {
			t.Errorf("rows in order %v, want by depth then name", names)
		}
		c := rowNamed(t, tl, "s.c")
		if c.Left != 20 || c.Width != 50 || c.Duration != 5*time.Second {
			t.Errorf("s.c's bar: left %v%% width %v%% duration %v; want 20, 50, 5s", c.Left, c.Width, c.Duration)
		}
		if !c.Priced {
			t.Error("a finished table's cost is not priced")
		}
		if len(tl.Ticks) < 2 || len(tl.Ticks) > 9 || tl.Ticks[1].Label != "+2.0s" {
			t.Errorf("ticks %+v", tl.Ticks)
		}
	})

	t.Run("RunningRunKeepsEveryRowAndGrowsToNow", func(t *testing.T) {
		t.Parallel()
		rn := &run.Run{ID: "r2", State: run.RunRunning, CreatedAt: t0}
		nodes := []*run.Node{
			node("m.x", run.NodePending, -1, -1, "s.b"),
			node("s.b", run.NodeRunning, 1, -1, "s.a"),
			node("s.a", run.NodeSucceeded, 0, 1),
		}
		early := Build(rn, nodes, at(2), nil)
		late := Build(rn, nodes, at(4), nil)
		for _, tl := range []*Timeline{early, late} {
			if len(tl.Rows) != 3 {
				t.Fatalf("%d rows, want one per table, started or not", len(tl.Rows))
			}
		}
		order := func(tl *Timeline) []string {
			var s []string
			for _, r := range tl.Rows {
				s = append(s, r.Name)
			}
			return s
		}
		if !slices.Equal(order(early), order(late)) {
			t.Errorf("rows moved while the run went on: %v then %v", order(early), order(late))
		}
		b := rowNamed(t, late, "s.b")
		if !b.Running || b.Duration != 3*time.Second || b.Left+b.Width != 100 {
			t.Errorf("running bar: running %v, duration %v, ends at %v%%", b.Running, b.Duration, b.Left+b.Width)
		}
		if rowNamed(t, late, "m.x").Bar {
			t.Error("a pending table has a bar")
		}
		if !late.Running || !late.End.Equal(at(4)) {
			t.Errorf("axis of a running run ends at %v, want now", late.End)
		}
	})

	t.Run("FailedRunEndsItsPathAtTheFailure", func(t *testing.T) {
		t.Parallel()
		rn := &run.Run{ID: "r3", State: run.RunFailed, CreatedAt: t0, FinishedAt: at(5)}
		f := node("s.b", run.NodeFailed, 1, 5, "s.a")
		f.Error = "Syntax error: Unexpected keyword FROM at [3:1]"
		nodes := []*run.Node{node("s.a", run.NodeSucceeded, 0, 1), f, node("s.c", run.NodeSkipped, -1, -1, "s.b")}
		tl := Build(rn, nodes, at(50), nil)
		if got := strings.Join(tl.Critical, " "); got != "s.a s.b" {
			t.Errorf("critical path %q", got)
		}
		if r := rowNamed(t, tl, "s.b"); r.Error == "" || r.State != run.NodeFailed {
			t.Errorf("the failed row lost its error: %+v", r)
		}
		if tl.Running || !tl.End.Equal(at(5)) {
			t.Errorf("a finished run's axis ends at %v", tl.End)
		}
	})
}

func TestBuildResumeRunKeepsCopiedSuccessesOffItsClock(t *testing.T) {
	t.Parallel()
	// r5 resumes a run whose s.a succeeded at 0–2 s; s.b runs again from 62 s.
	rn := &run.Run{ID: "r5", ResumedFrom: "r4", State: run.RunSucceeded, CreatedAt: at(60), FinishedAt: at(70)}
	nodes := []*run.Node{node("s.a", run.NodeSucceeded, 0, 2), node("s.b", run.NodeSucceeded, 62, 70, "s.a")}
	tl := Build(rn, nodes, at(100), func(run.Stats) (float64, bool) { return 1, true })
	a, b := rowNamed(t, tl, "s.a"), rowNamed(t, tl, "s.b")
	if !a.Copied || a.Bar || a.Priced {
		t.Errorf("the copied success: copied %v, bar %v, priced %v; want copied, no bar, no cost", a.Copied, a.Bar, a.Priced)
	}
	if !tl.Start.Equal(at(60)) || b.Left != 20 || b.Width != 80 {
		t.Errorf("axis from %v, s.b at %v%% for %v%%: the axis must start with this run", tl.Start, b.Left, b.Width)
	}
	if got := strings.Join(tl.Critical, " "); got != "s.b" {
		t.Errorf("critical path %q, want s.b alone", got)
	}
}

func TestShort(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		340 * time.Millisecond: "340ms", 1500 * time.Millisecond: "1.5s", 42 * time.Second: "42s",
		125 * time.Second: "2m05s", 90 * time.Minute: "1h30m",
	} {
		if got := Short(d); got != want {
			t.Errorf("Short(%v) = %q, want %q", d, got, want)
		}
	}
}
