// Package store defines where Maestro keeps its truth: definitions with their revisions, and
// runs with their nodes. Every state move is a compare-and-set inside a transaction, so a
// duplicated, late or replayed message changes nothing.
//
// Implementations: sqlitestore (embedded) and firestorestore (Google Cloud Firestore). Both pass storetest.Run.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
)

var (
	// ErrNotFound: the named thing does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a compare-and-set lost (the state, attempt, lease or revision was not the
	// expected one), or a create found the thing already there.
	ErrConflict = errors.New("conflict")
)

// Store is the whole store. Implementations are safe for concurrent use.
type Store interface {
	// TablePut saves a definition as a new revision. See TablePutParams for the checks.
	TablePut(ctx context.Context, p *TablePutParams) (*TableRecord, error)
	// TableGet returns the current revision, or ErrNotFound.
	TableGet(ctx context.Context, name string) (*TableRecord, error)
	// TableList returns every table's current revision, ordered by name.
	TableList(ctx context.Context) ([]*TableRecord, error)
	// TableDelete removes a table (its revisions stay readable through TableRevisions).
	// It records a revision with Deleted set; ErrNotFound if the table does not exist. A table
	// created again after a deletion continues the same revision numbers.
	TableDelete(ctx context.Context, name, user string) error
	// TableRevisions returns every revision of a table, oldest first (including a deletion,
	// which has Deleted set). ErrNotFound if the table was never saved.
	TableRevisions(ctx context.Context, name string) ([]*TableRecord, error)

	// SchedulePut creates or replaces a schedule, keeping its LastFiredAt.
	SchedulePut(ctx context.Context, s spec.Schedule) error
	ScheduleList(ctx context.Context) ([]*ScheduleRecord, error)
	// ScheduleFire moves LastFiredAt from prev to at; ErrConflict if LastFiredAt is not prev
	// (another scheduler fired it), so a due schedule starts one run.
	ScheduleFire(ctx context.Context, name string, prev, at time.Time) error
	// ScheduleDelete removes a schedule; ErrNotFound if it does not exist.
	ScheduleDelete(ctx context.Context, name string) error

	ConnectionPut(ctx context.Context, c spec.Connection) error
	ConnectionList(ctx context.Context) ([]spec.Connection, error)

	UserPut(ctx context.Context, u User) error
	UserGet(ctx context.Context, email string) (*User, error)

	// The API's users, connections and tokens (see tokens.go).
	AccessStore

	// Replay guards, mutes and trigger URLs (see inbound.go).
	InboundStore

	// RunCreate stores a run and all of its nodes at once. ErrConflict if the id exists.
	RunCreate(ctx context.Context, r *run.Run, nodes []*run.Node) error
	// RunGet returns a run or ErrNotFound.
	RunGet(ctx context.Context, id string) (*run.Run, error)
	// RunList returns runs, newest first.
	RunList(ctx context.Context, p *RunListParams) ([]*run.Run, error)
	// RunFinish moves a running run to a terminal state with its summed stats; ErrConflict if it
	// is not running any more (it finished already), so a run finishes exactly once.
	RunFinish(ctx context.Context, p *RunFinishParams) error
	// RunCancel moves a running run to cancelled and every non-terminal node to cancelled, in one
	// transaction. ErrConflict if the run is not running. The cancelled nodes count as
	// propagated and lose their lease.
	RunCancel(ctx context.Context, id string, at time.Time) error

	// NodeGet returns a node or ErrNotFound.
	NodeGet(ctx context.Context, runID, name string) (*run.Node, error)
	// NodeList returns a run's nodes ordered by name.
	NodeList(ctx context.Context, runID string) ([]*run.Node, error)

	// NodeClaim moves a node from ready to running if it is ready with p.Attempt and its run is
	// running, recording the lease. ErrConflict otherwise (claimed already, cancelled, ...).
	NodeClaim(ctx context.Context, p *NodeClaimParams) (*run.Node, error)
	// NodeHeartbeat extends a running node's lease; ErrConflict if the node is no longer running
	// under p.Lease (the sweeper reclaimed it, or the run was cancelled).
	NodeHeartbeat(ctx context.Context, p *NodeHeartbeatParams) error
	// NodeRecordOutcome records how a running attempt ended, if the node is still running under
	// p.Lease and p.Attempt: succeeded, failed (final), or ready with Attempt+1 for a retry after
	// p.NotBefore. ErrConflict otherwise. p.Stats are added to the node's Stats, so a retried
	// node's cost counts every attempt (CacheHit is the last attempt's). The lease is released.
	NodeRecordOutcome(ctx context.Context, p *NodeRecordOutcomeParams) (*run.Node, error)
	// NodeFinish is NodeRecordOutcome followed, when the outcome is terminal, by NodePropagate,
	// in one transaction: the worker that ran a node unlocks its downstream itself, which halves
	// the writes per node and takes a queue hop off the critical path. The result is empty for a
	// retry. ErrConflict (and nothing changed) as for NodeRecordOutcome.
	//
	// With p.Handoff and a success that made downstream nodes ready, the first of them by name
	// is claimed for the caller in the same transaction (see Handoff) and returned as Claimed,
	// not in Ready.
	NodeFinish(ctx context.Context, p *NodeRecordOutcomeParams) (*run.Node, *PropagateResult, error)
	// NodeReclaim returns a running node whose lease expired to ready with the same attempt (it
	// re-attaches to the same warehouse job), undispatched. ErrConflict if it is no longer
	// running under p.Lease.
	NodeReclaim(ctx context.Context, p *NodeReclaimParams) error
	// NodePropagate applies a terminal, unpropagated node's outcome to its run, in one
	// transaction: on success each downstream node's PendingUpstream drops by one and those at
	// zero become ready (undispatched); on failed, skipped or cancelled every pending node
	// downstream of it, transitively, becomes skipped. It marks the node propagated. A node that
	// is not terminal or already propagated changes nothing (the result is empty, no error).
	// RunDone reports that no node of the run is left unfinished (all terminal and propagated).
	// Nodes it skips count as propagated (their downstream was skipped in the same walk) and
	// take the FinishedAt of the node that failed. Ready and Skipped are sorted by name.
	NodePropagate(ctx context.Context, runID, name string) (*PropagateResult, error)
	// NodesDispatch picks ready, undispatched nodes of running runs whose NotBefore has passed,
	// within each run's MaxParallel and p.GlobalLimit (counting running nodes and dispatched
	// ready ones), marks them dispatched at p.Now and returns them, oldest run first (by
	// CreatedAt), in DispatchesBefore order within a run: when the limits leave room for only
	// some, those are the ones picked. A store may order nodes equally deep that became ready
	// at different times otherwise (the embedded store takes the last to become ready first);
	// nodes that became ready together go by name. A run with more busy nodes than MaxParallel
	// (a worker claimed an undispatched node) gets none.
	NodesDispatch(ctx context.Context, p *NodesDispatchParams) ([]*run.Node, error)
	// NodeRedispatch stamps a ready node's DispatchedAt with p.Now before its task is published
	// again, if it is still ready with p.Attempt and was dispatched at p.DispatchedAt: of several
	// sweepers one republishes, and the next sweep waits a whole threshold again. ErrConflict
	// if the node moved on (claimed, cancelled, redispatched by another sweeper).
	NodeRedispatch(ctx context.Context, p *NodeRedispatchParams) error
	// NodesStale finds nodes the sweeper must act on (see StaleNodes).
	NodesStale(ctx context.Context, p *NodesStaleParams) (*StaleNodes, error)

	// DeliveryRecord keeps one callback delivery attempt (see Delivery). Recording the same
	// attempt again (run, delivery id, attempt number and start time) changes nothing.
	DeliveryRecord(ctx context.Context, d *Delivery) error
	// DeliveryList returns a run's delivery attempts ordered by start time, then delivery id,
	// then attempt number; none (and no error) for a run without any, or an unknown run.
	DeliveryList(ctx context.Context, runID string) ([]*Delivery, error)

	// Slack threads of failing tables (internal/notify): each failure is told once, and a
	// table failing again before it succeeds replies in the first failure's thread.

	// NotifyThreadClaim records that the failure of table in runID is being told in channel,
	// creating the thread record if there is none, and returns the thread as it was (TS empty
	// if no message started it yet). ErrConflict if that run's failure was claimed already.
	NotifyThreadClaim(ctx context.Context, p *NotifyThreadClaimParams) (*NotifyThread, error)
	// NotifyThreadSetTS records the message that starts a thread, if the thread has none yet
	// (a thread keeps its first message). ErrNotFound if there is no such thread.
	NotifyThreadSetTS(ctx context.Context, table, channel, ts string) error
	// NotifyThreadList returns every open thread, ordered by table then channel.
	NotifyThreadList(ctx context.Context) ([]*NotifyThread, error)
	// NotifyThreadDelete closes a thread (its table succeeded); closing none is no error.
	NotifyThreadDelete(ctx context.Context, table, channel string) error

	// Close releases resources.
	Close() error
}

// NotifyThread is the Slack thread of a table's consecutive failures in one channel.
type NotifyThread struct {
	Table   string
	Channel string
	// TS is the Slack timestamp of the thread's first message; empty until it is posted.
	TS string
	// RunID is the run whose failure was told last.
	RunID     string
	UpdatedAt time.Time
}

// NotifyThreadClaimParams claims the telling of one failure.
type NotifyThreadClaimParams struct {
	Table   string
	Channel string
	RunID   string
	Now     time.Time
}

// TablePutParams saves a definition.
type TablePutParams struct {
	Table spec.Table
	// User is who makes the change (recorded as UpdatedBy, and CreatedBy on creation).
	User    string
	Message string
	// Create requires that the table does not exist (ErrConflict if it does).
	Create bool
	// IfRevision, when non-zero, requires the current revision to be this one (ErrConflict
	// otherwise): two people editing one table cannot overwrite each other.
	IfRevision int
}

// TableRecord is one revision of a table definition.
type TableRecord struct {
	Table     spec.Table
	Revision  int
	Deleted   bool
	Message   string
	CreatedBy string
	CreatedAt time.Time
	UpdatedBy string
	UpdatedAt time.Time
}

// ScheduleRecord is a schedule with its firing state.
type ScheduleRecord struct {
	Schedule    spec.Schedule
	LastFiredAt time.Time // zero if it never fired
}

// User is a person or service that uses Maestro.
type User struct {
	Email string
	Name  string
	Role  string // viewer, editor, admin
	Group string
}

// RunListParams filters RunList.
type RunListParams struct {
	State run.RunState // empty: any
	Limit int          // 0: 100
}

// RunFinishParams finishes a run.
type RunFinishParams struct {
	ID         string
	State      run.RunState
	FinishedAt time.Time
	Stats      run.Stats
	Counts     map[run.NodeState]int
}

// NodeClaimParams claims a ready node.
type NodeClaimParams struct {
	RunID          string
	Name           string
	Attempt        int
	Lease          string
	LeaseExpiresAt time.Time
	JobID          string
	Now            time.Time
}

// NodeHeartbeatParams extends a lease.
type NodeHeartbeatParams struct {
	RunID          string
	Name           string
	Attempt        int
	Lease          string
	LeaseExpiresAt time.Time
}

// NodeRecordOutcomeParams records how an attempt ended.
type NodeRecordOutcomeParams struct {
	RunID   string
	Name    string
	Attempt int
	Lease   string
	// State is NodeSucceeded, NodeFailed, or NodeReady (retry: Attempt+1 after NotBefore).
	State     run.NodeState
	Stats     run.Stats
	Error     string
	Now       time.Time
	NotBefore time.Time
	// Handoff, with NodeFinish only, claims a node the success unlocked for the caller.
	Handoff *Handoff
}

// Handoff passes a finishing node's place to one downstream node it made ready: that node
// moves straight to running (attempt unchanged, JobID run.JobID of its attempt) under Lease, in
// the same transaction as the finish. It is dispatched and started at Now, or at the latest
// FinishedAt of its upstream nodes if that is later: finishes that raced commit in any order
// of their clocks, and a node never starts before an upstream node finished. One running
// node ends and one starts in the same run, so no concurrency limit (global or the run's
// MaxParallel) can be exceeded, and no count needs reading. The caller runs it as if it had
// claimed it from a task.
type Handoff struct {
	Lease          string
	LeaseExpiresAt time.Time
}

// NodeReclaimParams reclaims an expired lease.
type NodeReclaimParams struct {
	RunID   string
	Name    string
	Attempt int
	Lease   string
}

// NodeRedispatchParams stamps a lost task's node before it is published again.
type NodeRedispatchParams struct {
	RunID        string
	Name         string
	Attempt      int
	DispatchedAt time.Time
	Now          time.Time
}

// PropagateResult says what a propagation changed.
type PropagateResult struct {
	// Ready are the downstream nodes that became ready (undispatched).
	Ready []string
	// Skipped are the nodes that became skipped.
	Skipped []string
	// RunDone: no node of the run is left unfinished.
	RunDone bool
	// Claimed is the node NodeFinish claimed under its Handoff, nil if none.
	Claimed *run.Node
}

// DispatchesBefore is the order in which a run's ready nodes are dispatched: deepest first (see
// run.Node.Depth), then by name.
func DispatchesBefore(a, b *run.Node) bool {
	if a.Depth != b.Depth {
		return a.Depth > b.Depth
	}
	return a.Name < b.Name
}

// NodesDispatchParams bounds a dispatch.
type NodesDispatchParams struct {
	Now time.Time
	// GlobalLimit bounds running plus dispatched-ready nodes across all runs; 0: no bound.
	GlobalLimit int
	// Max bounds how many nodes one call returns; 0: no bound.
	Max int
}

// NodesStaleParams says what counts as stale.
type NodesStaleParams struct {
	Now time.Time
	// DispatchedBefore: ready nodes dispatched before this were probably lost in the queue.
	DispatchedBefore time.Time
	// FinishedBefore: terminal nodes finished before this and still unpropagated lost their
	// completion message.
	FinishedBefore time.Time
	Limit          int // per list; 0: 1000
}

// StaleNodes are the nodes the sweeper repairs, only from running runs.
type StaleNodes struct {
	// ExpiredLeases: running nodes whose LeaseExpiresAt is before Now.
	ExpiredLeases []*run.Node
	// Undelivered: ready nodes dispatched before DispatchedBefore and not claimed since.
	Undelivered []*run.Node
	// Unpropagated: terminal nodes finished before FinishedBefore and not propagated.
	Unpropagated []*run.Node
	// Done: running runs whose every node is terminal and propagated (their finish was lost).
	Done []string
}

// Delivery is one attempt at delivering a callback, kept so a user can see why a receiver was
// not told. It never holds the signing secret or the signature.
type Delivery struct {
	RunID string
	// Table is the table whose export the callback announced.
	Table string
	// DeliveryID is the callback's id, the same on every attempt of one delivery.
	DeliveryID string
	// URL is where it was sent, without the query string (it may hold a receiver's token).
	URL   string
	Event string
	// Attempt is 1 for the first try.
	Attempt  int
	Started  time.Time
	Duration time.Duration
	// StatusCode is the HTTP status answered; 0 when no response arrived.
	StatusCode int
	// Error is why the attempt failed; empty on success.
	Error string
}

// DeliveryRecorder is the part of a Store that keeps callback delivery attempts.
type DeliveryRecorder interface {
	DeliveryRecord(ctx context.Context, d *Delivery) error
}

// AttemptRecorder records each attempt a callback client makes as a Delivery in st: how export
// callbacks and webhooks leave a trace a user can read.
func AttemptRecorder(st DeliveryRecorder) callback.Recorder {
	return callback.RecorderFunc(func(ctx context.Context, a callback.Attempt) error {
		d := &Delivery{RunID: a.RunID, Table: a.Table, DeliveryID: a.DeliveryID, URL: a.URL, Event: a.Event,
			Attempt: a.Number, Started: a.Started, Duration: a.Duration, StatusCode: a.StatusCode}
		if a.Err != nil {
			d.Error = a.Err.Error()
		}
		// Recorded even when the send is being cancelled: the attempt happened.
		return st.DeliveryRecord(context.WithoutCancel(ctx), d)
	})
}
