package firestorestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"google.golang.org/api/iterator"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// countQuery runs a COUNT aggregation of q.
func countQuery(ctx context.Context, q firestore.Query) (int, error) {
	res, err := q.NewAggregationQuery().WithCount("n").Get(ctx)
	if err != nil {
		return 0, err
	}
	v, ok := res["n"].(*firestorepb.Value)
	if !ok {
		return 0, fmt.Errorf("the count came back as %T", res["n"])
	}
	return int(v.GetIntegerValue()), nil
}

// both runs f and g at once and returns their errors.
func both(f, g func() error) error {
	var wg sync.WaitGroup
	var ferr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ferr = f()
	}()
	gerr := g()
	wg.Wait()
	return errors.Join(ferr, gerr)
}

// bound is the smaller of two limits where -1 means no limit.
func bound(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// NodesDispatch picks ready, undispatched nodes of running runs within the parallelism bounds
// and marks them dispatched.
//
// The candidates and the counts of busy nodes are read outside a transaction, from a fresh
// snapshot; then the picked nodes are re-read and those still ready, undispatched and due are
// stamped in one commit, each on the condition that it did not change since (see
// optimistically). So concurrent dispatchers never hand out one node twice. The limits are checked against that snapshot: two dispatchers
// running at the same instant may together go over MaxParallel or GlobalLimit by what the
// other one picked. Making the counts conditions of the commit would lock every busy node of
// every run against each claim and finish for the length of a dispatch.
func (s *Store) NodesDispatch(ctx context.Context, p *store.NodesDispatchParams) ([]*run.Node, error) {
	if p.Now.IsZero() {
		return nil, errors.New("error dispatching nodes: Now is not set")
	}
	now := micro(p.Now)
	// Independent reads go out together: each is a round trip, and a dispatch is on the path
	// from one node's completion to the next node's start.
	var (
		runs []*runDoc
		busy int
	)
	err := both(func() (err error) {
		runs, err = s.runningRuns(ctx)
		return err
	}, func() (err error) {
		if p.GlobalLimit > 0 {
			busy, err = countQuery(ctx, qNodesBusy.on(s.client.CollectionGroup(s.nodesID).Query, true))
		}
		return wrap(ctx, err, "error counting busy nodes")
	})
	if err != nil {
		return nil, err
	}
	global := -1
	if p.GlobalLimit > 0 {
		global = max(p.GlobalLimit-busy, 0)
	}
	remaining := -1
	if p.Max > 0 {
		remaining = p.Max
	}
	var picked []*firestore.DocumentRef
	for _, r := range runs {
		if global == 0 || remaining == 0 {
			break
		}
		limit := bound(global, remaining)
		if r.MaxParallel > 0 {
			limit = bound(limit, r.MaxParallel)
		}
		var (
			runBusy int
			refs    []*firestore.DocumentRef
		)
		// The candidates are read beside the count, up to MaxParallel, and cut to the free
		// slots once the count is known.
		err := both(func() (err error) {
			if r.MaxParallel > 0 {
				runBusy, err = countQuery(ctx, qRunNodesBusy.on(s.nodesOf(r.ID).Query, true))
			}
			return wrap(ctx, err, "error counting the busy nodes of run %q", r.ID)
		}, func() (err error) {
			refs, err = s.candidates(ctx, r.ID, now, limit)
			return wrap(ctx, err, "error finding the nodes to dispatch of run %q", r.ID)
		})
		if err != nil {
			return nil, err
		}
		if r.MaxParallel > 0 {
			free := max(r.MaxParallel-runBusy, 0)
			refs = refs[:min(len(refs), free)]
		}
		picked = append(picked, refs...)
		if global > 0 {
			global -= len(refs)
		}
		if remaining > 0 {
			remaining -= len(refs)
		}
	}

	var out []*run.Node
	for _, c := range chunks(len(picked), maxWrites) {
		var stamped []*run.Node
		err := s.optimistically(ctx, func() ([]casWrite, error) {
			stamped = nil
			snaps, err := s.client.GetAll(ctx, picked[c[0]:c[1]])
			if err != nil {
				return nil, err
			}
			var writes []casWrite
			for _, snap := range snaps {
				if !snap.Exists() {
					continue
				}
				n, err := decodeNode(snap)
				if err != nil {
					return nil, err
				}
				if !n.Todo || n.state() != run.NodeReady || !n.DispatchedAt.IsZero() || utc(n.NotBefore).After(now) {
					continue // a concurrent dispatcher, a claim or a cancel got there first
				}
				n.DispatchedAt = now
				writes = append(writes, casWrite{ref: snap.Ref, readAt: n.readAt, doc: n.derive()})
				stamped = append(stamped, n.node())
			}
			return writes, nil
		})
		if err != nil {
			return nil, wrap(ctx, err, "error dispatching nodes")
		}
		out = append(out, stamped...)
	}
	return out, nil
}

// candidates returns up to limit (-1: any number) ready, undispatched nodes of a run whose
// NotBefore has passed, in store.DispatchesBefore order. Few candidates wait for a NotBefore (retries in backoff), so
// they are passed over as they come rather than filtered by the query (which could then not
// keep that order); with a limit the query reads pages of that size, so a dispatch reads about
// as many nodes as it picks, however many are ready.
func (s *Store) candidates(ctx context.Context, runID string, now time.Time, limit int) ([]*firestore.DocumentRef, error) {
	q := qRunNodesTodo.on(s.nodesOf(runID).Query, true).Select("depth", "name", "notBefore") // the cursor needs the order fields
	if limit >= 0 {
		q = q.Limit(limit)
	}
	var out []*firestore.DocumentRef
	for limit < 0 || len(out) < limit {
		snaps, err := q.Documents(ctx).GetAll()
		if err != nil {
			return nil, err
		}
		for _, snap := range snaps {
			var d struct {
				NotBefore time.Time `firestore:"notBefore"`
			}
			if err := snap.DataTo(&d); err != nil {
				return nil, fmt.Errorf("error decoding node %q: %w", snap.Ref.Path, err)
			}
			if !utc(d.NotBefore).After(now) && (limit < 0 || len(out) < limit) {
				out = append(out, snap.Ref)
			}
		}
		if limit < 0 || len(snaps) < limit {
			break
		}
		q = q.StartAfter(snaps[len(snaps)-1])
	}
	return out, nil
}

// NodesStale finds the nodes and runs of running runs that the sweeper must repair. Each list
// is one query over every run's nodes (a collection group query), oldest first; nodes of runs
// that are not running are passed over as they stream by (they are rare: a cancel makes its
// nodes terminal, and only a run finished with work in flight keeps such nodes).
func (s *Store) NodesStale(ctx context.Context, p *store.NodesStaleParams) (*store.StaleNodes, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	runs, err := s.runningRuns(ctx)
	if err != nil {
		return nil, err
	}
	running := make(map[string]bool, len(runs))
	for _, r := range runs {
		running[r.ID] = true
	}
	var out store.StaleNodes
	group := s.client.CollectionGroup(s.nodesID).Query
	lists := []struct {
		dst  *[]*run.Node
		q    firestore.Query
		skip bool
	}{
		{&out.ExpiredLeases, qNodesLeaseExpired.on(group, string(run.NodeRunning), micro(p.Now)), false},
		{&out.Undelivered, qNodesUndelivered.on(group, string(run.NodeReady), time.Time{}, micro(p.DispatchedBefore)),
			p.DispatchedBefore.IsZero()},
		{&out.Unpropagated, qNodesUnpropagated.on(group, false,
			[]string{string(run.NodeSucceeded), string(run.NodeFailed), string(run.NodeSkipped), string(run.NodeCancelled)},
			micro(p.FinishedBefore)), p.FinishedBefore.IsZero()},
	}
	for _, l := range lists {
		if l.skip || len(running) == 0 {
			continue
		}
		if *l.dst, err = s.nodesOfRunning(ctx, l.q, running, limit); err != nil {
			return nil, wrap(ctx, err, "error finding stale nodes")
		}
	}
	for _, r := range runs {
		if len(out.Done) >= limit {
			break
		}
		q := qRunNodesUnfinished.on(s.nodesOf(r.ID).Query, false).Select().Limit(1)
		refs, err := docRefs(q.Documents(ctx))
		if err != nil {
			return nil, wrap(ctx, err, "error finding finished runs")
		}
		if len(refs) == 0 {
			out.Done = append(out.Done, r.ID)
		}
	}
	return &out, nil
}

// nodesOfRunning returns up to limit nodes from q that belong to running runs.
func (s *Store) nodesOfRunning(ctx context.Context, q firestore.Query, running map[string]bool, limit int) ([]*run.Node, error) {
	it := q.Documents(ctx)
	defer it.Stop()
	var out []*run.Node
	for len(out) < limit {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		d, err := decodeNode(snap)
		if err != nil {
			return nil, err
		}
		if running[d.RunID] {
			out = append(out, d.node())
		}
	}
	return out, nil
}
