package firestorestore

import "sync"

// downstreamCache remembers the downstream lists of nodes this process claimed. A node's
// downstream list never changes once its run exists, so a remembered list cannot be stale: with
// it, NodeFinish reads the node and its downstream nodes in one round trip instead of two, on
// the path from one node's end to the next one's start.
type downstreamCache struct {
	mu    sync.Mutex
	lists map[string][]string
}

// downstreamCacheSize bounds the entries: a worker holds a few nodes at a time, so when the
// cache is full it is simply emptied.
const downstreamCacheSize = 4096

func cacheKey(runID, name string) string { return runID + "\x00" + name }

func (c *downstreamCache) put(runID, name string, down []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lists == nil || len(c.lists) >= downstreamCacheSize {
		c.lists = make(map[string][]string)
	}
	c.lists[cacheKey(runID, name)] = down
}

// take returns and forgets a remembered list: a node is finished once.
func (c *downstreamCache) take(runID, name string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := cacheKey(runID, name)
	down, ok := c.lists[key]
	delete(c.lists, key)
	return down, ok
}
