package webui

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// recentRuns is how many of the newest runs the pages look through for each table's last
// run: a table not in any of them shows no last run. Finished runs' nodes come from the
// cache, so a view reads the nodes of the runs still going and of runs it has not seen.
const recentRuns = 50

// lastNode is a table's node in the newest recent run that has one.
type lastNode struct {
	Run  *run.Run
	Node *run.Node
}

// Duration is how long the node ran; zero when it did not finish.
func (l lastNode) Duration() time.Duration {
	if l.Node == nil || l.Node.StartedAt.IsZero() || l.Node.FinishedAt.IsZero() {
		return 0
	}
	return l.Node.FinishedAt.Sub(l.Node.StartedAt)
}

// When is when the node finished, started, or its run was made, whichever is known first.
func (l lastNode) When() time.Time {
	switch {
	case l.Node == nil:
		return time.Time{}
	case !l.Node.FinishedAt.IsZero():
		return l.Node.FinishedAt
	case !l.Node.StartedAt.IsZero():
		return l.Node.StartedAt
	}
	return l.Run.CreatedAt
}

// recentNodes lists the newest runs and the nodes of each, newest first.
func (u *UI) recentNodes(ctx context.Context, limit int) ([]*run.Run, [][]*run.Node, error) {
	runs, err := u.cfg.Store.RunList(ctx, &store.RunListParams{Limit: limit})
	if err != nil {
		return nil, nil, fmt.Errorf("error listing runs: %w", err)
	}
	nodes := make([][]*run.Node, len(runs))
	for i, r := range runs {
		if nodes[i], err = u.nodes.of(ctx, r); err != nil {
			return nil, nil, fmt.Errorf("error listing the nodes of run %s: %w", r.ID, err)
		}
	}
	return runs, nodes, nil
}

// lastNodes maps each table to its node in the newest recent run that has it.
func (u *UI) lastNodes(ctx context.Context) (map[string]lastNode, error) {
	runs, nodes, err := u.recentNodes(ctx, recentRuns)
	if err != nil {
		return nil, err
	}
	out := map[string]lastNode{}
	for i, r := range runs {
		for _, n := range nodes[i] {
			if _, ok := out[n.Name]; !ok {
				out[n.Name] = lastNode{Run: r, Node: n}
			}
		}
	}
	return out, nil
}

// tableRow is one line of the tables page.
type tableRow struct {
	Rec  *store.TableRecord
	Last lastNode
}

// tablesData is the tables page's.
type tablesData struct {
	Rows  []tableRow
	Total int
	// Matching counts the rows the filter keeps; Rows is one page of them, from First (1-based).
	Matching, First  int
	PrevURL, NextURL string
	PerPage          int
	// The filter as asked, and the values each filter may take.
	Q, Dataset, Owner, Schedule, State  string
	Datasets, Owners, Schedules, States []string
	CanCreate                           bool
}

// tablesPerPage is how many tables the tables page lists at once.
const tablesPerPage = 200

// nodeStates are the states a table's last run may be in, for the filter.
var nodeStates = []string{"never", "pending", "ready", "running", "succeeded", "failed", "skipped", "cancelled"}

func (u *UI) tablesPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	recs, err := u.cfg.Backend.Tables(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "listing the tables", err)
		return
	}
	last, err := u.lastNodes(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "reading the recent runs", err)
		return
	}
	q := r.URL.Query()
	d := tablesData{Q: strings.TrimSpace(q.Get("q")), Dataset: q.Get("dataset"), Owner: q.Get("owner"), Schedule: q.Get("schedule"),
		State: q.Get("state"), States: nodeStates, Total: len(recs), CanCreate: v.CanEdit(), PerPage: tablesPerPage}
	datasets, owners, schedules := map[string]bool{}, map[string]bool{}, map[string]bool{}
	needle := strings.ToLower(d.Q)
	for _, rec := range recs {
		t := &rec.Table
		datasets[datasetOf(t.Name)] = true
		if t.Owner != "" {
			owners[t.Owner] = true
		}
		for _, s := range t.Schedules {
			schedules[s] = true
		}
		l := last[t.Name]
		state := "never"
		if l.Node != nil {
			state = string(l.Node.State)
		}
		if needle != "" && !strings.Contains(t.Name, needle) && !strings.Contains(strings.ToLower(t.Description), needle) ||
			d.Dataset != "" && datasetOf(t.Name) != d.Dataset ||
			d.Owner != "" && !strings.EqualFold(t.Owner, d.Owner) ||
			d.Schedule != "" && !slices.Contains(t.Schedules, d.Schedule) ||
			d.State != "" && state != d.State {
			continue
		}
		d.Rows = append(d.Rows, tableRow{Rec: rec, Last: l})
	}
	d.Datasets, d.Owners, d.Schedules = keys(datasets), keys(owners), keys(schedules)
	// One page at a time: a template renders a few thousand rows in about 100 ms, and nobody
	// reads them all; search and the filters find a table.
	page := 1
	if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 1 {
		page = p
	}
	d.Matching = len(d.Rows)
	pages := max(1, (d.Matching+tablesPerPage-1)/tablesPerPage)
	page = min(page, pages)
	start := (page - 1) * tablesPerPage
	d.Rows, d.First = d.Rows[start:min(start+tablesPerPage, d.Matching)], start+1
	at := func(p int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(p))
		return "/tables?" + q.Encode()
	}
	if page > 1 {
		d.PrevURL = at(page - 1)
	}
	if page < pages {
		d.NextURL = at(page + 1)
	}
	u.render(w, r, http.StatusOK, "tables", "Tables", "tables", d)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
