// Package graphview lays out a dependency graph of tables left to right in layers and draws it
// as SVG: longest-path layering, crossing reduction by barycenter sweeps, and datasets collapsed
// into one box each when the graph has more tables than a screen can show. It is pure: the web
// UI gives it the tables, their upstream and their last states.
package graphview

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// Node is one table (or external source) of the graph.
type Node struct {
	// Key is the table's graph key: "dataset.table", or "project.dataset.table" outside the
	// default project (internal/dag's keys).
	Key string
	// State is the table's last run state (internal/run's node states); empty when it never ran.
	State string
	// External: Maestro reads the table but does not build it.
	External bool
}

// Input is the graph to draw.
type Input struct {
	Nodes []Node
	// Upstream maps a node's key to the keys of the nodes it reads. Keys that are not among
	// Nodes are ignored.
	Upstream map[string][]string
}

// Options tune a layout. The zero value is usable.
type Options struct {
	// Budget is the most table boxes drawn: a graph with more nodes draws each dataset not in
	// Expand as one box. Defaults to DefaultBudget.
	Budget int
	// Expand lists datasets drawn table by table even when the graph is over Budget.
	Expand []string
	// Focus is the key of a node to highlight (a table's neighbourhood).
	Focus string
	// TableHref and DatasetHref make the links of table boxes and of collapsed dataset boxes;
	// nil: no links.
	TableHref   func(key string) string
	DatasetHref func(dataset string) string
	// Sweeps bounds the barycenter sweeps (each one down and one up). Defaults to 12.
	Sweeps int
}

// DefaultBudget is the number of table boxes above which datasets are collapsed: about what a
// laptop screen shows at a readable size with some scrolling.
const DefaultBudget = 150

// Geometry of the drawing, in SVG user units (pixels at 100 %).
const (
	boxW      = 200.0
	boxH      = 30.0
	groupBoxH = 46.0
	gapX      = 60.0
	gapY      = 12.0
	margin    = 16.0
	// maxGap is the widest empty band left between two vertices of a layer.
	maxGap = 2 * boxH
)

// Box is one drawn node: a table, an external source, or a collapsed dataset.
type Box struct {
	// ID is the node key, or "dataset:" + the dataset for a collapsed dataset.
	ID      string
	Label   string
	Dataset string
	// Tables counts the tables of a collapsed dataset; 0 for a single table.
	Tables int
	// States counts a collapsed dataset's tables by last state ("" for never run).
	States   map[string]int
	State    string
	External bool
	Focus    bool
	Href     string
	Layer    int
	X, Y     float64
	W, H     float64
}

// Point is a point of the drawing.
type Point struct{ X, Y float64 }

// Edge is a drawn dependency: data flows From → To.
type Edge struct {
	From, To string
	// Count is how many table-to-table reads a dataset edge stands for.
	Count int
	// Points runs from the right side of From to the left side of To, through the edge's
	// bends (one per layer crossed).
	Points []Point
	// Back: the edge runs right to left, because it closes a cycle.
	Back bool
}

// Layout is a positioned graph.
type Layout struct {
	Boxes []Box
	Edges []Edge
	// Layers is the number of columns.
	Layers        int
	Width, Height float64
	// Collapsed: some datasets are drawn as one box.
	Collapsed bool
	// Crossings counts the edge crossings between adjacent layers of the final order.
	Crossings int
	// Tables is the number of tables and external sources in the input.
	Tables int
}

// DatasetOf is the dataset part of a key: "ds" of "ds.t", "p.ds" of "p.ds.t".
func DatasetOf(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}

// Neighbourhood keeps focus, the nodes it reads up to depth steps upstream and the nodes that
// read it up to depth steps downstream, with the edges among them.
func Neighbourhood(in Input, focus string, depth int) Input {
	down := map[string][]string{}
	for k, ups := range in.Upstream {
		for _, u := range ups {
			down[u] = append(down[u], k)
		}
	}
	keep := map[string]bool{focus: true}
	walk := func(next map[string][]string) {
		frontier := []string{focus}
		for d := 0; d < depth && len(frontier) > 0; d++ {
			var nf []string
			for _, k := range frontier {
				for _, n := range next[k] {
					if !keep[n] {
						keep[n] = true
						nf = append(nf, n)
					}
				}
			}
			frontier = nf
		}
	}
	walk(in.Upstream)
	walk(down)
	out := Input{Upstream: map[string][]string{}}
	for _, n := range in.Nodes {
		if keep[n.Key] {
			out.Nodes = append(out.Nodes, n)
		}
	}
	for k, ups := range in.Upstream {
		if !keep[k] {
			continue
		}
		for _, u := range ups {
			if keep[u] {
				out.Upstream[k] = append(out.Upstream[k], u)
			}
		}
	}
	return out
}

// stateRank orders states for a collapsed dataset's colour: the most urgent one wins.
var stateRank = map[string]int{"failed": 6, "running": 5, "ready": 4, "pending": 3, "cancelled": 2, "skipped": 2, "succeeded": 1, "": 0}

// vertex is a box or a bend of a long edge during layout.
type vertex struct {
	box   int // index in Layout.Boxes, -1 for a bend
	layer int
	pos   float64 // order within its layer during sweeps, then y
	up    []int   // vertices in the previous layer
	down  []int   // vertices in the next layer
	h     float64
}

// Compute lays out a graph.
func Compute(in Input, opt Options) *Layout {
	if opt.Budget <= 0 {
		opt.Budget = DefaultBudget
	}
	if opt.Sweeps <= 0 {
		opt.Sweeps = 12
	}
	nodes := slices.Clone(in.Nodes)
	slices.SortFunc(nodes, func(a, b Node) int { return cmp.Compare(a.Key, b.Key) })
	nodes = slices.CompactFunc(nodes, func(a, b Node) bool { return a.Key == b.Key })
	l := &Layout{Tables: len(nodes)}

	// Boxes: one per node, or one per collapsed dataset.
	collapse := len(nodes) > opt.Budget
	expand := map[string]bool{}
	for _, d := range opt.Expand {
		expand[d] = true
	}
	if opt.Focus != "" {
		expand[DatasetOf(opt.Focus)] = true
	}
	boxOf := map[string]int{}
	groupBox := map[string]int{}
	for _, n := range nodes {
		ds := DatasetOf(n.Key)
		if collapse && !expand[ds] {
			l.Collapsed = true
			bi, ok := groupBox[ds]
			if !ok {
				bi = len(l.Boxes)
				groupBox[ds] = bi
				b := Box{ID: "dataset:" + ds, Label: ds, Dataset: ds, States: map[string]int{}, External: true, W: boxW, H: groupBoxH}
				if opt.DatasetHref != nil {
					b.Href = opt.DatasetHref(ds)
				}
				l.Boxes = append(l.Boxes, b)
			}
			b := &l.Boxes[bi]
			b.Tables++
			b.States[n.State]++
			b.External = b.External && n.External
			if stateRank[n.State] > stateRank[b.State] || b.Tables == 1 {
				b.State = n.State
			}
			boxOf[n.Key] = bi
			continue
		}
		b := Box{ID: n.Key, Label: n.Key, Dataset: ds, State: n.State, External: n.External, Focus: n.Key == opt.Focus, W: boxW, H: boxH}
		if opt.TableHref != nil && !n.External {
			b.Href = opt.TableHref(n.Key)
		}
		boxOf[n.Key] = len(l.Boxes)
		l.Boxes = append(l.Boxes, b)
	}
	nb := len(l.Boxes)

	// Edges between boxes, counted; reads inside a collapsed dataset vanish.
	type pair struct{ from, to int }
	counts := map[pair]int{}
	for _, n := range nodes {
		to := boxOf[n.Key]
		for _, u := range in.Upstream[n.Key] {
			from, ok := boxOf[u]
			if !ok || from == to {
				continue
			}
			counts[pair{from, to}]++
		}
	}
	pairs := make([]pair, 0, len(counts))
	for p := range counts {
		pairs = append(pairs, p)
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to))
	})
	succ := make([][]int, nb)
	for _, p := range pairs {
		succ[p.from] = append(succ[p.from], p.to)
	}

	// Break cycles: an edge to a box still on the depth-first stack is drawn reversed.
	back := map[pair]bool{}
	state := make([]uint8, nb) // 0 new, 1 on stack, 2 done
	for s := 0; s < nb; s++ {
		if state[s] != 0 {
			continue
		}
		type frame struct{ v, i int }
		stack := []frame{{s, 0}}
		state[s] = 1
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.i == len(succ[f.v]) {
				state[f.v] = 2
				stack = stack[:len(stack)-1]
				continue
			}
			w := succ[f.v][f.i]
			f.i++
			switch state[w] {
			case 0:
				state[w] = 1
				stack = append(stack, frame{w, 0})
			case 1:
				back[pair{f.v, w}] = true
			}
		}
	}
	fwd := make([][]int, nb) // acyclic successors
	pred := make([][]int, nb)
	for _, p := range pairs {
		from, to := p.from, p.to
		if back[p] {
			from, to = to, from
		}
		fwd[from] = append(fwd[from], to)
		pred[to] = append(pred[to], from)
	}

	// Longest-path layering (Kahn's order), then sources move right next to their first reader,
	// so that an external source read late does not stretch an edge across the whole drawing.
	indeg := make([]int, nb)
	for v := range nb {
		indeg[v] = len(pred[v])
	}
	queue := make([]int, 0, nb)
	for v := range nb {
		if indeg[v] == 0 {
			queue = append(queue, v)
		}
	}
	for i := 0; i < len(queue); i++ {
		v := queue[i]
		for _, w := range fwd[v] {
			l.Boxes[w].Layer = max(l.Boxes[w].Layer, l.Boxes[v].Layer+1)
			if indeg[w]--; indeg[w] == 0 {
				queue = append(queue, w)
			}
		}
	}
	for v := range nb {
		if len(pred[v]) == 0 && len(fwd[v]) > 0 {
			m := -1
			for _, w := range fwd[v] {
				if m < 0 || l.Boxes[w].Layer < m {
					m = l.Boxes[w].Layer
				}
			}
			l.Boxes[v].Layer = m - 1
		}
		l.Layers = max(l.Layers, l.Boxes[v].Layer+1)
	}

	// Vertices: the boxes, and a bend for each layer a long edge crosses.
	verts := make([]vertex, nb, nb*2)
	for i := range l.Boxes {
		verts[i] = vertex{box: i, layer: l.Boxes[i].Layer, h: l.Boxes[i].H}
	}
	type chain struct {
		p     pair
		verts []int
	}
	chains := make([]chain, 0, len(pairs))
	for _, p := range pairs {
		from, to := p.from, p.to
		if back[p] {
			from, to = to, from
		}
		c := chain{p: p, verts: []int{from}}
		for ly := l.Boxes[from].Layer + 1; ly < l.Boxes[to].Layer; ly++ {
			verts = append(verts, vertex{box: -1, layer: ly, h: 2})
			c.verts = append(c.verts, len(verts)-1)
		}
		c.verts = append(c.verts, to)
		for i := 1; i < len(c.verts); i++ {
			a, b := c.verts[i-1], c.verts[i]
			verts[a].down = append(verts[a].down, b)
			verts[b].up = append(verts[b].up, a)
		}
		chains = append(chains, c)
	}

	// Initial order: datasets together, by key; bends follow their edge's source.
	layers := make([][]int, l.Layers)
	for v := range verts {
		layers[verts[v].layer] = append(layers[verts[v].layer], v)
	}
	key := func(v int) string {
		for verts[v].box < 0 {
			v = verts[v].up[0]
		}
		return l.Boxes[verts[v].box].ID
	}
	for _, ly := range layers {
		sort.SliceStable(ly, func(i, j int) bool { return key(ly[i]) < key(ly[j]) })
		setPos(verts, ly)
	}

	// Barycenter sweeps, keeping the order with the fewest crossings.
	best := cloneLayers(layers)
	bestX := crossings(verts, layers)
	for s := 0; s < opt.Sweeps && bestX > 0; s++ {
		for i := 1; i < len(layers); i++ {
			sortByBarycenter(verts, layers[i], func(v *vertex) []int { return v.up })
		}
		for i := len(layers) - 2; i >= 0; i-- {
			sortByBarycenter(verts, layers[i], func(v *vertex) []int { return v.down })
		}
		if x := crossings(verts, layers); x < bestX {
			bestX, best = x, cloneLayers(layers)
		}
	}
	layers = best
	l.Crossings = bestX

	// Vertical positions: packed in order, then pulled toward their neighbours' centres while
	// keeping the order and the gaps.
	for _, ly := range layers {
		y := margin
		for i, v := range ly {
			if i > 0 {
				y += sep(&verts[ly[i-1]], &verts[v])
			}
			verts[v].pos = y
			y += verts[v].h
		}
	}
	for pass := 0; pass < 6; pass++ {
		nbr := func(v *vertex) []int { return v.up }
		order := func(yield func(int) bool) {
			for i := 1; i < len(layers); i++ {
				if !yield(i) {
					return
				}
			}
		}
		if pass%2 == 1 {
			nbr = func(v *vertex) []int { return v.down }
			order = func(yield func(int) bool) {
				for i := len(layers) - 2; i >= 0; i-- {
					if !yield(i) {
						return
					}
				}
			}
		}
		for i := range order {
			alignLayer(verts, layers[i], nbr)
		}
	}
	// Aligning to far-apart neighbours can open wide empty bands in a layer; close each gap to
	// at most maxGap, so that a layer stays about as tall as its contents.
	for _, ly := range layers {
		shift := 0.0
		for i := 1; i < len(ly); i++ {
			prev, cur := &verts[ly[i-1]], &verts[ly[i]]
			cur.pos -= shift
			if gap := cur.pos - (prev.pos + prev.h); gap > maxGap {
				shift += gap - maxGap
				cur.pos -= gap - maxGap
			}
		}
	}
	minY := 0.0
	for v := range verts {
		minY = min(minY, verts[v].pos-margin)
	}
	for v := range verts {
		verts[v].pos -= minY
		l.Height = max(l.Height, verts[v].pos+verts[v].h+margin)
	}

	for v := range verts[:nb] {
		b := &l.Boxes[v]
		b.X = margin + float64(b.Layer)*(boxW+gapX)
		b.Y = verts[v].pos
	}
	l.Width = 2*margin + float64(l.Layers)*boxW + float64(max(l.Layers-1, 0))*gapX
	if l.Layers == 0 {
		l.Width, l.Height = 2*margin, 2*margin
	}

	for _, c := range chains {
		e := Edge{From: l.Boxes[c.p.from].ID, To: l.Boxes[c.p.to].ID, Count: counts[c.p], Back: back[c.p]}
		first, last := &l.Boxes[c.verts[0]], &l.Boxes[c.verts[len(c.verts)-1]]
		e.Points = append(e.Points, Point{first.X + first.W, first.Y + first.H/2})
		for _, v := range c.verts[1 : len(c.verts)-1] {
			x := margin + float64(verts[v].layer)*(boxW+gapX)
			y := verts[v].pos + verts[v].h/2
			e.Points = append(e.Points, Point{x, y}, Point{x + boxW, y})
		}
		e.Points = append(e.Points, Point{last.X, last.Y + last.H/2})
		if e.Back {
			slices.Reverse(e.Points)
		}
		l.Edges = append(l.Edges, e)
	}
	return l
}

// sep is the gap between two vertices one above the other: edges bending side by side need
// less room than boxes, and many long edges would otherwise stretch a layer.
func sep(a, b *vertex) float64 {
	if a.box < 0 && b.box < 0 {
		return 3
	}
	return gapY
}

func setPos(verts []vertex, ly []int) {
	for i, v := range ly {
		verts[v].pos = float64(i)
	}
}

func cloneLayers(layers [][]int) [][]int {
	out := make([][]int, len(layers))
	for i, ly := range layers {
		out[i] = slices.Clone(ly)
	}
	return out
}

// sortByBarycenter orders a layer by the mean position of each vertex's neighbours in the
// adjacent layer; a vertex without neighbours there keeps its place.
func sortByBarycenter(verts []vertex, ly []int, nbr func(*vertex) []int) {
	bary := make(map[int]float64, len(ly))
	for _, v := range ly {
		ns := nbr(&verts[v])
		if len(ns) == 0 {
			bary[v] = verts[v].pos
			continue
		}
		s := 0.0
		for _, n := range ns {
			s += verts[n].pos
		}
		bary[v] = s / float64(len(ns))
	}
	sort.SliceStable(ly, func(i, j int) bool { return bary[ly[i]] < bary[ly[j]] })
	setPos(verts, ly)
}

// crossings counts the edge crossings between each pair of adjacent layers, as the inversions
// of the lower ends when edges are sorted by their upper ends (a Fenwick tree).
func crossings(verts []vertex, layers [][]int) int {
	total := 0
	for i := 0; i+1 < len(layers); i++ {
		type e struct{ a, b int }
		var es []e
		for _, v := range layers[i] {
			for _, w := range verts[v].down {
				es = append(es, e{int(verts[v].pos), int(verts[w].pos)})
			}
		}
		slices.SortFunc(es, func(x, y e) int { return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b)) })
		n := len(layers[i+1])
		tree := make([]int, n+1)
		seen := 0
		for _, x := range es {
			// Edges already seen whose lower end is right of this one's cross it.
			le := 0
			for j := x.b + 1; j > 0; j -= j & -j {
				le += tree[j]
			}
			total += seen - le
			for j := x.b + 1; j <= n; j += j & -j {
				tree[j]++
			}
			seen++
		}
	}
	return total
}

// alignLayer moves each vertex of a layer toward the mean centre of its neighbours, then
// resolves overlaps in order: pushed down from the top, then up from the bottom, meeting in
// the middle so that the layer is not dragged to one side.
func alignLayer(verts []vertex, ly []int, nbr func(*vertex) []int) {
	if len(ly) == 0 {
		return
	}
	want := make([]float64, len(ly))
	for i, v := range ly {
		ns := nbr(&verts[v])
		if len(ns) == 0 {
			want[i] = verts[v].pos
			continue
		}
		s := 0.0
		for _, n := range ns {
			s += verts[n].pos + verts[n].h/2
		}
		want[i] = s/float64(len(ns)) - verts[v].h/2
	}
	down := make([]float64, len(ly))
	for i := range ly {
		down[i] = want[i]
		if i > 0 {
			down[i] = max(down[i], down[i-1]+verts[ly[i-1]].h+sep(&verts[ly[i-1]], &verts[ly[i]]))
		}
	}
	up := make([]float64, len(ly))
	for i := len(ly) - 1; i >= 0; i-- {
		up[i] = want[i]
		if i < len(ly)-1 {
			up[i] = min(up[i], up[i+1]-verts[ly[i]].h-sep(&verts[ly[i]], &verts[ly[i+1]]))
		}
	}
	// The mean of two order-preserving placements with the same gaps keeps the gaps.
	for i, v := range ly {
		verts[v].pos = (down[i] + up[i]) / 2
	}
}
