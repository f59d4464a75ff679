// Package warehouse runs SQL into tables: BigQuery in production, DuckDB embedded.
//
// Jobs carry a caller-supplied id derived from (run, node, attempt): submitting a job id that
// exists already attaches to that job and returns its outcome instead of running the SQL again.
// Implementations pass warehousetest.Run.
package warehouse

import (
	"context"
	"errors"
	"fmt"
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

// DryRun is what a warehouse learns about a query without running it.
type DryRun struct {
	// BytesProcessed is the estimate of the bytes the query would read.
	BytesProcessed int64
	// ReferencedTables are the tables the query reads, sorted.
	ReferencedTables []sqlref.TableName
}

// DryRunner validates and prices queries without running them. Not every Warehouse is one;
// callers find out by type assertion.
type DryRunner interface {
	// DryRun checks job's SQL (JobID, Destination and Disposition are ignored). SQL that would
	// fail returns a *JobError; other errors mean the answer is unknown.
	DryRun(ctx context.Context, job *QueryJob) (*DryRun, error)
}

// FileFormat is the format of files loaded into or extracted from a warehouse.
type FileFormat string

const (
	// FormatCSV is comma-separated values.
	FormatCSV FileFormat = "csv"
	// FormatJSON is newline-delimited JSON: one object per line.
	FormatJSON FileFormat = "json"
	// FormatParquet is Apache Parquet. BigQuery extracts to it too, but bigquerywarehouse refuses it
	// for now; duckdbwarehouse loads and extracts it.
	FormatParquet FileFormat = "parquet"
)

// Compression is the compression of extracted files.
type Compression string

const (
	// CompressionNone writes plain files. The default.
	CompressionNone Compression = ""
	// CompressionGzip gzips each file.
	CompressionGzip Compression = "gzip"
)

// LoadJob loads files from object storage into a table.
type LoadJob struct {
	// JobID identifies the job; submitting an existing id attaches to it.
	JobID string
	// SourceURIs are the files, as gs://bucket/path URIs; each may hold one * wildcard.
	SourceURIs []string
	Format     FileFormat
	// Destination is the table written. Fully qualified.
	Destination sqlref.TableName
	Disposition spec.Disposition
	// Schema gives the columns of CSV and JSON files; nil means detect them from the data.
	// Parquet files carry their own schema.
	Schema []Column
	// SkipLeadingRows skips header rows of CSV files.
	SkipLeadingRows int64
	PartitionBy     string
	ClusterBy       []string
	Labels          map[string]string
	// AllowFieldAddition, when appending, adds to the destination the columns of the files it
	// lacks (NULL in the rows already there) instead of failing: BigQuery's ALLOW_FIELD_ADDITION.
	// Columns are never removed or retyped.
	AllowFieldAddition bool
}

// Check returns a *JobError (reason "invalid") naming what makes job unrunnable on any
// backend: no id, a destination that is not a table path, no source.
func (job *LoadJob) Check() error {
	if job == nil || job.JobID == "" {
		return &JobError{Reason: "invalid", Message: "a job needs an id"}
	}
	d := job.Destination
	if d.Dataset == "" || d.Table == "" || d.IsWildcard() {
		return &JobError{JobID: job.JobID, Reason: "invalid", Message: fmt.Sprintf("destination %q is not a table path", d.String())}
	}
	if len(job.SourceURIs) == 0 {
		return &JobError{JobID: job.JobID, Reason: "invalid", Message: "a load needs source URIs"}
	}
	return nil
}

// ExtractJob writes a table to object storage.
type ExtractJob struct {
	// JobID identifies the job; submitting an existing id attaches to it.
	JobID  string
	Source sqlref.TableName
	// DestinationURI is a gs://bucket/path URI. A * in it lets the warehouse split the table
	// into several numbered files; without one the table must fit one file (1 GB in BigQuery).
	DestinationURI string
	// Format is FormatCSV or FormatJSON.
	Format FileFormat
	// Header writes a header row in CSV files.
	Header      bool
	Compression Compression
	Labels      map[string]string
}

// ExtractResult is the outcome of an extract job.
type ExtractResult struct {
	// Files is how many files were written.
	Files int64
	Stats run.Stats
}

// Loader runs load jobs. Like Query, a failed job returns a *JobError and other errors mean the
// outcome is unknown.
type Loader interface {
	Load(ctx context.Context, job *LoadJob) (run.Stats, error)
}

// Extractor runs extract jobs. Like Query, a failed job returns a *JobError and other errors
// mean the outcome is unknown.
type Extractor interface {
	Extract(ctx context.Context, job *ExtractJob) (*ExtractResult, error)
}
