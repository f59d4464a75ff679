// Package run holds the state of pipeline runs: a Run and its Nodes, their states, and the
// rules for which state may follow which. It is pure: stores apply these rules by
// compare-and-set in a transaction.
package run

import (
	"time"
)

// RunState is the state of a whole run.
type RunState string

const (
	// RunRunning: set by the scheduler when it creates the run. Left only by RunFinish/RunCancel.
	RunRunning RunState = "running"
	// RunSucceeded: set by the scheduler's completion handler when the last node succeeded.
	RunSucceeded RunState = "succeeded"
	// RunFailed: set by the completion handler when every node is terminal and one failed or was skipped.
	RunFailed RunState = "failed"
	// RunCancelled: set by a user's cancel; its unfinished nodes become NodeCancelled.
	RunCancelled RunState = "cancelled"
)

// Terminal reports whether the run is over.
func (s RunState) Terminal() bool { return s != RunRunning }

// NodeState is the state of one table within a run.
type NodeState string

const (
	// NodePending: created by the scheduler; waits for PendingUpstream to reach zero.
	NodePending NodeState = "pending"
	// NodeReady: set by the scheduler (run creation, upstream completion, retry, lease reclaim);
	// a task message is (or will be) published for it. Left by a worker's claim.
	NodeReady NodeState = "ready"
	// NodeRunning: set by the worker that claimed it; it holds the lease until it records the
	// outcome or the lease expires and the sweeper returns the node to NodeReady.
	NodeRunning NodeState = "running"
	// NodeSucceeded: set by the worker that ran it.
	NodeSucceeded NodeState = "succeeded"
	// NodeFailed: set by the worker when the last allowed attempt failed, or the error was permanent.
	NodeFailed NodeState = "failed"
	// NodeSkipped: set by the scheduler's completion handler when an upstream node failed or was skipped.
	NodeSkipped NodeState = "skipped"
	// NodeCancelled: set when a user cancels the run.
	NodeCancelled NodeState = "cancelled"
)

// Terminal reports whether a node in this state will not run again in this run.
func (s NodeState) Terminal() bool {
	switch s {
	case NodeSucceeded, NodeFailed, NodeSkipped, NodeCancelled:
		return true
	}
	return false
}

// CanMove reports whether a node may move from one state to another. State only moves forward;
// the one way back is running → ready, for a retry (a new attempt) or a reclaimed lease (the same
// attempt, which re-attaches to the same warehouse job).
func CanMove(from, to NodeState) bool {
	switch from {
	case NodePending:
		return to == NodeReady || to == NodeSkipped || to == NodeCancelled
	case NodeReady:
		return to == NodeRunning || to == NodeCancelled
	case NodeRunning:
		return to == NodeSucceeded || to == NodeFailed || to == NodeReady || to == NodeCancelled
	}
	return false
}

// Trigger says why a run exists.
type Trigger string

const (
	TriggerSchedule Trigger = "schedule" // a schedule fell due
	TriggerManual   Trigger = "manual"   // a user asked for a schedule, a table, or a table and downstream
	TriggerResume   Trigger = "resume"   // re-runs the failed and skipped nodes of an earlier run
	TriggerSlack    Trigger = "slack"    // a Slack button or slash command (CreatedBy names the Slack user)
	TriggerWebhook  Trigger = "webhook"  // another system called a trigger URL (CreatedBy names the trigger and address)
)

// Stats are the warehouse statistics of one job, and their sums for a run.
type Stats struct {
	BytesProcessed int64 `json:"bytes_processed"`
	BytesBilled    int64 `json:"bytes_billed"`
	SlotMillis     int64 `json:"slot_ms"`
	Rows           int64 `json:"rows"`
	CacheHit       bool  `json:"cache_hit,omitempty"`
	DurationMillis int64 `json:"duration_ms"`
}

// Add sums other into s.
func (s *Stats) Add(other Stats) {
	s.BytesProcessed += other.BytesProcessed
	s.BytesBilled += other.BytesBilled
	s.SlotMillis += other.SlotMillis
	s.Rows += other.Rows
	s.DurationMillis += other.DurationMillis
}

// Run is one execution of a set of tables.
type Run struct {
	ID          string
	Schedule    string // schedule name, empty for a manual run of tables
	Trigger     Trigger
	ResumedFrom string // the run a resume run continues, else empty
	State       RunState
	// MaxParallel bounds the nodes of this run dispatched or running at once; 0 means no bound.
	MaxParallel int
	CreatedBy   string
	CreatedAt   time.Time
	FinishedAt  time.Time // zero until finished
	Stats       Stats     // summed over nodes when the run finishes
	// Counts of nodes by final state, filled when the run finishes.
	Counts map[NodeState]int
}

// Node is one table within a run.
type Node struct {
	RunID string
	Name  string // the table, "dataset.table"
	Kind  string // "query"; extract and export kinds come later
	State NodeState
	// Attempt is the attempt that is ready, running, or ended; it starts at 1.
	Attempt     int
	MaxAttempts int
	// Upstream are the nodes of this run this node waits for; Downstream those that wait for it.
	Upstream   []string
	Downstream []string
	// PendingUpstream counts upstream nodes that have not succeeded yet.
	PendingUpstream int
	// Depth is the length of the longest chain of upstream nodes within the run (0 for a node
	// with none). Ready nodes are dispatched deepest first: a run finishes the lineages it has
	// started before it opens new ones, so its final tables land sooner and nodes that just
	// became ready do not queue behind every shallower node of a wide graph.
	Depth int
	// NotBefore delays a retry (backoff): a ready node is not dispatched before it.
	NotBefore time.Time
	// Dispatched is set when a task message was published for the current ready attempt.
	DispatchedAt time.Time
	// Lease names the claim of the worker running the node; it guards every write by that worker.
	Lease          string
	LeaseExpiresAt time.Time
	// Propagated is set once the scheduler has applied this terminal node's outcome downstream.
	Propagated bool
	JobID      string
	Stats      Stats
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
}

// JobID derives the warehouse job id of one attempt of one node of one run, so that a
// redelivered task attaches to the job already submitted instead of running it again.
// It uses only characters BigQuery accepts in job ids (letters, digits, _ and -).
func JobID(runID, node string, attempt int) string {
	b := make([]byte, 0, len(runID)+len(node)+24)
	b = append(b, "maestro_"...)
	b = appendSafe(b, runID)
	b = append(b, '_')
	b = appendSafe(b, node)
	b = append(b, "_a"...)
	b = appendInt(b, attempt)
	return string(b)
}

func appendSafe(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			b = append(b, c)
		default:
			b = append(b, '-')
		}
	}
	return b
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
