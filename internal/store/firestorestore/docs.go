package firestorestore

import (
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/maestro-sql/maestro/internal/run"
)

// statsDoc is run.Stats as a map field.
type statsDoc struct {
	BytesProcessed int64 `firestore:"bytesProcessed"`
	BytesBilled    int64 `firestore:"bytesBilled"`
	SlotMillis     int64 `firestore:"slotMillis"`
	Rows           int64 `firestore:"rows"`
	CacheHit       bool  `firestore:"cacheHit"`
	DurationMillis int64 `firestore:"durationMillis"`
}

func statsDocOf(s run.Stats) statsDoc {
	return statsDoc{BytesProcessed: s.BytesProcessed, BytesBilled: s.BytesBilled, SlotMillis: s.SlotMillis,
		Rows: s.Rows, CacheHit: s.CacheHit, DurationMillis: s.DurationMillis}
}

func (d statsDoc) stats() run.Stats {
	return run.Stats{BytesProcessed: d.BytesProcessed, BytesBilled: d.BytesBilled, SlotMillis: d.SlotMillis,
		Rows: d.Rows, CacheHit: d.CacheHit, DurationMillis: d.DurationMillis}
}

// runDoc is a run: written when it is created and when it finishes or is cancelled, never
// while its nodes progress.
type runDoc struct {
	ID          string         `firestore:"id"`
	Schedule    string         `firestore:"schedule"`
	Trigger     string         `firestore:"trigger"`
	ResumedFrom string         `firestore:"resumedFrom"`
	State       string         `firestore:"state"`
	MaxParallel int            `firestore:"maxParallel"`
	CreatedBy   string         `firestore:"createdBy"`
	CreatedAt   time.Time      `firestore:"createdAt"`
	FinishedAt  time.Time      `firestore:"finishedAt"`
	Stats       statsDoc       `firestore:"stats"`
	Counts      map[string]int `firestore:"counts"`
	// NodeCount is how many nodes RunCreate wrote, for people reading the console.
	NodeCount int `firestore:"nodeCount"`

	readAt time.Time // see nodeDoc.readAt
}

func runDocOf(r *run.Run, nodes int) *runDoc {
	d := &runDoc{ID: r.ID, Schedule: r.Schedule, Trigger: string(r.Trigger), ResumedFrom: r.ResumedFrom,
		State: string(r.State), MaxParallel: r.MaxParallel, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt,
		FinishedAt: r.FinishedAt, Stats: statsDocOf(r.Stats), Counts: countsDoc(r.Counts), NodeCount: nodes}
	d.CreatedAt, d.FinishedAt = micro(d.CreatedAt), micro(d.FinishedAt)
	return d
}

func countsDoc(c map[run.NodeState]int) map[string]int {
	if c == nil {
		return nil
	}
	out := make(map[string]int, len(c))
	for k, v := range c {
		out[string(k)] = v
	}
	return out
}

func (d *runDoc) run() *run.Run {
	r := &run.Run{ID: d.ID, Schedule: d.Schedule, Trigger: run.Trigger(d.Trigger), ResumedFrom: d.ResumedFrom,
		State: run.RunState(d.State), MaxParallel: d.MaxParallel, CreatedBy: d.CreatedBy,
		CreatedAt: utc(d.CreatedAt), FinishedAt: utc(d.FinishedAt), Stats: d.Stats.stats()}
	if d.Counts != nil {
		r.Counts = make(map[run.NodeState]int, len(d.Counts))
		for k, v := range d.Counts {
			r.Counts[run.NodeState(k)] = v
		}
	}
	return r
}

func decodeRun(snap *firestore.DocumentSnapshot) (*runDoc, error) {
	var d runDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("error decoding run %q: %w", snap.Ref.ID, err)
	}
	d.readAt = snap.UpdateTime
	return &d, nil
}

// nodeDoc is a node. Besides run.Node's fields it keeps the upstream nodes already counted
// (so that counting a success downstream is idempotent, whichever transaction does it) and
// when the last of them finished, and two flags derived from the state, which the scheduler's
// queries filter on.
type nodeDoc struct {
	RunID           string   `firestore:"runId"`
	Name            string   `firestore:"name"`
	Kind            string   `firestore:"kind"`
	State           string   `firestore:"state"`
	Attempt         int      `firestore:"attempt"`
	MaxAttempts     int      `firestore:"maxAttempts"`
	Upstream        []string `firestore:"upstream"`
	Downstream      []string `firestore:"downstream"`
	PendingUpstream int      `firestore:"pendingUpstream"`
	Depth           int      `firestore:"depth"`
	CountedUpstream []string `firestore:"countedUpstream"`
	// UpstreamFinishedAt is the latest FinishedAt of the upstream nodes in CountedUpstream: a
	// handoff starts the node no earlier (see handoff.claim).
	UpstreamFinishedAt time.Time `firestore:"upstreamFinishedAt"`
	NotBefore          time.Time `firestore:"notBefore"`
	DispatchedAt       time.Time `firestore:"dispatchedAt"`
	Lease              string    `firestore:"lease"`
	LeaseExpiresAt     time.Time `firestore:"leaseExpiresAt"`
	Propagated         bool      `firestore:"propagated"`
	JobID              string    `firestore:"jobId"`
	Stats              statsDoc  `firestore:"stats"`
	Error              string    `firestore:"error"`
	StartedAt          time.Time `firestore:"startedAt"`
	FinishedAt         time.Time `firestore:"finishedAt"`
	// Busy: running, or ready and dispatched; counts against MaxParallel and the global limit.
	Busy bool `firestore:"busy"`
	// Todo: ready and not dispatched; a dispatch candidate.
	Todo bool `firestore:"todo"`

	// readAt is when the document read was last written: the precondition of an optimistic
	// write of it (see Store.optimistically). Not stored.
	readAt time.Time
}

func nodeDocOf(runID string, n *run.Node) *nodeDoc {
	return &nodeDoc{RunID: runID, Name: n.Name, Kind: n.Kind, State: string(n.State), Attempt: n.Attempt,
		MaxAttempts: n.MaxAttempts, Upstream: n.Upstream, Downstream: n.Downstream,
		PendingUpstream: n.PendingUpstream, Depth: n.Depth, NotBefore: n.NotBefore, DispatchedAt: n.DispatchedAt, Lease: n.Lease,
		LeaseExpiresAt: n.LeaseExpiresAt, Propagated: n.Propagated, JobID: n.JobID, Stats: statsDocOf(n.Stats),
		Error: n.Error, StartedAt: n.StartedAt, FinishedAt: n.FinishedAt}
}

func (d *nodeDoc) node() *run.Node {
	return &run.Node{RunID: d.RunID, Name: d.Name, Kind: d.Kind, State: run.NodeState(d.State), Attempt: d.Attempt,
		MaxAttempts: d.MaxAttempts, Upstream: d.Upstream, Downstream: d.Downstream,
		PendingUpstream: d.PendingUpstream, Depth: d.Depth, NotBefore: utc(d.NotBefore), DispatchedAt: utc(d.DispatchedAt),
		Lease: d.Lease, LeaseExpiresAt: utc(d.LeaseExpiresAt), Propagated: d.Propagated, JobID: d.JobID,
		Stats: d.Stats.stats(), Error: d.Error, StartedAt: utc(d.StartedAt), FinishedAt: utc(d.FinishedAt)}
}

func (d *nodeDoc) state() run.NodeState { return run.NodeState(d.State) }

// derive sets the flags the queries use from the state, and cuts times to the microseconds
// Firestore keeps (so a node returned by a write equals the node read back); every write of a
// node calls it.
func (d *nodeDoc) derive() *nodeDoc {
	times := []*time.Time{&d.NotBefore, &d.DispatchedAt, &d.LeaseExpiresAt, &d.StartedAt, &d.FinishedAt,
		&d.UpstreamFinishedAt}
	for _, t := range times {
		*t = micro(*t)
	}
	d.Busy = d.State == string(run.NodeRunning) || (d.State == string(run.NodeReady) && !d.DispatchedAt.IsZero())
	d.Todo = d.State == string(run.NodeReady) && d.DispatchedAt.IsZero()
	return d
}

// counted reports whether the success of upstream node up was counted already.
func (d *nodeDoc) counted(up string) bool { return slices.Contains(d.CountedUpstream, up) }

func decodeNode(snap *firestore.DocumentSnapshot) (*nodeDoc, error) {
	var d nodeDoc
	if err := snap.DataTo(&d); err != nil {
		return nil, fmt.Errorf("error decoding node %q: %w", snap.Ref.Path, err)
	}
	d.readAt = snap.UpdateTime
	return &d, nil
}
