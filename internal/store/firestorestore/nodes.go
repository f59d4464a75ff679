package firestorestore

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// NodeGet returns a node or ErrNotFound.
func (s *Store) NodeGet(ctx context.Context, runID, name string) (*run.Node, error) {
	snap, err := s.nodeRef(runID, name).Get(ctx)
	if err != nil {
		return nil, wrap(ctx, err, "error loading node %q of run %q", name, runID)
	}
	d, err := decodeNode(snap)
	if err != nil {
		return nil, err
	}
	return d.node(), nil
}

// NodeList returns a run's nodes ordered by name (none for an unknown run).
func (s *Store) NodeList(ctx context.Context, runID string) ([]*run.Node, error) {
	q := qRunNodes.on(s.nodesOf(runID).Query)
	return collect(ctx, q.Documents(ctx), func(snap *firestore.DocumentSnapshot) (*run.Node, error) {
		d, err := decodeNode(snap)
		if err != nil {
			return nil, err
		}
		return d.node(), nil
	}, "error listing the nodes of run %q", runID)
}

// moveNode is a compare-and-set of one node: it reads the node, lets move check and change it
// (move returns an error to change nothing), and writes it back if it did not change since
// (see optimistically). It returns the node as written. ErrNotFound if the node does not exist.
func (s *Store) moveNode(ctx context.Context, runID, name string, move func(n *nodeDoc) error) (*nodeDoc, error) {
	ref := s.nodeRef(runID, name)
	var out *nodeDoc
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		out = nil
		snap, err := ref.Get(ctx)
		if err != nil {
			return nil, err
		}
		n, err := decodeNode(snap)
		if err != nil {
			return nil, err
		}
		if err := move(n); err != nil {
			return nil, err
		}
		out = n
		return []casWrite{s.casNode(runID, n)}, nil
	})
	return out, err
}

// NodeClaim moves a ready node of a running run to running under p.Lease. The node and its
// run are read together, in one round trip. The run is not written: a run only stops running
// once every node is terminal (RunFinish) or by RunCancel, which writes the node as well.
func (s *Store) NodeClaim(ctx context.Context, p *store.NodeClaimParams) (*run.Node, error) {
	if p.Lease == "" {
		return nil, fmt.Errorf("error claiming node %q of run %q: the lease is empty", p.Name, p.RunID)
	}
	ref := s.nodeRef(p.RunID, p.Name)
	var out *nodeDoc
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		out = nil
		snaps, err := s.client.GetAll(ctx, []*firestore.DocumentRef{ref, s.runRef(p.RunID)})
		if err != nil {
			return nil, err
		}
		if !snaps[0].Exists() {
			return nil, notFound("the node")
		}
		n, err := decodeNode(snaps[0])
		if err != nil {
			return nil, err
		}
		if n.state() != run.NodeReady || n.Attempt != p.Attempt {
			return nil, conflict(fmt.Sprintf("it is not ready with attempt %d", p.Attempt))
		}
		if !snaps[1].Exists() {
			return nil, conflict("its run does not exist")
		}
		r, err := decodeRun(snaps[1])
		if err != nil {
			return nil, err
		}
		if r.State != string(run.RunRunning) {
			return nil, conflict("its run is not running")
		}
		n.State, n.Lease, n.LeaseExpiresAt, n.JobID, n.StartedAt = string(run.NodeRunning), p.Lease,
			p.LeaseExpiresAt, p.JobID, p.Now
		out = n
		return []casWrite{s.casNode(p.RunID, n)}, nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "error claiming node %q of run %q", p.Name, p.RunID)
	}
	s.downstream.put(p.RunID, p.Name, out.Downstream)
	return out.node(), nil
}

// heldBy reports whether n is running attempt under lease.
func (n *nodeDoc) heldBy(attempt int, lease string) bool {
	return n.state() == run.NodeRunning && n.Attempt == attempt && n.Lease == lease
}

// NodeHeartbeat extends the lease of a node still running under p.Lease and p.Attempt.
func (s *Store) NodeHeartbeat(ctx context.Context, p *store.NodeHeartbeatParams) error {
	_, err := s.moveNode(ctx, p.RunID, p.Name, func(n *nodeDoc) error {
		if !n.heldBy(p.Attempt, p.Lease) {
			return conflict("it is no longer running under this lease")
		}
		n.LeaseExpiresAt = p.LeaseExpiresAt
		return nil
	})
	return wrap(ctx, err, "error extending the lease of node %q of run %q", p.Name, p.RunID)
}

// recordOutcome applies p to n, which must be running attempt p.Attempt under p.Lease. Stats
// add up over attempts, except CacheHit, which is the last attempt's.
func recordOutcome(n *nodeDoc, p *store.NodeRecordOutcomeParams) error {
	if !n.heldBy(p.Attempt, p.Lease) {
		return conflict(fmt.Sprintf("it is no longer running attempt %d under this lease", p.Attempt))
	}
	st := n.Stats.stats()
	st.Add(p.Stats)
	st.CacheHit = p.Stats.CacheHit
	n.Stats, n.Error = statsDocOf(st), p.Error
	n.Lease, n.LeaseExpiresAt = "", time.Time{}
	if p.State == run.NodeReady {
		n.State, n.Attempt, n.NotBefore, n.DispatchedAt = string(run.NodeReady), n.Attempt+1, p.NotBefore, time.Time{}
	} else {
		n.State, n.FinishedAt = string(p.State), p.Now
	}
	return nil
}

func checkOutcome(p *store.NodeRecordOutcomeParams) error {
	switch p.State {
	case run.NodeSucceeded, run.NodeFailed, run.NodeReady:
		return nil
	}
	return fmt.Errorf("error recording the outcome of node %q of run %q: %q is not an outcome", p.Name, p.RunID, p.State)
}

// NodeRecordOutcome ends a running attempt: succeeded, failed, or ready for a retry.
func (s *Store) NodeRecordOutcome(ctx context.Context, p *store.NodeRecordOutcomeParams) (*run.Node, error) {
	if err := checkOutcome(p); err != nil {
		return nil, err
	}
	n, err := s.moveNode(ctx, p.RunID, p.Name, func(n *nodeDoc) error {
		return recordOutcome(n, p)
	})
	if err != nil {
		return nil, wrap(ctx, err, "error recording the outcome of node %q of run %q", p.Name, p.RunID)
	}
	return n.node(), nil
}

// NodeRedispatch stamps a ready, dispatched node with a new dispatch time.
func (s *Store) NodeRedispatch(ctx context.Context, p *store.NodeRedispatchParams) error {
	_, err := s.moveNode(ctx, p.RunID, p.Name, func(n *nodeDoc) error {
		if n.state() != run.NodeReady || n.Attempt != p.Attempt || !utc(n.DispatchedAt).Equal(micro(p.DispatchedAt)) {
			return conflict("it is no longer ready with this attempt and dispatch time")
		}
		n.DispatchedAt = p.Now
		return nil
	})
	return wrap(ctx, err, "error redispatching node %q of run %q", p.Name, p.RunID)
}

// NodeReclaim returns a running node to ready with the same attempt, undispatched.
func (s *Store) NodeReclaim(ctx context.Context, p *store.NodeReclaimParams) error {
	_, err := s.moveNode(ctx, p.RunID, p.Name, func(n *nodeDoc) error {
		if !n.heldBy(p.Attempt, p.Lease) {
			return conflict("it is no longer running under this lease")
		}
		n.State, n.Lease, n.LeaseExpiresAt, n.DispatchedAt = string(run.NodeReady), "", time.Time{}, time.Time{}
		return nil
	})
	return wrap(ctx, err, "error reclaiming node %q of run %q", p.Name, p.RunID)
}
