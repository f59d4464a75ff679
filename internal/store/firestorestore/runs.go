package firestorestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// runIDDoc reserves a run id: RunCreate creates it first, so of two creations of one id the
// second loses before writing anything.
type runIDDoc struct {
	CreatedAt time.Time `firestore:"createdAt"`
}

// RunCreate stores a run and its nodes; ErrConflict if the id exists. A node with an empty
// RunID takes the run's.
//
// A run whose documents fit one transaction (the id reservation, the nodes, the run) is
// written in one. A larger one is written in three steps: the id reservation (which decides
// a duplicate: the loser writes nothing), the nodes (with a BulkWriter), and the run document
// last. Until that last write the run does not exist for anyone: RunGet and RunList do not see
// it, and the scheduler's queries start from running run documents, so half-written nodes are
// never dispatched or swept. A creation that dies midway leaves the id taken (a retry gets
// ErrConflict) and its nodes unreachable.
func (s *Store) RunCreate(ctx context.Context, r *run.Run, nodes []*run.Node) error {
	if r.ID == "" {
		return errors.New("error creating run: the run has no id")
	}
	seen := make(map[string]bool, len(nodes))
	docs := make([]*nodeDoc, 0, len(nodes))
	for _, n := range nodes {
		if n.RunID != "" && n.RunID != r.ID {
			return fmt.Errorf("error creating run %q: node %q belongs to run %q", r.ID, n.Name, n.RunID)
		}
		if n.Name == "" {
			return fmt.Errorf("error creating run %q: a node has no name", r.ID)
		}
		if seen[n.Name] {
			return fmt.Errorf("error creating run %q: node %q appears twice", r.ID, n.Name)
		}
		seen[n.Name] = true
		docs = append(docs, nodeDocOf(r.ID, n).derive())
	}
	idRef := s.client.Collection(s.runIDsID).Doc(docID(r.ID))
	reservation := &runIDDoc{CreatedAt: micro(r.CreatedAt)}
	runDoc := runDocOf(r, len(nodes))
	if len(docs)+2 <= maxWrites {
		err := s.tx(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
			if err := tx.Create(idRef, reservation); err != nil {
				return err
			}
			for _, d := range docs {
				if err := tx.Create(s.nodeRef(r.ID, d.Name), d); err != nil {
					return err
				}
			}
			return tx.Create(s.runRef(r.ID), runDoc)
		})
		return wrap(ctx, err, "error creating run %q", r.ID)
	}

	if _, err := idRef.Create(ctx, reservation); err != nil {
		return wrap(ctx, err, "error creating run %q", r.ID)
	}
	if err := s.writeNodes(ctx, r.ID, docs); err != nil {
		return wrap(ctx, err, "error creating run %q: writing %d nodes", r.ID, len(docs))
	}
	_, err := s.runRef(r.ID).Create(ctx, runDoc)
	return wrap(ctx, err, "error creating run %q", r.ID)
}

// writeNodes writes node documents outside a transaction, many commits at once.
func (s *Store) writeNodes(ctx context.Context, runID string, docs []*nodeDoc) error {
	bw := s.client.BulkWriter(ctx)
	jobs := make([]*firestore.BulkWriterJob, 0, len(docs))
	for _, d := range docs {
		job, err := bw.Set(s.nodeRef(runID, d.Name), d)
		if err != nil {
			bw.End()
			return err
		}
		jobs = append(jobs, job)
	}
	bw.End()
	var errs []error
	for _, job := range jobs {
		if _, err := job.Results(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RunGet returns a run or ErrNotFound.
func (s *Store) RunGet(ctx context.Context, id string) (*run.Run, error) {
	snap, err := s.runRef(id).Get(ctx)
	if err != nil {
		return nil, wrap(ctx, err, "error loading run %q", id)
	}
	d, err := decodeRun(snap)
	if err != nil {
		return nil, err
	}
	return d.run(), nil
}

// RunList returns runs, newest first (by CreatedAt, then id).
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) ([]*run.Run, error) {
	limit, state := 100, run.RunState("")
	if p != nil {
		state = p.State
		if p.Limit > 0 {
			limit = p.Limit
		}
	}
	base := s.client.Collection(s.runsID).Query
	var q firestore.Query
	if state == "" {
		q = qRunsNewest.on(base)
	} else {
		q = qRunsInStateNewest.on(base, string(state))
	}
	return collect(ctx, q.Limit(limit).Documents(ctx), func(snap *firestore.DocumentSnapshot) (*run.Run, error) {
		d, err := decodeRun(snap)
		if err != nil {
			return nil, err
		}
		return d.run(), nil
	}, "error listing runs")
}

// runningRuns returns the running runs, oldest first (by CreatedAt, then id).
func (s *Store) runningRuns(ctx context.Context) ([]*runDoc, error) {
	q := qRunsInStateNewest.on(s.client.Collection(s.runsID).Query, string(run.RunRunning))
	runs, err := collect(ctx, q.Documents(ctx), decodeRun, "error listing the running runs")
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
		runs[i], runs[j] = runs[j], runs[i]
	}
	return runs, nil
}

// RunFinish moves a running run to a terminal state; ErrConflict if it is not running.
func (s *Store) RunFinish(ctx context.Context, p *store.RunFinishParams) error {
	if !p.State.Terminal() || p.State == "" {
		return fmt.Errorf("error finishing run %q: %q is not a terminal state", p.ID, p.State)
	}
	ref := s.runRef(p.ID)
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		snap, err := ref.Get(ctx)
		if err != nil {
			return nil, err
		}
		d, err := decodeRun(snap)
		if err != nil {
			return nil, err
		}
		if d.State != string(run.RunRunning) {
			return nil, conflict("the run is not running")
		}
		d.State, d.FinishedAt = string(p.State), micro(p.FinishedAt)
		d.Stats, d.Counts = statsDocOf(p.Stats), countsDoc(p.Counts)
		return []casWrite{{ref: ref, readAt: d.readAt, doc: d}}, nil
	})
	return wrap(ctx, err, "error finishing run %q", p.ID)
}

var nonTerminal = []string{string(run.NodePending), string(run.NodeReady), string(run.NodeRunning)}

// errTooBig stops a move whose writes would not fit in one commit; the caller goes on
// in steps.
var errTooBig = errors.New("too many writes for one transaction")

// RunCancel moves a running run to cancelled and its non-terminal nodes to cancelled (they
// count as propagated and lose their lease); ErrConflict if the run is not running.
//
// When the run and those nodes fit one commit they move together. Otherwise the run
// document moves first, and the nodes in further commits of at most
// maxWrites each. Once the run is cancelled nothing can move one of its nodes from a terminal
// state back (claims need a running run; the scheduler only reads running runs), so the nodes
// left non-terminal meanwhile are harmless, and calling RunCancel again (which answers
// ErrConflict) cancels whatever a crash left.
func (s *Store) RunCancel(ctx context.Context, id string, at time.Time) error {
	ref := s.runRef(id)
	at = micro(at)
	var inSteps bool
	err := s.optimistically(ctx, func() ([]casWrite, error) {
		inSteps = false
		snap, err := ref.Get(ctx)
		if err != nil {
			return nil, err
		}
		d, err := decodeRun(snap)
		if err != nil {
			return nil, err
		}
		if d.State != string(run.RunRunning) {
			inSteps = d.State == string(run.RunCancelled)
			return nil, conflict("the run is not running")
		}
		q := qRunNodesInStates.on(s.nodesOf(id).Query, nonTerminal).Limit(maxWrites)
		snaps, err := q.Documents(ctx).GetAll()
		if err != nil {
			return nil, err
		}
		d.State, d.FinishedAt = string(run.RunCancelled), at
		writes := []casWrite{{ref: ref, readAt: d.readAt, doc: d}}
		if len(snaps) >= maxWrites {
			inSteps = true
			return writes, nil
		}
		for _, snap := range snaps {
			n, err := decodeNode(snap)
			if err != nil {
				return nil, err
			}
			writes = append(writes, s.casNode(id, cancelNode(n, at)))
		}
		return writes, nil
	})
	if inSteps {
		if cerr := s.cancelNodes(ctx, id, at); cerr != nil {
			return wrap(ctx, cerr, "error cancelling the nodes of run %q", id)
		}
	}
	return wrap(ctx, err, "error cancelling run %q", id)
}

func cancelNode(n *nodeDoc, at time.Time) *nodeDoc {
	n.State, n.FinishedAt, n.Lease, n.LeaseExpiresAt, n.Propagated = string(run.NodeCancelled), at, "", time.Time{}, true
	return n.derive()
}

// cancelNodes cancels the non-terminal nodes of a cancelled run, maxWrites per commit, until
// none is left.
func (s *Store) cancelNodes(ctx context.Context, runID string, at time.Time) error {
	for {
		var writes []casWrite
		err := s.optimistically(ctx, func() ([]casWrite, error) {
			q := qRunNodesInStates.on(s.nodesOf(runID).Query, nonTerminal).Limit(maxWrites)
			snaps, err := q.Documents(ctx).GetAll()
			if err != nil {
				return nil, err
			}
			writes = nil
			for _, snap := range snaps {
				n, err := decodeNode(snap)
				if err != nil {
					return nil, err
				}
				writes = append(writes, s.casNode(runID, cancelNode(n, at)))
			}
			return writes, nil
		})
		if err != nil || len(writes) == 0 {
			return err
		}
	}
}

// docRefs collects the references an iterator returns (a query with Select() and no fields).
func docRefs(it *firestore.DocumentIterator) ([]*firestore.DocumentRef, error) {
	defer it.Stop()
	var out []*firestore.DocumentRef
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, snap.Ref)
	}
}
