package webui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/timeline"
)

// runsData is the runs page's.
type runsData struct {
	Runs   []runRow
	State  string
	States []string
	Limit  int
}

type runRow struct {
	Run      *run.Run
	Duration time.Duration
	Tables   int
	Failed   int
}

// runStates are the states a run may be in, for the filter.
var runStates = []string{string(run.RunRunning), string(run.RunSucceeded), string(run.RunFailed), string(run.RunCancelled)}

// runsPage lists runs, newest first (?state= filters, ?limit= up to 1,000). A finished run's
// counts are stored with it; a running one's are on its own page, so the list reads no nodes.
func (u *UI) runsPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	q := r.URL.Query()
	d := runsData{State: q.Get("state"), States: runStates, Limit: 100}
	if d.State != "" && !slices.Contains(runStates, d.State) {
		u.fail(w, r, v, http.StatusBadRequest, "A run's state is one of "+strings.Join(runStates, ", ")+", not "+strconv.Quote(d.State)+".")
		return
	}
	var ok bool
	if d.Limit, ok = u.intParam(w, r, v, "limit", 1, 1000, 100); !ok {
		return
	}
	runs, err := u.cfg.Store.RunList(r.Context(), &store.RunListParams{State: run.RunState(d.State), Limit: d.Limit})
	if err != nil {
		u.storeFailed(w, r, v, "listing the runs", err)
		return
	}
	now := u.cfg.Now()
	for _, rn := range runs {
		row := runRow{Run: rn}
		end := rn.FinishedAt
		if end.IsZero() {
			end = now
		}
		row.Duration = end.Sub(rn.CreatedAt)
		for s, n := range rn.Counts {
			row.Tables += n
			if s == run.NodeFailed {
				row.Failed += n
			}
		}
		d.Runs = append(d.Runs, row)
	}
	u.render(w, r, http.StatusOK, "runs", "Runs", "runs", d)
}

// runData is the run page's, and its live part's.
type runData struct {
	Run      *run.Run
	Timeline *timeline.Timeline
	Counts   []stateCount
	Duration time.Duration
	USD      float64
	Priced   bool
	// CanEdit: the viewer may cancel or resume it.
	CanEdit bool
	// LiveInterval is how often, in milliseconds, the page asks for changes while the run goes on.
	LiveInterval int
}

type stateCount struct {
	State string
	N     int
}

// liveInterval is how often a running run's page asks for changes, in milliseconds: every
// second for a small run, less often for a big one, since each answer reads every node (a
// Firestore read each) and renders every row.
func liveInterval(nodes int) int {
	return min(1000+5*nodes, 15000)
}

func (u *UI) runData(r *http.Request, v *Viewer) (*runData, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	rn, err := u.cfg.Store.RunGet(ctx, id)
	if err != nil {
		return nil, err
	}
	nodes, err := u.nodes.of(ctx, rn)
	if err != nil {
		return nil, err
	}
	now := u.cfg.Now()
	price := func(s run.Stats) (float64, bool) { return cost.Of(u.cfg.Pricing, s) }
	d := &runData{Run: rn, Timeline: timeline.Build(rn, nodes, now, price), CanEdit: v.CanEdit(), LiveInterval: liveInterval(len(nodes))}
	d.Duration = d.Timeline.End.Sub(rn.CreatedAt)
	counts := map[run.NodeState]int{}
	var stats run.Stats
	for _, n := range nodes {
		counts[n.State]++
		stats.Add(n.Stats)
	}
	for _, s := range []run.NodeState{run.NodeSucceeded, run.NodeFailed, run.NodeRunning, run.NodeReady, run.NodePending, run.NodeSkipped, run.NodeCancelled} {
		if counts[s] > 0 {
			d.Counts = append(d.Counts, stateCount{string(s), counts[s]})
		}
	}
	d.USD, d.Priced = cost.Of(u.cfg.Pricing, stats)
	return d, nil
}

// runPage shows one run: its facts, its Gantt timeline with the critical path, errors inline,
// cost, and cancel or resume. While the run goes on, run.js asks /runs/{id}/live for the
// page's live part.
func (u *UI) runPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	d, err := u.runData(r, v)
	if err != nil {
		u.storeFailed(w, r, v, "reading run "+r.PathValue("id"), err)
		return
	}
	u.render(w, r, http.StatusOK, "run", "Run "+d.Run.ID, "runs", d)
}

// runLive answers the live part of a run's page (the "run-live" template), with an ETag of
// its bytes: a poll that would change nothing gets 304 and the page stays as it is.
func (u *UI) runLive(w http.ResponseWriter, r *http.Request, v *Viewer) {
	d, err := u.runData(r, v)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotFound) {
			status = http.StatusNotFound
		} else {
			u.cfg.Log.Error("page: the live part of a run", zap.String("run_id", r.PathValue("id")), zap.Error(err))
		}
		http.Error(w, "the run could not be read", status)
		return
	}
	var buf bytes.Buffer
	if err := u.pages["run"].ExecuteTemplate(&buf, "run-live", d); err != nil {
		u.cfg.Log.Error("rendering the live part of a run", zap.String("run_id", d.Run.ID), zap.Error(err))
		http.Error(w, "the run could not be rendered; see the server's log", http.StatusInternalServerError)
		return
	}
	sum := sha256.Sum256(buf.Bytes())
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Run-State", string(d.Run.State))
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// ganttRows writes the timeline's rows. They are written here rather than by the template:
// a run of 2,000 tables took html/template about 150 ms, this a tenth of it. Every string
// written is escaped.
func (u *UI) ganttRows(rn *run.Run, tl *timeline.Timeline) template.HTML {
	var b strings.Builder
	b.Grow(700 * len(tl.Rows))
	esc := html.EscapeString
	for i := range tl.Rows {
		r := &tl.Rows[i]
		name, state := esc(r.Name), esc(string(r.State))
		crit := ""
		if r.Critical {
			crit = " crit"
		}
		fmt.Fprintf(&b, `<tr class="g-row%s" data-name="%s" data-state="%s">`, crit, name, state)
		b.WriteString(`<th scope="row" class="g-name">`)
		if r.Critical {
			b.WriteString(`<span class="crit-mark" title="on the critical path">◆</span>`)
		}
		fmt.Fprintf(&b, `<a href="/tables/%s">%s</a></th>`, esc(url.PathEscape(r.Name)), name)
		fmt.Fprintf(&b, `<td class="g-state"><span class="state %s">%s</span>`, state, state)
		if r.Attempt > 1 {
			fmt.Fprintf(&b, ` <span class="sub">attempt %d</span>`, r.Attempt)
		}
		if r.Error != "" {
			fmt.Fprintf(&b, `<details class="node-error"><summary>Error</summary><pre>%s</pre></details>`, esc(r.Error))
		}
		b.WriteString(`</td><td class="g-track">`)
		switch {
		case r.Bar:
			live := ""
			if r.Running {
				live = " live"
			}
			fmt.Fprintf(&b, `<div class="bar %s%s%s" style="left:%.2f%%;width:%.2f%%" title="%s: %s, %s from %s"></div>`,
				state, crit, live, r.Left, r.Width, name, state, timeline.Short(r.Duration), timeline.Offset(r.Start.Sub(tl.Start)))
		case r.Copied:
			fmt.Fprintf(&b, `<span class="sub">succeeded in <a href="/runs/%s">the resumed run</a></span>`, esc(url.PathEscape(rn.ResumedFrom)))
		case r.State == run.NodePending:
			b.WriteString(`<span class="sub">waiting for upstream</span>`)
		case r.State == run.NodeReady:
			b.WriteString(`<span class="sub">queued</span>`)
		default:
			b.WriteString(`<span class="sub">did not run</span>`)
		}
		b.WriteString(`</td><td class="num g-dur">`)
		if r.Bar {
			b.WriteString(timeline.Short(r.Duration))
		}
		b.WriteString(`</td><td class="num g-cost">`)
		switch {
		case r.Priced:
			b.WriteString(esc(cost.Format(r.USD, true)))
		case r.Stats.BytesBilled > 0:
			b.WriteString(formatBytes(r.Stats.BytesBilled))
		}
		b.WriteString("</td></tr>\n")
	}
	return template.HTML(b.String()) //nolint:gosec // every dynamic string above is escaped
}
