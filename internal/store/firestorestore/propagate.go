package firestorestore

import (
	"context"
	"errors"
	"sort"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// Propagation changes the terminal node itself (it becomes propagated) and, on success, each
// pending downstream node (one more upstream counted, ready at zero), or, on failure, every
// pending node downstream, transitively (skipped). When that fits one transaction it is one
// transaction, which also tells whether the run is done. When it does not (a fan-out of
// hundreds), it runs in steps that are each idempotent, and the node is marked propagated
// only by the last step, so a crash midway leaves it terminal and unpropagated: the sweeper
// finds it (StaleNodes.Unpropagated) and NodePropagate runs the steps again.
//
//   - Counting a success downstream records the upstream's name in the downstream node
//     (countedUpstream) in the same write that decrements PendingUpstream, so no node counts
//     one upstream twice, whichever call or step gets there.
//   - Skipping writes the skipped nodes sinks first (reverse topological order): when a node
//     is skipped, everything pending downstream of it is skipped already, so a walk that starts
//     again from the failed node and goes through pending nodes only still reaches every node
//     left to skip.

// getAllFunc reads documents, inside a transaction or not; missing ones come back as
// snapshots that do not exist.
type getAllFunc func(refs []*firestore.DocumentRef) ([]*firestore.DocumentSnapshot, error)

func (s *Store) clientGetAll(ctx context.Context) getAllFunc {
	return func(refs []*firestore.DocumentRef) ([]*firestore.DocumentSnapshot, error) {
		return s.client.GetAll(ctx, refs)
	}
}

// readNodes reads the named nodes of a run; those that do not exist are left out.
func (s *Store) readNodes(get getAllFunc, runID string, names []string) (map[string]*nodeDoc, error) {
	out := make(map[string]*nodeDoc, len(names))
	for _, c := range chunks(len(names), maxWrites) {
		refs := make([]*firestore.DocumentRef, 0, c[1]-c[0])
		for _, name := range names[c[0]:c[1]] {
			refs = append(refs, s.nodeRef(runID, name))
		}
		snaps, err := get(refs)
		if err != nil {
			return nil, err
		}
		for _, snap := range snaps {
			if !snap.Exists() {
				continue
			}
			d, err := decodeNode(snap)
			if err != nil {
				return nil, err
			}
			out[d.Name] = d
		}
	}
	return out, nil
}

// unique returns names without repeats, in their first order.
func unique(names []string) []string {
	seen := make(map[string]bool, len(names))
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// countable reports whether d still waits for the success of upstream node up.
func countable(d *nodeDoc, up string) bool {
	return d.state() == run.NodePending && d.PendingUpstream > 0 && !d.counted(up)
}

// count counts the success of upstream node up in d and reports whether d became ready.
func count(d *nodeDoc, up string) bool {
	d.PendingUpstream--
	d.CountedUpstream = append(d.CountedUpstream, up)
	if d.PendingUpstream == 0 {
		d.State, d.DispatchedAt = string(run.NodeReady), time.Time{}
		return true
	}
	return false
}

func skip(d *nodeDoc, at time.Time) {
	d.State, d.FinishedAt, d.Propagated = string(run.NodeSkipped), at, true
}

// planUnlock returns the downstream nodes of x that still wait for its success.
func (s *Store) planUnlock(get getAllFunc, runID string, x *nodeDoc) ([]*nodeDoc, error) {
	names := unique(x.Downstream)
	docs, err := s.readNodes(get, runID, names)
	if err != nil {
		return nil, err
	}
	var out []*nodeDoc
	for _, name := range names {
		if d := docs[name]; d != nil && countable(d, x.Name) {
			out = append(out, d)
		}
	}
	return out, nil
}

// planSkip returns the pending nodes downstream of x, reached through pending nodes only, sinks
// first. A node that is skipped already is not walked through: its downstream was skipped
// before it (see above).
func (s *Store) planSkip(get getAllFunc, runID string, x *nodeDoc) ([]*nodeDoc, error) {
	seen := map[string]bool{x.Name: true}
	found := map[string]*nodeDoc{}
	var order []string
	var frontier []string
	for _, name := range x.Downstream {
		if !seen[name] {
			seen[name] = true
			frontier = append(frontier, name)
		}
	}
	for len(frontier) > 0 {
		docs, err := s.readNodes(get, runID, frontier)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, name := range frontier {
			d := docs[name]
			if d == nil || d.state() != run.NodePending {
				continue
			}
			found[name] = d
			order = append(order, name)
			for _, dn := range d.Downstream {
				if !seen[dn] {
					seen[dn] = true
					next = append(next, dn)
				}
			}
		}
		frontier = next
	}
	out := make([]*nodeDoc, 0, len(found))
	visited := make(map[string]bool, len(found))
	var visit func(name string)
	visit = func(name string) {
		if visited[name] {
			return
		}
		visited[name] = true
		d := found[name]
		for _, dn := range d.Downstream {
			if found[dn] != nil {
				visit(dn)
			}
		}
		out = append(out, d)
	}
	for _, name := range order {
		visit(name)
	}
	return out, nil
}

// runDone reports, inside tx, whether every node of the run is propagated once this
// transaction commits: no unpropagated node other than those it propagates (ours, by
// document id). It reads at most len(ours)+1 document names.
func (s *Store) runDone(tx *firestore.Transaction, runID string, ours map[string]bool) (bool, error) {
	q := qRunNodesUnfinished.on(s.nodesOf(runID).Query, false).Select().Limit(len(ours) + 1)
	snaps, err := tx.Documents(q).GetAll()
	if err != nil {
		return false, err
	}
	for _, snap := range snaps {
		if !ours[snap.Ref.ID] {
			return false, nil
		}
	}
	return true, nil
}

// propagateTx applies the outcome of terminal node x in tx, marking it propagated, and fills
// res. It returns errTooBig, having written nothing, if the writes would not fit one
// transaction.
func (s *Store) propagateTx(tx *firestore.Transaction, runID string, x *nodeDoc, res *store.PropagateResult) error {
	ours := map[string]bool{docID(x.Name): true}
	var writes []*nodeDoc
	if x.state() == run.NodeSucceeded {
		down, err := s.planUnlock(tx.GetAll, runID, x)
		if err != nil {
			return err
		}
		if len(down)+1 > maxWrites {
			return errTooBig
		}
		for _, d := range down {
			if count(d, x.Name) {
				res.Ready = append(res.Ready, d.Name)
			}
		}
		writes = down
	} else {
		skipped, err := s.planSkip(tx.GetAll, runID, x)
		if err != nil {
			return err
		}
		if len(skipped)+1 > maxWrites {
			return errTooBig
		}
		for _, d := range skipped {
			skip(d, x.FinishedAt)
			res.Skipped = append(res.Skipped, d.Name)
			ours[docID(d.Name)] = true
		}
		writes = skipped
	}
	if len(res.Ready) == 0 {
		done, err := s.runDone(tx, runID, ours)
		if err != nil {
			return err
		}
		res.RunDone = done
	}
	x.Propagated = true
	if err := tx.Set(s.nodeRef(runID, x.Name), x.derive()); err != nil {
		return err
	}
	for _, d := range writes {
		if err := tx.Set(s.nodeRef(runID, d.Name), d.derive()); err != nil {
			return err
		}
	}
	sort.Strings(res.Ready)
	sort.Strings(res.Skipped)
	return nil
}

// NodePropagate applies a terminal, unpropagated node's outcome downstream, once.
func (s *Store) NodePropagate(ctx context.Context, runID, name string) (*store.PropagateResult, error) {
	ref := s.nodeRef(runID, name)
	var res *store.PropagateResult
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		res = &store.PropagateResult{}
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		x, err := decodeNode(snap)
		if err != nil {
			return err
		}
		if !x.state().Terminal() || x.Propagated {
			return nil
		}
		return s.propagateTx(tx, runID, x, res)
	})
	if errors.Is(err, errTooBig) {
		res, err = s.propagateInSteps(ctx, runID, name)
	}
	if err != nil {
		return nil, wrap(ctx, err, "error propagating node %q of run %q", name, runID)
	}
	return res, nil
}

// NodeFinish records an outcome and, when it is terminal, propagates it: in one transaction
// when the propagation fits one, else the outcome first and then the steps of
// propagateInSteps.
func (s *Store) NodeFinish(ctx context.Context, p *store.NodeRecordOutcomeParams) (*run.Node, *store.PropagateResult, error) {
	if err := checkOutcome(p); err != nil {
		return nil, nil, err
	}
	ref := s.nodeRef(p.RunID, p.Name)
	var (
		out     *nodeDoc
		res     *store.PropagateResult
		inSteps bool
	)
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		out, res, inSteps = nil, &store.PropagateResult{}, false
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		n, err := decodeNode(snap)
		if err != nil {
			return err
		}
		if err := recordOutcome(n, p); err != nil {
			return err
		}
		if n.state().Terminal() {
			err = s.propagateTx(tx, p.RunID, n, res)
			if !errors.Is(err, errTooBig) {
				out = n
				return err
			}
			inSteps, res = true, &store.PropagateResult{}
		}
		out = n.derive()
		return tx.Set(ref, n)
	})
	if err != nil {
		return nil, nil, wrap(ctx, err, "error finishing node %q of run %q", p.Name, p.RunID)
	}
	if inSteps {
		if res, err = s.propagateInSteps(ctx, p.RunID, p.Name); err != nil {
			return nil, nil, wrap(ctx, err,
				"error finishing node %q of run %q: its outcome is recorded, propagating it failed (the sweeper will)",
				p.Name, p.RunID)
		}
		out.Propagated = true
	}
	return out.node(), res, nil
}

// propagateInSteps propagates a terminal node whose propagation does not fit one transaction:
// the downstream changes in transactions of at most maxWrites nodes each, then the node itself
// is marked propagated, with RunDone decided in that last transaction.
func (s *Store) propagateInSteps(ctx context.Context, runID, name string) (*store.PropagateResult, error) {
	ref := s.nodeRef(runID, name)
	snap, err := ref.Get(ctx)
	if err != nil {
		return nil, err
	}
	x, err := decodeNode(snap)
	if err != nil {
		return nil, err
	}
	res := &store.PropagateResult{}
	if !x.state().Terminal() || x.Propagated {
		return res, nil
	}
	if x.state() == run.NodeSucceeded {
		names := unique(x.Downstream)
		for _, c := range chunks(len(names), maxWrites) {
			ready, err := s.countStep(ctx, runID, x.Name, names[c[0]:c[1]])
			if err != nil {
				return nil, err
			}
			res.Ready = append(res.Ready, ready...)
		}
	} else {
		plan, err := s.planSkip(s.clientGetAll(ctx), runID, x)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(plan))
		for _, d := range plan {
			names = append(names, d.Name)
		}
		for _, c := range chunks(len(names), maxWrites) {
			skipped, err := s.skipStep(ctx, runID, names[c[0]:c[1]], x.FinishedAt)
			if err != nil {
				return nil, err
			}
			res.Skipped = append(res.Skipped, skipped...)
		}
	}
	// The last step: the node itself. Another call may have finished the steps first; then it
	// is the one that says whether the run is done.
	err = s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		res.RunDone = false
		snap, err := tx.Get(ref)
		if err != nil {
			return err
		}
		x, err := decodeNode(snap)
		if err != nil {
			return err
		}
		if x.Propagated {
			return nil
		}
		if len(res.Ready) == 0 {
			if res.RunDone, err = s.runDone(tx, runID, map[string]bool{docID(x.Name): true}); err != nil {
				return err
			}
		}
		x.Propagated = true
		return tx.Set(ref, x.derive())
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(res.Ready)
	sort.Strings(res.Skipped)
	return res, nil
}

// countStep counts the success of upstream node up in the named nodes that still wait for it,
// in one transaction, and returns those that became ready.
func (s *Store) countStep(ctx context.Context, runID, up string, names []string) ([]string, error) {
	var ready []string
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		ready = nil
		docs, err := s.readNodes(tx.GetAll, runID, names)
		if err != nil {
			return err
		}
		for _, name := range names {
			d := docs[name]
			if d == nil || !countable(d, up) {
				continue
			}
			if count(d, up) {
				ready = append(ready, d.Name)
			}
			if err := tx.Set(s.nodeRef(runID, d.Name), d.derive()); err != nil {
				return err
			}
		}
		return nil
	})
	return ready, err
}

// skipStep skips those of the named nodes that are still pending, in one transaction, and
// returns them.
func (s *Store) skipStep(ctx context.Context, runID string, names []string, at time.Time) ([]string, error) {
	var skipped []string
	err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		skipped = nil
		docs, err := s.readNodes(tx.GetAll, runID, names)
		if err != nil {
			return err
		}
		for _, name := range names {
			d := docs[name]
			if d == nil || d.state() != run.NodePending {
				continue // skipped or cancelled meanwhile
			}
			skip(d, at)
			skipped = append(skipped, d.Name)
			if err := tx.Set(s.nodeRef(runID, d.Name), d.derive()); err != nil {
				return err
			}
		}
		return nil
	})
	return skipped, err
}
