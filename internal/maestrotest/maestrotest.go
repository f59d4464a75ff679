// Package maestrotest holds fixtures shared by tests: a fixed dependency graph and a settable
// clock. Only tests import it.
package maestrotest

import (
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

// Graph is a dependency graph given as each table's upstream tables. It satisfies
// scheduler.Graph.
type Graph map[string][]string

// Upstream returns the tables name reads.
func (g Graph) Upstream(name string) []string { return g[name] }

// Downstream returns the tables that read name, sorted.
func (g Graph) Downstream(name string) []string {
	var out []string
	for d, ups := range g {
		if slices.Contains(ups, name) {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// Clock is a clock tests set by hand. It is safe for concurrent use.
type Clock struct{ now atomic.Pointer[time.Time] }

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the time last set.
func (c *Clock) Now() time.Time { return *c.now.Load() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.now.Store(&t) }
