package webui

import (
	"context"
	"sync"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// nodeCache keeps the nodes of finished runs, which never change again, so that the pages
// that sum over recent runs (last states, costs) read each finished run's nodes once instead
// of on every view. Runs still going are always read fresh.
type nodeCache struct {
	st Reader
	mu sync.Mutex
	// nodes of terminal runs, by run id; count is how many nodes they hold.
	nodes map[string][]*run.Node
	count int
}

// maxCachedNodes bounds the cache (a node is a few hundred bytes); past it, it starts over,
// and a page reads again what it needs.
const maxCachedNodes = 100_000

func newNodeCache(st Reader) *nodeCache {
	return &nodeCache{st: st, nodes: map[string][]*run.Node{}}
}

// of returns a run's nodes; the slice is shared and must not be changed.
func (c *nodeCache) of(ctx context.Context, r *run.Run) ([]*run.Node, error) {
	if r.State.Terminal() {
		c.mu.Lock()
		ns, ok := c.nodes[r.ID]
		c.mu.Unlock()
		if ok {
			return ns, nil
		}
	}
	ns, err := c.st.NodeList(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	if r.State.Terminal() {
		c.mu.Lock()
		if _, ok := c.nodes[r.ID]; !ok {
			if c.count+len(ns) > maxCachedNodes {
				c.nodes, c.count = map[string][]*run.Node{}, 0
			}
			c.nodes[r.ID] = ns
			c.count += len(ns)
		}
		c.mu.Unlock()
	}
	return ns, nil
}

// reader is the store as cost.Collect reads it, with finished runs' nodes from the cache and
// the tables from the API's listing cache.
type reader struct {
	u *UI
	// runs remembers the runs RunList returned, so NodeList knows whether one is finished.
	mu   sync.Mutex
	runs map[string]*run.Run
}

func (u *UI) reader() *reader { return &reader{u: u, runs: map[string]*run.Run{}} }

func (r *reader) RunList(ctx context.Context, p *store.RunListParams) ([]*run.Run, error) {
	runs, err := r.u.cfg.Store.RunList(ctx, p)
	r.mu.Lock()
	for _, rn := range runs {
		r.runs[rn.ID] = rn
	}
	r.mu.Unlock()
	return runs, err
}

func (r *reader) NodeList(ctx context.Context, runID string) ([]*run.Node, error) {
	r.mu.Lock()
	rn := r.runs[runID]
	r.mu.Unlock()
	if rn == nil {
		return r.u.cfg.Store.NodeList(ctx, runID)
	}
	return r.u.nodes.of(ctx, rn)
}

func (r *reader) TableList(ctx context.Context) ([]*store.TableRecord, error) {
	return r.u.cfg.Backend.Tables(ctx)
}
