// Package timeline turns a run and its nodes into a Gantt timeline: one row per table, a bar
// from its start to its end on the run's time axis, and the critical path — the chain of
// tables that decided when the run ended. It is pure: the web UI draws what it computes.
package timeline

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
)

// Row is one table of the run.
type Row struct {
	Name    string
	Kind    string
	State   run.NodeState
	Attempt int
	Error   string
	// Layer is the table's depth in the run's graph (0 reads no table of the run); rows are
	// ordered by it, then by name, so that a row never moves while the run goes on.
	Layer int
	// Bar: the table started. Left and Width place its bar, in percent of the axis.
	Bar         bool
	Left, Width float64
	Start, End  time.Time
	// Running: the bar ends now and grows.
	Running  bool
	Duration time.Duration
	// Critical: the table is on the critical path.
	Critical bool
	// Copied: a resume run kept the table's success from the run it resumes; it did not run
	// in this one (no bar, no cost).
	Copied bool
	Stats  run.Stats
	// USD is what the table's job cost; Priced is false when it is unknown (no pricing).
	USD    float64
	Priced bool
}

// Tick is a mark of the time axis.
type Tick struct {
	Left  float64 // percent of the axis
	Label string
}

// Timeline is a run laid out on a time axis.
type Timeline struct {
	Start, End time.Time
	Rows       []Row
	Ticks      []Tick
	// Critical names the critical path's tables, first to last.
	Critical []string
	Running  bool
}

// Pricer prices a job's statistics; ok is false when the price is unknown.
type Pricer func(run.Stats) (usd float64, ok bool)

// Build lays a run out. now ends the bars of running tables and the axis of a running run.
// price may be nil (costs unknown).
func Build(rn *run.Run, nodes []*run.Node, now time.Time, price Pricer) *Timeline {
	tl := &Timeline{Start: rn.CreatedAt, End: rn.FinishedAt, Running: !rn.State.Terminal()}
	if tl.End.IsZero() || tl.Running {
		tl.End = now
	}
	byName := make(map[string]int, len(nodes))
	for i, n := range nodes {
		byName[n.Name] = i
	}

	// Depth in the run's graph, by memoised longest path over upstream (a node's upstream are
	// all in the run; a cycle cannot be stored, but is cut rather than recursed forever).
	depth := make([]int, len(nodes))
	mark := make([]uint8, len(nodes))
	var visit func(i int) int
	visit = func(i int) int {
		switch mark[i] {
		case 1:
			return 0
		case 2:
			return depth[i]
		}
		mark[i] = 1
		d := 0
		for _, u := range nodes[i].Upstream {
			if j, ok := byName[u]; ok {
				d = max(d, visit(j)+1)
			}
		}
		depth[i], mark[i] = d, 2
		return d
	}

	for i, n := range nodes {
		r := Row{Name: n.Name, Kind: n.Kind, State: n.State, Attempt: n.Attempt, Error: n.Error, Layer: visit(i), Stats: n.Stats}
		// A success copied from the resumed run started before this run existed.
		r.Copied = rn.ResumedFrom != "" && !n.StartedAt.IsZero() && n.StartedAt.Before(rn.CreatedAt)
		if !n.StartedAt.IsZero() && !r.Copied {
			r.Bar, r.Start, r.End = true, n.StartedAt, n.FinishedAt
			if r.End.IsZero() || !n.State.Terminal() {
				r.End, r.Running = now, n.State == run.NodeRunning
			}
			if r.End.Before(r.Start) {
				r.End = r.Start
			}
			r.Duration = r.End.Sub(r.Start)
			tl.Start = minTime(tl.Start, r.Start)
			if r.End.After(tl.End) {
				tl.End = r.End
			}
		}
		if price != nil && n.State.Terminal() && !r.Copied {
			r.USD, r.Priced = price(n.Stats)
		}
		tl.Rows = append(tl.Rows, r)
	}
	slices.SortStableFunc(tl.Rows, func(a, b Row) int { return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Name, b.Name)) })

	span := tl.End.Sub(tl.Start)
	if span <= 0 {
		span = time.Second
	}
	pct := func(t time.Time) float64 { return 100 * float64(t.Sub(tl.Start)) / float64(span) }
	for i := range tl.Rows {
		r := &tl.Rows[i]
		if r.Bar {
			r.Left = pct(r.Start)
			// A bar of a few milliseconds stays visible.
			r.Width = max(pct(r.End)-r.Left, 0.4)
			if r.Left+r.Width > 100 {
				r.Left = max(100-r.Width, 0)
			}
		}
	}
	tl.Critical = criticalPath(tl.Rows, nodes, byName)
	crit := map[string]bool{}
	for _, n := range tl.Critical {
		crit[n] = true
	}
	for i := range tl.Rows {
		tl.Rows[i].Critical = crit[tl.Rows[i].Name]
	}
	tl.Ticks = ticks(span)
	return tl
}

// criticalPath walks back from the table that ended last: at each step, to the upstream table
// that ended last, which is the one it waited for. Tables that never started are not on it.
func criticalPath(rows []Row, nodes []*run.Node, byName map[string]int) []string {
	rowOf := make(map[string]*Row, len(rows))
	var last *Row
	for i := range rows {
		r := &rows[i]
		rowOf[r.Name] = r
		if r.Bar && (last == nil || r.End.After(last.End) || r.End.Equal(last.End) && r.Name < last.Name) {
			last = r
		}
	}
	var path []string
	seen := map[string]bool{}
	for cur := last; cur != nil && !seen[cur.Name]; {
		seen[cur.Name] = true
		path = append(path, cur.Name)
		var next *Row
		for _, u := range nodes[byName[cur.Name]].Upstream {
			if ur := rowOf[u]; ur != nil && ur.Bar && (next == nil || ur.End.After(next.End) || ur.End.Equal(next.End) && ur.Name < next.Name) {
				next = ur
			}
		}
		cur = next
	}
	slices.Reverse(path)
	return path
}

// steps are the tick intervals an axis may use.
var steps = []time.Duration{
	time.Millisecond * 100, time.Millisecond * 250, time.Millisecond * 500,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// ticks marks the axis at the first step that gives at most eight marks.
func ticks(span time.Duration) []Tick {
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	var out []Tick
	for t := time.Duration(0); t <= span; t += step {
		out = append(out, Tick{Left: 100 * float64(t) / float64(span), Label: Offset(t)})
	}
	return out
}

// Offset writes a time from the run's start: "0s", "+1.5s", "+2m", "+1h30m".
func Offset(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	return "+" + Short(d)
}

// Short writes a duration briefly: "340ms", "1.5s", "2m05s", "1h30m".
func Short(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
