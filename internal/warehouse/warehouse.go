// Package warehouse runs SQL into tables: BigQuery in production, DuckDB embedded.
//
// Jobs carry a caller-supplied id derived from (run, node, attempt): submitting a job id that
// exists already attaches to that job and returns its outcome instead of running the SQL again.
// Implementations pass warehousetest.Run.
package warehouse

import (
	"context"
	"errors"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
)

var (
	// ErrNotFound: the table does not exist.
	ErrNotFound = errors.New("not found")
)

// JobError is a job that ran and failed. Retryable says whether running the same SQL again
// may succeed (rate limits, backend errors) or not (invalid SQL, a missing table).
type JobError struct {
	JobID     string
	Reason    string
	Message   string
	Retryable bool
}

func (e *JobError) Error() string {
	return "job " + e.JobID + " failed: " + e.Reason + ": " + e.Message
}

// QueryJob runs a query into a destination table.
type QueryJob struct {
	// JobID identifies the job; submitting an existing id attaches to it.
	JobID string
	// SQL is GoogleSQL, as the user wrote it.
	SQL string
	// Destination is the table written. Fully qualified.
	Destination sqlref.TableName
	Disposition spec.Disposition
	PartitionBy string
	ClusterBy   []string
	// Labels are attached to the job (run, table, owner).
	Labels map[string]string
	// DefaultProject and DefaultDataset resolve partial table names in SQL.
	DefaultProject string
	DefaultDataset string
}

// Table describes an existing table.
type Table struct {
	Name     sqlref.TableName
	Rows     int64
	Bytes    int64
	Columns  []Column
	Modified time.Time
}

// Column is one column of a table.
type Column struct {
	Name string
	Type string
}

// Warehouse is a SQL warehouse. Implementations are safe for concurrent use.
type Warehouse interface {
	// Query runs job (or attaches to the job with its id) and waits for it. A failed job returns
	// a *JobError; other errors mean the outcome is unknown and the call may be repeated.
	Query(ctx context.Context, job *QueryJob) (run.Stats, error)
	// Table returns a table's metadata or ErrNotFound.
	Table(ctx context.Context, name sqlref.TableName) (*Table, error)
	// Close releases resources.
	Close() error
}
