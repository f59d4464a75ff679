package webui

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/maestro-sql/maestro/internal/graphview"
)

// graphDepthDefault is how far a table's neighbourhood reaches when the page does not say.
const graphDepthDefault = 2

// graphData is the graph page's.
type graphData struct {
	SVG   template.HTML
	Label string
	// Table and Depth: the neighbourhood shown, or empty for the whole project.
	Table  string
	Depth  int
	Depths []int
	All    bool
	// Expand are the datasets opened by the viewer.
	Expand []string
	// Tables are every table's name, for the picker.
	Tables    []string
	Boxes     int
	Shown     int
	Total     int
	Collapsed bool
	Layers    int
	Cycles    [][]string
	Legend    []legendItem
	// CollapseHref closes every dataset again.
	CollapseHref string
	// ScrollTo is the box (a table's key, or a dataset: its first table) the frame scrolls to.
	ScrollTo string
}

type legendItem struct {
	State string
	Style graphview.Style
}

// graphPage draws the project's graph, or one table's neighbourhood (?table=ds.t&depth=N),
// layered left to right and coloured by each table's last run. Over graphview.DefaultBudget
// tables, each dataset is one box; ?expand=ds opens one (repeatable), ?all=1 opens all.
func (u *UI) graphPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	q := r.URL.Query()
	g, err := u.cfg.Backend.Graph(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "building the graph of the tables", err)
		return
	}
	last, err := u.lastNodes(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "reading the recent runs", err)
		return
	}
	in := graphview.Input{Upstream: map[string][]string{}}
	names := g.Nodes()
	for _, k := range names {
		n := graphview.Node{Key: k}
		if l, ok := last[k]; ok {
			n.State = string(l.Node.State)
		}
		in.Nodes = append(in.Nodes, n)
		in.Upstream[k] = append(g.Upstream(k), g.External(k)...)
	}
	for _, k := range g.Externals() {
		in.Nodes = append(in.Nodes, graphview.Node{Key: k, External: true})
	}

	d := graphData{Table: strings.ToLower(strings.TrimSpace(q.Get("table"))), Depth: graphDepthDefault, Depths: []int{1, 2, 3, 5, 10},
		All: q.Get("all") != "", Expand: q["expand"], Tables: names, Total: len(names), Cycles: g.Cycles()}
	var ok bool
	if d.Depth, ok = u.intParam(w, r, v, "depth", 1, 50, graphDepthDefault); !ok {
		return
	}
	opt := graphview.Options{Expand: d.Expand,
		TableHref: func(k string) string { return "/tables/" + url.PathEscape(k) },
		DatasetHref: func(ds string) string {
			q := url.Values{"expand": append(slices.Clone(d.Expand), ds)}
			if d.Table != "" {
				q.Set("table", d.Table)
				q.Set("depth", strconv.Itoa(d.Depth))
			}
			return "/graph?" + q.Encode()
		}}
	if d.All {
		opt.Budget = len(in.Nodes) + 1
	}
	d.Label = "Dependency graph of every table"
	if d.Table != "" {
		if !g.Has(d.Table) {
			u.fail(w, r, v, http.StatusNotFound, "There is no table "+d.Table+" in the graph.")
			return
		}
		in = graphview.Neighbourhood(in, d.Table, d.Depth)
		opt.Focus = d.Table
		d.Label = "Neighbourhood of " + d.Table + " to depth " + strconv.Itoa(d.Depth)
	}
	if len(d.Expand) > 0 {
		cq := url.Values{}
		if d.Table != "" {
			cq.Set("table", d.Table)
			cq.Set("depth", strconv.Itoa(d.Depth))
		}
		d.CollapseHref = "/graph?" + cq.Encode()
	}
	switch {
	case d.Table != "":
		d.ScrollTo = d.Table
	case len(d.Expand) > 0:
		d.ScrollTo = d.Expand[len(d.Expand)-1]
	}
	l := graphview.Compute(in, opt)
	d.SVG, d.Boxes, d.Shown, d.Collapsed, d.Layers = l.SVG(d.Label), len(l.Boxes), l.Tables, l.Collapsed, l.Layers
	for _, s := range graphview.LegendStates {
		d.Legend = append(d.Legend, legendItem{State: s, Style: graphview.StyleOf(s)})
	}
	title := "Graph"
	if d.Table != "" {
		title = "Graph around " + d.Table
	}
	u.render(w, r, http.StatusOK, "graph", title, "graph", d)
}
