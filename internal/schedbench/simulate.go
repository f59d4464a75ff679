package schedbench

import (
	"container/heap"
	"fmt"
	"sort"
)

// Policy orders the ready nodes of a simulation.
type Policy string

const (
	// PolicyFIFO starts ready nodes in the order they became ready.
	PolicyFIFO Policy = "fifo"
	// PolicyDeepest starts the deepest ready node first (run.Node.Depth), then the first to
	// become ready: the order Firestore's dispatch gives (by name among equally deep ones,
	// which is arbitrary here).
	PolicyDeepest Policy = "deepest"
	// PolicyDeepestLastReady starts the deepest ready node first, then the last to become
	// ready: the embedded store's order.
	PolicyDeepestLastReady Policy = "deepest-last-ready"
)

// Simulation is what an idealised scheduler does with the benchmark's graph: one node finishes
// per unit of time (a single writer that spends the same time on every node, and no other cost:
// no queue, no network, no locking), and the moment it does, the next ready node in the policy's
// order starts. Its hops are in those units; multiplied by the time per node of a real run (1 ÷
// nodes_per_s) they are the least hop that run could have had, whatever its scheduler did, with
// that policy.
type Simulation struct {
	Policy      Policy
	HopP50Units int
	HopP99Units int
	HopMaxUnits int
	OverBudget  float64 // the share of hops over BudgetUnits
	BudgetUnits int
}

func (s Simulation) String() string {
	return fmt.Sprintf("policy=%s hop_p50_units=%d hop_p99_units=%d hop_max_units=%d over_%d_units=%.1f%%",
		s.Policy, s.HopP50Units, s.HopP99Units, s.HopMaxUnits, s.BudgetUnits, 100*s.OverBudget)
}

// Simulate runs the benchmark's random graph through an idealised single-writer scheduler.
func Simulate(nodes, layers int, seed uint64, policy Policy, budgetUnits int) (Simulation, error) {
	if layers == 0 {
		layers = 20
	}
	names, g := RandomGraph(nodes, layers, seed)
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	depth := make([]int, len(names))
	pending := make([]int, len(names))
	for i, n := range names { // names are in topological order: upstream nodes come first
		for _, u := range g.Upstream(n) {
			depth[i] = max(depth[i], depth[index[u]]+1)
		}
		pending[i] = len(g.Upstream(n))
	}
	q := &readyQueue{}
	switch policy {
	case PolicyFIFO:
		q.less = func(a, b readyNode) bool { return a.seq < b.seq }
	case PolicyDeepest:
		q.less = func(a, b readyNode) bool {
			if depth[a.node] != depth[b.node] {
				return depth[a.node] > depth[b.node]
			}
			return a.seq < b.seq
		}
	case PolicyDeepestLastReady:
		q.less = func(a, b readyNode) bool {
			if depth[a.node] != depth[b.node] {
				return depth[a.node] > depth[b.node]
			}
			return a.seq > b.seq
		}
	default:
		return Simulation{}, fmt.Errorf("unknown policy %q (fifo, deepest or deepest-last-ready)", policy)
	}
	readyAt := make([]int, len(names))
	seq := 0
	push := func(i, now int) {
		readyAt[i] = now
		seq++
		heap.Push(q, readyNode{node: i, seq: seq})
	}
	for i := range names {
		if pending[i] == 0 {
			push(i, 0)
		}
	}
	var hops []int
	for now := 0; q.Len() > 0; now++ {
		i := heap.Pop(q).(readyNode).node
		if pending[i] == 0 && len(g.Upstream(names[i])) > 0 {
			hops = append(hops, now-readyAt[i])
		}
		// It finishes one unit later; what it unlocks is ready then.
		for _, d := range g.Downstream(names[i]) {
			j := index[d]
			if pending[j]--; pending[j] == 0 {
				push(j, now+1)
			}
		}
	}
	sort.Ints(hops)
	s := Simulation{Policy: policy, BudgetUnits: budgetUnits}
	if len(hops) == 0 {
		return s, nil
	}
	s.HopP50Units = hops[len(hops)/2]
	s.HopP99Units = hops[min(len(hops)-1, len(hops)*99/100)]
	s.HopMaxUnits = hops[len(hops)-1]
	over := sort.SearchInts(hops, budgetUnits+1)
	s.OverBudget = float64(len(hops)-over) / float64(len(hops))
	return s, nil
}

type readyNode struct{ node, seq int }

type readyQueue struct {
	items []readyNode
	less  func(a, b readyNode) bool
}

func (q *readyQueue) Len() int           { return len(q.items) }
func (q *readyQueue) Less(i, j int) bool { return q.less(q.items[i], q.items[j]) }
func (q *readyQueue) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *readyQueue) Push(x any)         { q.items = append(q.items, x.(readyNode)) }
func (q *readyQueue) Pop() any {
	n := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return n
}
