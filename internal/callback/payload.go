package callback

import "time"

// EventExportCompleted is the Payload.Event of a callback sent when an export's files are ready.
const EventExportCompleted = "export.completed"

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
	// Time is when the export finished.
	Time time.Time `json:"time"`
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
