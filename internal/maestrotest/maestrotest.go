// Package maestrotest holds fixtures shared by tests: a fixed dependency graph, a settable
// clock and a folder writer. Only tests import it.
package maestrotest

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
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

// WriteTree lays out files (slash paths relative to a new temp folder, mapped to their
// contents) and returns the folder.
func WriteTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
