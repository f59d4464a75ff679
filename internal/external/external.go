// Package external runs external tables: tables whose rows an outside system uploads during a
// run. It is the worker's executor for Kind "external", and it names the objects that the API
// (internal/service) and the executor share.
//
// Everything about one upload lives under one folder of the bucket derived from (run, table),
// never from the attempt, so that a retry or a worker that crashed and is replaced finds the
// same upload URL valid, the same file and the same clock:
//
//	external/<run>/<dataset.table>/data.csv    the upload (data.json for newline-delimited JSON)
//	external/<run>/<dataset.table>/_STARTED    when the run first waited for it (the timeout's start)
//	external/<run>/<dataset.table>/_READY      written by the API once the uploader said it is done
//
// The markers are objects rather than store records so that the store needs nothing new.
package external

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Kind is the node kind of external tables (spec.Table.Kind).
const Kind = "external"

// Prefix is the folder of run runID's upload for table ("dataset.table").
func Prefix(runID, table string) string { return "external/" + runID + "/" + table + "/" }

// DataKey is the key of the uploaded file; format is "csv" or "json".
func DataKey(runID, table, format string) string { return Prefix(runID, table) + "data." + format }

// ReadyKey is the key of the marker saying the upload is complete.
func ReadyKey(runID, table string) string { return Prefix(runID, table) + "_READY" }

// StartedKey is the key of the marker holding when the run first waited for the upload.
func StartedKey(runID, table string) string { return Prefix(runID, table) + "_STARTED" }

// Timeout is how long a run waits for ext's upload: its timeout, or the project format's default
// for a definition that has none (one pushed by hand through the API).
func Timeout(ext *spec.External) time.Duration {
	if ext.Timeout > 0 {
		return ext.Timeout
	}
	return project.ExternalTimeoutDefault
}

// Ready is the content of the _READY marker.
type Ready struct {
	UploadedAt time.Time `json:"uploaded_at"`
}

// MarkReady writes the _READY marker of run runID's upload for table.
func MarkReady(ctx context.Context, b blob.Bucket, runID, table string, at time.Time) error {
	data, err := json.Marshal(Ready{UploadedAt: at.UTC()})
	if err != nil {
		return err
	}
	if err := b.Write(ctx, ReadyKey(runID, table), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("error marking the upload of %s in run %s ready: %w", table, runID, err)
	}
	return nil
}

// Started returns when run runID first waited for table's upload; ok is false when it has not
// waited yet.
func Started(ctx context.Context, b blob.Bucket, runID, table string) (at time.Time, ok bool, err error) {
	r, err := b.Read(ctx, StartedKey(runID, table))
	if errors.Is(err, blob.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("error reading when %s started waiting in run %s: %w", table, runID, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, 256))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("error reading when %s started waiting in run %s: %w", table, runID, err)
	}
	at, err = time.Parse(time.RFC3339Nano, string(bytes.TrimSpace(data)))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("error reading when %s started waiting in run %s: %q is not a time", table, runID, data)
	}
	return at, true, nil
}

// Exists reports whether key holds an object, and whether it holds at least one byte.
func Exists(ctx context.Context, b blob.Bucket, key string) (exists, nonEmpty bool, err error) {
	r, err := b.Read(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	defer r.Close()
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return true, false, err
	}
	return true, n > 0, nil
}

// Executor waits for an external table's upload and loads it. Its fields are required unless
// marked.
type Executor struct {
	// Bucket is where uploads land (the API's bucket).
	Bucket blob.Bucket
	// URI is the gs:// URI of a key of Bucket, as the warehouse loads it.
	URI       func(key string) string
	Warehouse warehouse.Loader
	// DefaultProject and DefaultDataset resolve the table's name.
	DefaultProject, DefaultDataset string
	// PollEvery is how often the executor looks for the _READY marker. Defaults to 10s.
	PollEvery time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// Log defaults to no logging.
	Log *zap.Logger
}

// Execute waits, up to the table's timeout counted from when this run first waited for it,
// for the upload to be marked ready, then loads the file into the table under jobID. The wait
// ends early when ctx is done (the run was cancelled, or the worker stops): the next attempt, or
// whoever takes the node over, waits on with the same clock. Running out of time is a
// permanent *warehouse.JobError.
func (e *Executor) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	if t.External == nil {
		return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "invalid", Message: fmt.Sprintf("table %s is not an external table", t.Name)}
	}
	now := e.now()
	log := e.log().With(zap.String("run_id", n.RunID), zap.String("node", n.Name), zap.String("job_id", jobID))
	started, ok, err := Started(ctx, e.Bucket, n.RunID, t.Name)
	if err != nil {
		return run.Stats{}, err
	}
	if !ok {
		started = now
		if err := e.Bucket.Write(ctx, StartedKey(n.RunID, t.Name), bytes.NewReader([]byte(now.UTC().Format(time.RFC3339Nano)))); err != nil {
			return run.Stats{}, fmt.Errorf("error recording when %s started waiting in run %s: %w", t.Name, n.RunID, err)
		}
	}
	timeout := Timeout(t.External)
	deadline := started.Add(timeout)
	log.Info("waiting for the upload of an external table", zap.Time("since", started), zap.Time("until", deadline))

	poll := e.PollEvery
	if poll <= 0 {
		poll = 10 * time.Second
	}
	for {
		ready, _, err := Exists(ctx, e.Bucket, ReadyKey(n.RunID, t.Name))
		switch {
		case ready:
		case ctx.Err() != nil:
			return run.Stats{}, ctx.Err()
		case err != nil:
			// A bucket that fails for a moment is no reason to give up the wait.
			log.Warn("looking for the upload's ready marker failed; looking again", zap.Error(err))
		}
		if ready {
			break
		}
		left := deadline.Sub(e.now())
		if left <= 0 {
			return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "timeout", Message: fmt.Sprintf(
				"no upload for %s within %s (run %s): nothing called POST /api/v1/runs/%s/tables/%s/uploaded",
				t.Name, timeout, n.RunID, n.RunID, t.Name)}
		}
		timer := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return run.Stats{}, ctx.Err()
		case <-timer.C:
		}
	}
	return e.load(ctx, jobID, t, n)
}

func (e *Executor) load(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	ext := t.External
	job := &warehouse.LoadJob{
		JobID:       jobID,
		SourceURIs:  []string{e.URI(DataKey(n.RunID, t.Name, ext.Format))},
		Destination: project.TableName(&spec.Project{DefaultProject: e.DefaultProject, DefaultDataset: e.DefaultDataset}, t.Name),
		Disposition: t.Disposition,
		PartitionBy: t.PartitionBy,
		ClusterBy:   t.ClusterBy,
		Labels:      map[string]string{"maestro_run": n.RunID, "maestro_table": t.Name, "owner": t.Owner},
	}
	if job.Disposition == "" {
		job.Disposition = spec.DispositionTruncate
	}
	switch ext.Format {
	case "csv":
		job.Format = warehouse.FormatCSV
		if ext.Header {
			job.SkipLeadingRows = 1
		}
	case "json":
		job.Format = warehouse.FormatJSON
	default:
		return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "invalid", Message: fmt.Sprintf("external table %s: format %q is not csv or json", t.Name, ext.Format)}
	}
	for _, c := range ext.Schema {
		job.Schema = append(job.Schema, warehouse.Column{Name: c.Name, Type: c.Type})
	}
	return e.Warehouse.Load(ctx, job)
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) log() *zap.Logger {
	if e.Log != nil {
		return e.Log
	}
	return zap.NewNop()
}
