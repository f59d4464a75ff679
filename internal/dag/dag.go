// Package dag builds the dependency graph of a project's tables from what their SQL reads.
//
// Nodes are the tables Maestro produces. An edge runs from a table to every table that reads it
// (data-flow direction: upstream -> downstream), so Layers gives the run order. See README.md
// for the rules (self-reads, wildcards, external sources, reads of a previous run).
package dag

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/maestro-sql/maestro/internal/sqlref"
)

// Input is one table to place in the graph.
type Input struct {
	// Name is the table's fully qualified destination. Parts are compared lowercased.
	Name sqlref.TableName
	// Result is what the table's SQL reads and writes, as sqlref.Extract returns it (names
	// lowercase). Nil reads nothing.
	Result *sqlref.Result
	// ReadsPrevious names tables whose previous run this table reads: such reads add no edge.
	ReadsPrevious []sqlref.TableName
}

// Options tune how Build names nodes. A nil *Options is the zero value.
type Options struct {
	// DefaultProject is the project whose tables are keyed "dataset.table"; tables of any other
	// project are keyed "project.dataset.table". Defaults to empty (tables without a project).
	DefaultProject string
}

// Graph is an immutable dependency graph. Node keys are "dataset.table" for tables of the default
// project (or with no project) and "project.dataset.table" otherwise, all lowercase.
type Graph struct {
	defaultProject string
	keys           []string // sorted
	names          []sqlref.TableName
	index          map[string]int
	up, down       [][]int32  // sorted by key (keys are sorted, so by index)
	ext            [][]string // external sources per node, sorted
	externals      []string   // all external sources, sorted
	cycles         [][]string
	layers         [][]string
}

// CycleError reports dependency cycles. Each cycle lists its tables in data-flow order, starting
// at the smallest key, without repeating the first at the end.
type CycleError struct {
	Cycles [][]string
}

// Error renders every cycle as "cycle: a.x -> a.y -> a.x", where "a.x -> a.y" means a.y reads a.x.
func (e *CycleError) Error() string {
	parts := make([]string, len(e.Cycles))
	for i, c := range e.Cycles {
		parts[i] = FormatCycle(c)
	}
	return strings.Join(parts, "; ")
}

// FormatCycle renders one cycle as "cycle: a.x -> a.y -> a.x".
func FormatCycle(c []string) string {
	if len(c) == 0 {
		return "cycle: (empty)"
	}
	return "cycle: " + strings.Join(c, " -> ") + " -> " + c[0]
}

// Key returns the node key Build gives a table of that name under defaultProject.
func Key(n sqlref.TableName, defaultProject string) string {
	return key(lower(n), strings.ToLower(defaultProject))
}

// key is Key for a lowercase name and project.
func key(n sqlref.TableName, defaultProject string) string {
	if n.Project == "" || n.Project == defaultProject {
		return n.Dataset + "." + n.Table
	}
	return n.Project + "." + n.Dataset + "." + n.Table
}

func lower(n sqlref.TableName) sqlref.TableName {
	return sqlref.TableName{Project: strings.ToLower(n.Project), Dataset: strings.ToLower(n.Dataset), Table: strings.ToLower(n.Table)}
}

// Build makes the graph of nodes. A read of a table that a node produces (its destination, or
// failing that a table its SQL writes) is an edge; a read nothing produces is an external source;
// a wildcard read depends on every node it matches. Reading one's own destination, or a table
// named in ReadsPrevious, adds no edge. Two nodes with the same destination are an error. When the
// graph has cycles Build returns it together with a *CycleError, so callers can still show it.
func Build(nodes []Input, opts *Options) (*Graph, error) {
	if opts == nil {
		opts = &Options{}
	}
	n := len(nodes)
	g := &Graph{defaultProject: strings.ToLower(opts.DefaultProject), index: make(map[string]int, n)}

	// Sort nodes by key so that node indexes order like keys, which makes every list deterministic.
	order := make([]int, n)
	keys := make([]string, n)
	lowered := make([]sqlref.TableName, n)
	for i := range nodes {
		order[i] = i
		lowered[i] = lower(nodes[i].Name)
		keys[i] = key(lowered[i], g.defaultProject)
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	g.keys = make([]string, n)
	g.names = make([]sqlref.TableName, n)
	byName := make(map[sqlref.TableName]int32, n)
	var dups []string
	for i, o := range order {
		g.keys[i] = keys[o]
		g.names[i] = lowered[o]
		if _, ok := g.index[keys[o]]; ok {
			dups = append(dups, keys[o])
			continue
		}
		g.index[keys[o]] = i
		byName[g.names[i]] = int32(i)
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("error building graph: more than one table produces %s", strings.Join(slices.Compact(dups), ", "))
	}

	pos := make([]int32, n) // input index -> node index
	for i, o := range order {
		pos[o] = int32(i)
	}

	// Secondary producers: tables a node's SQL writes besides its destination. Results come from
	// sqlref, whose names are already lowercase.
	var writers map[sqlref.TableName][]int32
	for o := range nodes {
		i := int(pos[o])
		r := nodes[o].Result
		if r == nil {
			continue
		}
		for _, w := range r.Writes {
			if _, ok := byName[w]; ok {
				continue
			}
			if writers == nil {
				writers = make(map[sqlref.TableName][]int32)
			}
			writers[w] = append(writers[w], int32(i))
		}
	}

	// Node names in name order, for wildcard prefix ranges.
	sortedNames := make([]int32, n)
	for i := range sortedNames {
		sortedNames[i] = int32(i)
	}
	sort.Slice(sortedNames, func(a, b int) bool { return g.names[sortedNames[a]].Less(g.names[sortedNames[b]]) })

	g.up = make([][]int32, n)
	g.down = make([][]int32, n)
	g.ext = make([][]string, n)
	allExt := make(map[string]struct{})
	var prods []int32
	// Walk the inputs in their own order: their results sit in memory in that order.
	for o := range nodes {
		i := int(pos[o])
		in := &nodes[o]
		if in.Result == nil {
			continue
		}
		var prev map[sqlref.TableName]struct{}
		if len(in.ReadsPrevious) > 0 {
			prev = make(map[sqlref.TableName]struct{}, len(in.ReadsPrevious))
			for _, p := range in.ReadsPrevious {
				prev[lower(p)] = struct{}{}
			}
		}
		var up []int32
		for _, r := range in.Result.Reads {
			prods = prods[:0]
			if r.IsWildcard() {
				prods = g.appendMatches(prods, sortedNames, r)
				for w, ws := range writers {
					if r.Matches(w) {
						prods = append(prods, ws...)
					}
				}
			} else if p, ok := byName[r]; ok {
				prods = append(prods, p)
			} else {
				prods = append(prods, writers[r]...)
			}
			if len(prods) == 0 {
				k := key(r, g.defaultProject)
				g.ext[i] = append(g.ext[i], k)
				allExt[k] = struct{}{}
				continue
			}
			for _, p := range prods {
				if int(p) == i {
					continue
				}
				if _, ok := prev[g.names[p]]; ok {
					continue
				}
				up = append(up, p)
			}
		}
		slices.Sort(up)
		g.up[i] = slices.Compact(up)
		slices.Sort(g.ext[i])
		g.ext[i] = slices.Compact(g.ext[i])
	}
	fanout := make([]int32, n)
	for _, ups := range g.up {
		for _, u := range ups {
			fanout[u]++
		}
	}
	for u, c := range fanout {
		g.down[u] = make([]int32, 0, c)
	}
	for i, ups := range g.up {
		for _, u := range ups {
			g.down[u] = append(g.down[u], int32(i)) // i ascends, so each list stays sorted
		}
	}
	g.externals = make([]string, 0, len(allExt))
	for k := range allExt {
		g.externals = append(g.externals, k)
	}
	slices.Sort(g.externals)

	g.layers = g.kahn()
	g.cycles = g.findCycles()
	if len(g.cycles) > 0 {
		return g, &CycleError{Cycles: g.Cycles()}
	}
	return g, nil
}

// appendMatches appends the nodes whose names the wildcard w matches, found by binary search on
// the name-sorted node list.
func (g *Graph) appendMatches(dst, sorted []int32, w sqlref.TableName) []int32 {
	prefix := strings.TrimSuffix(w.Table, "*")
	lo := sort.Search(len(sorted), func(k int) bool {
		return !g.names[sorted[k]].Less(sqlref.TableName{Project: w.Project, Dataset: w.Dataset, Table: prefix})
	})
	for k := lo; k < len(sorted); k++ {
		if !w.Matches(g.names[sorted[k]]) {
			break
		}
		dst = append(dst, sorted[k])
	}
	return dst
}

func (g *Graph) kahn() [][]string {
	n := len(g.keys)
	pending := make([]int32, n)
	var cur []int32
	for i := range n {
		pending[i] = int32(len(g.up[i]))
		if pending[i] == 0 {
			cur = append(cur, int32(i))
		}
	}
	var layers [][]string
	for len(cur) > 0 {
		layer := make([]string, len(cur))
		for j, i := range cur {
			layer[j] = g.keys[i]
		}
		layers = append(layers, layer)
		var next []int32
		for _, i := range cur {
			for _, d := range g.down[i] {
				pending[d]--
				if pending[d] == 0 {
					next = append(next, d)
				}
			}
		}
		slices.Sort(next) // indexes order like keys
		cur = next
	}
	return layers
}

// findCycles finds the strongly connected components with more than one node (Tarjan, iterative so
// that long chains cannot exhaust the stack) and, for each, the shortest cycle through its smallest
// node, walking successors in key order.
func (g *Graph) findCycles() [][]string {
	n := len(g.keys)
	const unvisited = -1
	idx := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	for i := range idx {
		idx[i] = unvisited
	}
	var stack []int32
	var counter int32
	type frame struct {
		v    int32
		next int
	}
	var sccs [][]int32
	for s := range n {
		if idx[s] != unvisited {
			continue
		}
		call := []frame{{v: int32(s)}}
		idx[s], low[s] = counter, counter
		counter++
		stack = append(stack, int32(s))
		onStack[s] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.next < len(g.down[v]) {
				w := g.down[v][f.next]
				f.next++
				if idx[w] == unvisited {
					idx[w], low[w] = counter, counter
					counter++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
				} else if onStack[w] && idx[w] < low[v] {
					low[v] = idx[w]
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				if low[v] < low[p] {
					low[p] = low[v]
				}
			}
			if low[v] == idx[v] {
				var comp []int32
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp = append(comp, w)
					if w == v {
						break
					}
				}
				if len(comp) > 1 {
					sccs = append(sccs, comp)
				}
			}
		}
	}
	cycles := make([][]string, 0, len(sccs))
	for _, comp := range sccs {
		cycles = append(cycles, g.shortestCycle(comp))
	}
	sort.Slice(cycles, func(a, b int) bool { return slices.Compare(cycles[a], cycles[b]) < 0 })
	return cycles
}

// shortestCycle returns the shortest cycle through the smallest node of the component, by
// breadth-first search inside the component.
func (g *Graph) shortestCycle(comp []int32) []string {
	in := make(map[int32]bool, len(comp))
	start := comp[0]
	for _, v := range comp {
		in[v] = true
		if v < start {
			start = v
		}
	}
	parent := map[int32]int32{}
	queue := []int32{start}
	var last int32 = -1
	for len(queue) > 0 && last < 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.down[v] {
			if !in[w] {
				continue
			}
			if w == start {
				last = v
				break
			}
			if _, seen := parent[w]; !seen {
				parent[w] = v
				queue = append(queue, w)
			}
		}
	}
	var rev []string
	for v := last; v != start; v = parent[v] {
		rev = append(rev, g.keys[v])
	}
	rev = append(rev, g.keys[start])
	slices.Reverse(rev)
	return rev
}

func (g *Graph) strs(ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = g.keys[id]
	}
	return out
}

// Len returns the number of nodes.
func (g *Graph) Len() int { return len(g.keys) }

// Nodes returns every node key, sorted.
func (g *Graph) Nodes() []string { return slices.Clone(g.keys) }

// Has reports whether key is a node.
func (g *Graph) Has(key string) bool { _, ok := g.index[key]; return ok }

// Name returns the full table name of a node, and false if key is not a node.
func (g *Graph) Name(key string) (sqlref.TableName, bool) {
	i, ok := g.index[key]
	if !ok {
		return sqlref.TableName{}, false
	}
	return g.names[i], true
}

// Key returns the key this graph gives a table name (whether or not it is a node).
func (g *Graph) Key(n sqlref.TableName) string { return key(lower(n), g.defaultProject) }

// Upstream returns the nodes key reads, sorted; nil if key is not a node.
func (g *Graph) Upstream(key string) []string {
	i, ok := g.index[key]
	if !ok {
		return nil
	}
	return g.strs(g.up[i])
}

// Downstream returns the nodes that read key, sorted; nil if key is not a node.
func (g *Graph) Downstream(key string) []string {
	i, ok := g.index[key]
	if !ok {
		return nil
	}
	return g.strs(g.down[i])
}

// External returns the external sources key reads (tables no node produces), sorted.
func (g *Graph) External(key string) []string {
	i, ok := g.index[key]
	if !ok {
		return nil
	}
	return slices.Clone(g.ext[i])
}

// Externals returns every external source any node reads, sorted.
func (g *Graph) Externals() []string { return slices.Clone(g.externals) }

// Layers returns the run order: layer 1 reads nothing the graph produces, each later layer reads
// only earlier layers. Each layer is sorted. Nodes on a cycle, and everything downstream of one,
// are in no layer.
func (g *Graph) Layers() [][]string {
	out := make([][]string, len(g.layers))
	for i, l := range g.layers {
		out[i] = slices.Clone(l)
	}
	return out
}

// Cycles returns each dependency cycle's tables in data-flow order (see CycleError), sorted.
func (g *Graph) Cycles() [][]string {
	out := make([][]string, len(g.cycles))
	for i, c := range g.cycles {
		out[i] = slices.Clone(c)
	}
	return out
}

// Subgraph returns the graph of the named nodes, plus everything downstream of them when
// withDownstream is set ("run this table and everything after it"). Edges from nodes left out
// are dropped: those tables are not waited for. External sources keep their meaning. An unknown
// name is an error. Cycles inside the subgraph are reported like Build's.
func (g *Graph) Subgraph(keys []string, withDownstream bool) (*Graph, error) {
	keep := make([]bool, len(g.keys))
	var queue []int32
	var unknown []string
	for _, k := range keys {
		i, ok := g.index[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		if !keep[i] {
			keep[i] = true
			queue = append(queue, int32(i))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("error selecting tables: unknown table(s) %s", strings.Join(unknown, ", "))
	}
	for withDownstream && len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, d := range g.down[v] {
			if !keep[d] {
				keep[d] = true
				queue = append(queue, d)
			}
		}
	}
	remap := make([]int32, len(g.keys))
	s := &Graph{defaultProject: g.defaultProject, index: map[string]int{}}
	for i := range g.keys {
		remap[i] = -1
		if keep[i] {
			remap[i] = int32(len(s.keys))
			s.index[g.keys[i]] = len(s.keys)
			s.keys = append(s.keys, g.keys[i])
			s.names = append(s.names, g.names[i])
			s.ext = append(s.ext, g.ext[i])
		}
	}
	s.up = make([][]int32, len(s.keys))
	s.down = make([][]int32, len(s.keys))
	allExt := map[string]struct{}{}
	for i := range g.keys {
		ni := remap[i]
		if ni < 0 {
			continue
		}
		for _, u := range g.up[i] {
			if remap[u] >= 0 {
				s.up[ni] = append(s.up[ni], remap[u])
				s.down[remap[u]] = append(s.down[remap[u]], ni)
			}
		}
		for _, e := range g.ext[i] {
			allExt[e] = struct{}{}
		}
	}
	for i := range s.down {
		slices.Sort(s.down[i])
	}
	for k := range allExt {
		s.externals = append(s.externals, k)
	}
	slices.Sort(s.externals)
	s.layers = s.kahn()
	s.cycles = s.findCycles()
	if len(s.cycles) > 0 {
		return s, &CycleError{Cycles: s.Cycles()}
	}
	return s, nil
}
