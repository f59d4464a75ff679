// Package bigquerywarehouse is the production warehouse: warehouse.Warehouse (plus DryRunner,
// Loader and Extractor) on BigQuery through cloud.google.com/go/bigquery.
//
// Every job carries the caller's job id. Submitting an id that exists already (a redelivered
// task, or an insert whose response was lost and retried) gets BigQuery's 409 "duplicate": the
// warehouse then attaches to the existing job and waits for it, so the SQL runs once. Waiting
// polls jobs.get with backoff rather than using Job.Wait: Job.Wait waits through
// jobs.getQueryResults, which reports a job that failed with a retryable reason (backendError)
// as an HTTP error the client retries until the context ends; jobs.get reports the job's own
// status. See README.md for the mapping of statistics and errors.
//
// The package is pure Go (no cgo): it is linked into the CGO_ENABLED=0 production binaries.
package bigquerywarehouse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Options configure a Warehouse beyond the client options. A nil *Options means all defaults.
type Options struct {
	// Location is where jobs run and are looked up ("US", "EU", "europe-west1"). Attaching to an
	// existing job by id needs it for locations other than US and EU. Defaults to "" (BigQuery
	// picks the location of the datasets a job uses).
	Location string
	// PollInitial is the first wait between status polls of a running job. Defaults to 50 ms.
	PollInitial time.Duration
	// PollMax bounds the wait between polls, which grows by half each poll. Defaults to 5 s.
	PollMax time.Duration
}

// Warehouse runs jobs on BigQuery. It is safe for concurrent use.
type Warehouse struct {
	client      *bigquery.Client
	project     string
	location    string
	pollInitial time.Duration
	pollMax     time.Duration
}

var (
	_ warehouse.Warehouse = (*Warehouse)(nil)
	_ warehouse.DryRunner = (*Warehouse)(nil)
	_ warehouse.Loader    = (*Warehouse)(nil)
	_ warehouse.Extractor = (*Warehouse)(nil)
)

// Open connects to BigQuery, billing jobs to projectID. Client options pass through to the
// client (credentials; option.WithEndpoint and option.WithoutAuthentication for a local server).
func Open(ctx context.Context, projectID string, opts ...option.ClientOption) (*Warehouse, error) {
	return OpenWithOptions(ctx, projectID, nil, opts...)
}

// OpenWithOptions is Open with Options (the job location, the poll backoff).
func OpenWithOptions(ctx context.Context, projectID string, o *Options, opts ...option.ClientOption) (*Warehouse, error) {
	if projectID == "" {
		return nil, errors.New("error opening BigQuery warehouse: a project id is required")
	}
	cfg := Options{}
	if o != nil {
		cfg = *o
	}
	if cfg.PollInitial <= 0 {
		cfg.PollInitial = 50 * time.Millisecond
	}
	if cfg.PollMax <= 0 {
		cfg.PollMax = 5 * time.Second
	}
	if cfg.PollMax < cfg.PollInitial {
		cfg.PollMax = cfg.PollInitial
	}
	client, err := bigquery.NewClient(ctx, projectID, opts...)
	if err != nil {
		return nil, fmt.Errorf("error opening BigQuery client for project %q: %w", projectID, err)
	}
	client.Location = cfg.Location
	return &Warehouse{
		client:      client,
		project:     projectID,
		location:    cfg.Location,
		pollInitial: cfg.PollInitial,
		pollMax:     cfg.PollMax,
	}, nil
}

// Close closes the client.
func (w *Warehouse) Close() error {
	if err := w.client.Close(); err != nil {
		return fmt.Errorf("error closing BigQuery client: %w", err)
	}
	return nil
}

func (w *Warehouse) table(n sqlref.TableName) *bigquery.Table {
	p := n.Project
	if p == "" {
		p = w.project
	}
	return w.client.DatasetInProject(p, n.Dataset).Table(n.Table)
}

// Query runs job's SQL into its destination (or attaches to the job with its id) and waits.
func (w *Warehouse) Query(ctx context.Context, job *warehouse.QueryJob) (run.Stats, error) {
	if job == nil || job.JobID == "" {
		return run.Stats{}, &warehouse.JobError{Reason: "invalid", Message: "a job needs an id"}
	}
	dest := job.Destination
	if dest.Dataset == "" || dest.Table == "" || dest.IsWildcard() {
		return run.Stats{}, &warehouse.JobError{JobID: job.JobID, Reason: "invalid",
			Message: fmt.Sprintf("destination %q is not a table path", dest.String())}
	}
	if err := ctx.Err(); err != nil {
		return run.Stats{}, err
	}
	q := w.query(job)
	q.Dst = w.table(dest)
	q.CreateDisposition = bigquery.CreateIfNeeded
	q.WriteDisposition = bigquery.WriteTruncate
	if job.Disposition == spec.DispositionAppend {
		q.WriteDisposition = bigquery.WriteAppend
	}
	tp, rp, err := Partitioning(job.PartitionBy)
	if err != nil {
		return run.Stats{}, &warehouse.JobError{JobID: job.JobID, Reason: "invalid", Message: err.Error()}
	}
	q.TimePartitioning, q.RangePartitioning = tp, rp
	if len(job.ClusterBy) > 0 {
		q.Clustering = &bigquery.Clustering{Fields: append([]string(nil), job.ClusterBy...)}
	}
	q.Labels = Labels(job.Labels)
	q.JobID = job.JobID

	st, err := w.runJob(ctx, job.JobID, q.Run)
	if err != nil {
		return run.Stats{}, err
	}
	return statsOf(st), nil
}

// query builds a query with the job's SQL and default dataset, in GoogleSQL.
func (w *Warehouse) query(job *warehouse.QueryJob) *bigquery.Query {
	q := w.client.Query(job.SQL)
	q.Location = w.location
	// BigQuery's default dataset needs a dataset: without one, partial paths resolve against the
	// billing project, whatever DefaultProject says.
	if job.DefaultDataset != "" {
		q.DefaultDatasetID = job.DefaultDataset
		q.DefaultProjectID = cmp.Or(job.DefaultProject, job.Destination.Project, w.project)
	}
	return q
}

// runJob submits a job through insert (or attaches to the job with id if it exists) and waits
// for it. A job that ran and failed returns a *warehouse.JobError.
func (w *Warehouse) runJob(ctx context.Context, id string, insert func(context.Context) (*bigquery.Job, error)) (*bigquery.JobStatus, error) {
	j, err := insert(ctx)
	if err != nil {
		if !isDuplicate(err) {
			return nil, submitError(ctx, id, err)
		}
		// The id exists: this is a redelivery, or our own insert that succeeded before its
		// response was lost. Either way the job is ours; wait for it instead of running again.
		j, err = w.client.JobFromIDLocation(ctx, id, w.location)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("error attaching to existing job %q: %w", id, err)
		}
	}
	return w.wait(ctx, j)
}

// wait polls j's status with backoff until it is done.
func (w *Warehouse) wait(ctx context.Context, j *bigquery.Job) (*bigquery.JobStatus, error) {
	st := j.LastStatus()
	delay := w.pollInitial
	for st == nil || !st.Done() {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(delay+delay/2, w.pollMax)
		var err error
		st, err = j.Status(ctx)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("error polling job %q: %w", j.ID(), err)
		}
	}
	if err := st.Err(); err != nil {
		return st, jobError(j.ID(), err)
	}
	return st, nil
}

func isDuplicate(err error) bool {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return false
	}
	if ge.Code == http.StatusConflict {
		return true
	}
	for _, e := range ge.Errors {
		if e.Reason == "duplicate" || e.Reason == "alreadyExists" {
			return true
		}
	}
	return false
}

// retryableReasons are the ErrorProto reasons of failures that the same work may not meet again:
// rate limits and transient backend trouble. Anything else (invalidQuery, notFound,
// accessDenied, quotaExceeded, ...) fails again until someone changes something.
var retryableReasons = []string{
	"rateLimitExceeded", "backendError", "internalError",
	"jobRateLimitExceeded", "jobBackendError", "jobInternalError",
}

// Retryable reports whether a job that failed with reason may succeed when run again.
func Retryable(reason string) bool { return slices.Contains(retryableReasons, reason) }

// jobError turns the error of a finished job into a *warehouse.JobError.
func jobError(id string, err error) error {
	var be *bigquery.Error
	if errors.As(err, &be) {
		return &warehouse.JobError{JobID: id, Reason: be.Reason, Message: be.Message, Retryable: Retryable(be.Reason)}
	}
	return &warehouse.JobError{JobID: id, Reason: "unknown", Message: err.Error()}
}

// submitError classifies a failed jobs.insert. BigQuery refusing the job (a 4xx with a reason)
// is a job failure; anything else (5xx, network, the context ending while the client retried)
// leaves the outcome unknown: the job may exist, and submitting the same id again attaches to it.
func submitError(ctx context.Context, id string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) && ge.Code >= 400 && ge.Code < 500 && ge.Code != http.StatusRequestTimeout && ge.Code != http.StatusTooManyRequests {
		reason, msg := "invalid", ge.Message
		if len(ge.Errors) > 0 {
			reason = ge.Errors[0].Reason
			if ge.Errors[0].Message != "" {
				msg = ge.Errors[0].Message
			}
		}
		return &warehouse.JobError{JobID: id, Reason: reason, Message: msg, Retryable: Retryable(reason)}
	}
	return fmt.Errorf("error submitting job %q: %w", id, err)
}

// statsOf maps a finished job's statistics to run.Stats.
func statsOf(st *bigquery.JobStatus) run.Stats {
	var out run.Stats
	if st == nil || st.Statistics == nil {
		return out
	}
	s := st.Statistics
	out.BytesProcessed = s.TotalBytesProcessed
	out.SlotMillis = s.TotalSlotDuration.Milliseconds()
	start := s.StartTime
	if start.IsZero() {
		start = s.CreationTime
	}
	if !s.EndTime.IsZero() && !start.IsZero() {
		out.DurationMillis = s.EndTime.Sub(start).Milliseconds()
	}
	switch d := s.Details.(type) {
	case *bigquery.QueryStatistics:
		if d.TotalBytesProcessed > 0 {
			out.BytesProcessed = d.TotalBytesProcessed
		}
		out.BytesBilled = d.TotalBytesBilled
		out.CacheHit = d.CacheHit
		if d.SlotMillis > 0 {
			out.SlotMillis = d.SlotMillis
		}
		out.Rows = d.NumDMLAffectedRows
		// A query's rows written are those of the final stage of its plan, which writes the
		// destination (numDmlAffectedRows covers DML only).
		if n := len(d.QueryPlan); n > 0 && out.Rows == 0 {
			out.Rows = d.QueryPlan[n-1].RecordsWritten
		}
	case *bigquery.LoadStatistics:
		out.Rows = d.OutputRows
		out.BytesProcessed = d.InputFileBytes
	}
	return out
}

// Table returns a table's metadata or warehouse.ErrNotFound. Column types are GoogleSQL names
// (INT64, FLOAT64, BOOL, STRUCT, ARRAY<T>), as the DuckDB warehouse reports them.
func (w *Warehouse) Table(ctx context.Context, name sqlref.TableName) (*warehouse.Table, error) {
	if name.Project == "" {
		name.Project = w.project
	}
	md, err := w.table(name).Metadata(ctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusNotFound {
			return nil, fmt.Errorf("error loading table %q: %w", name.String(), warehouse.ErrNotFound)
		}
		return nil, fmt.Errorf("error loading table %q: %w", name.String(), err)
	}
	t := &warehouse.Table{Name: name, Rows: int64(md.NumRows), Bytes: md.NumBytes, Modified: md.LastModifiedTime}
	for _, f := range md.Schema {
		t.Columns = append(t.Columns, warehouse.Column{Name: f.Name, Type: googleSQLType(f)})
	}
	return t, nil
}

// googleSQLType names a schema field's type as GoogleSQL does.
func googleSQLType(f *bigquery.FieldSchema) string {
	t := string(f.Type)
	switch f.Type {
	case bigquery.IntegerFieldType:
		t = "INT64"
	case bigquery.FloatFieldType:
		t = "FLOAT64"
	case bigquery.BooleanFieldType:
		t = "BOOL"
	case bigquery.RecordFieldType:
		t = "STRUCT"
	case bigquery.BigNumericFieldType:
		t = "BIGNUMERIC"
	}
	if f.Repeated {
		return "ARRAY<" + t + ">"
	}
	return strings.ToUpper(t)
}
