package callback

import "time"

// EventExportCompleted is the Payload.Event of a callback sent when an export's files are ready.
const EventExportCompleted = "export.completed"

// The events of webhooks (internal/notify): Payload.Run describes the run, and for
// EventTableFailed Payload.Table and Payload.Node the table.
const (
	EventRunStarted  = "run.started"
	EventRunFinished = "run.finished" // every node succeeded
	EventRunFailed   = "run.failed"   // a node failed, or the run was cancelled
	EventTableFailed = "table.failed" // a table failed for good (its retries spent)
	// EventTableCostJump: a table's run cost more than a multiple of its recent median.
	EventTableCostJump = "table.cost_jump"
)

// WebhookEvents are the events a webhook may subscribe to.
var WebhookEvents = []string{EventRunStarted, EventRunFinished, EventRunFailed, EventTableFailed, EventTableCostJump}

// Payload is the JSON body of a callback.
type Payload struct {
	// ID identifies this callback; every retry of it carries the same ID, so a receiver that has
	// seen it before can ignore the repeat. It is also sent as the Maestro-Delivery header.
	ID string `json:"id"`
	// Event says what happened, e.g. EventExportCompleted.
	Event string `json:"event"`
	// RunID is the run that produced the table.
	RunID string `json:"run_id"`
	// Table is the table exported, as the user names it (e.g. "analytics.daily_orders").
	Table string `json:"table"`
	// Files are the exported files, in shard order.
	Files []File `json:"files"`
	// Schema lists the exported columns in file order.
	Schema []Column `json:"schema"`
	// RowCount is the number of rows exported, over all files.
	RowCount int64 `json:"row_count"`
	// Time is when the export finished, or the run event happened.
	Time time.Time `json:"time"`
	// Run describes the run of a run or table event; nil for exports.
	Run *RunInfo `json:"run,omitempty"`
	// Node describes the failed table of a table.failed event.
	Node *NodeInfo `json:"node,omitempty"`
	// Cost describes the jump of a table.cost_jump event.
	Cost *CostInfo `json:"cost,omitempty"`
}

// CostInfo is a table's cost in a run against its recent median, in USD.
type CostInfo struct {
	USD       float64 `json:"usd"`
	MedianUSD float64 `json:"median_usd"`
	// Runs is how many earlier successful runs the median is over.
	Runs int `json:"runs"`
}

// RunInfo is a run as webhooks describe it.
type RunInfo struct {
	State    string `json:"state"`
	Schedule string `json:"schedule,omitempty"`
	Trigger  string `json:"trigger"`
	// ResumedFrom is the run a resume continues.
	ResumedFrom string    `json:"resumed_from,omitempty"`
	CreatedBy   string    `json:"created_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	FinishedAt  time.Time `json:"finished_at,omitzero"`
	// Counts are the nodes by final state, once the run finished.
	Counts map[string]int `json:"counts,omitempty"`
	// Failed lists the tables that failed, once the run finished.
	Failed      []string `json:"failed,omitempty"`
	BytesBilled int64    `json:"bytes_billed,omitempty"`
	SlotMillis  int64    `json:"slot_ms,omitempty"`
}

// NodeInfo is a failed table of a run.
type NodeInfo struct {
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"`
	JobID       string `json:"job_id,omitempty"`
	Error       string `json:"error"`
	Owner       string `json:"owner,omitempty"`
}

// File is one exported file.
type File struct {
	// URL downloads the file; usually a signed URL that stops working at ExpiresAt.
	URL string `json:"url"`
	// ExpiresAt is when URL stops working; zero when it does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Column is one column of the exported table.
type Column struct {
	Name string `json:"name"`
	// Type is the warehouse type name, e.g. "INT64", "STRING", "TIMESTAMP".
	Type string `json:"type"`
	// Mode is "NULLABLE", "REQUIRED" or "REPEATED"; empty means NULLABLE.
	Mode string `json:"mode,omitempty"`
}
