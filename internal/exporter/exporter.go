// Package exporter runs a table's exports once the table is built: each writes the table to a
// file in object storage with an extract job, to a new tab of a Google Sheet, or over a
// PostgreSQL table, then, when the export has a callback, tells the callback's URL where the
// file (tab, table) is, in a signed message (internal/callback), recording every attempt.
//
// Sheet and PostgreSQL exports read the table the same way on every warehouse: an extract job
// writes it as newline-delimited JSON to the bucket, and the rows are streamed from there, one
// at a time, into the Sheets API or PostgreSQL's COPY.
//
// It wraps the executor of a node kind, so the exports are part of the node: a node succeeds only
// when its table is built and every export is written and announced. Extract jobs carry ids
// derived from the node's job id and the export's position, and each callback a delivery id
// derived the same way, so a redelivered task neither writes a file twice nor announces it under
// two ids.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sheetsapi "google.golang.org/api/sheets/v4"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/export/sheets"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Executor builds a table; it is the worker's executor interface.
type Executor interface {
	Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error)
}

// Warehouse is what exports need of the warehouse.
type Warehouse interface {
	warehouse.Extractor
	Table(ctx context.Context, name sqlref.TableName) (*warehouse.Table, error)
}

// Exporter runs exports. Its fields are required.
type Exporter struct {
	Warehouse Warehouse
	// BucketName names the bucket in the extract jobs' gs:// URIs.
	BucketName string
	// FileURL says how a receiver fetches the file at key: a signed URL in production, a local
	// path with maestro dev.
	FileURL func(ctx context.Context, key string) (callback.File, error)
	// Callbacks sends the callbacks.
	Callbacks *callback.Client
	// Resolve turns a secret reference (a callback's key, a connection's connection string, a
	// sheet's credentials) into its value.
	Resolve func(ctx context.Context, ref string) (string, error)

	// The fields below are needed only by the exports that use them.

	// Bucket is the bucket named BucketName: sheet and PostgreSQL exports read their rows from it.
	Bucket Bucket
	// Sheets opens the Sheets API for a sheet export, with the resolved service account key
	// (empty: default credentials). SheetsService makes one.
	Sheets func(ctx context.Context, credentials string) (*sheetsapi.Service, error)
	// SheetsConfig tunes sheet exports (chunks, retries); nil is the defaults.
	SheetsConfig *sheets.Config
	// RunTime is the time that names a run's tabs (the run's creation time, the same on every
	// delivery of its tasks).
	RunTime func(ctx context.Context, runID string) (time.Time, error)
	// Connections lists the project's connections, for PostgreSQL exports.
	Connections func(ctx context.Context) ([]spec.Connection, error)
	// Deliveries, when set, keeps every callback delivery attempt.
	Deliveries DeliveryRecorder
	// DefaultProject and DefaultDataset resolve table names.
	DefaultProject, DefaultDataset string
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Wrap returns an executor that runs inner, then the table's exports.
func (e *Exporter) Wrap(inner Executor) Executor {
	return executorFunc(func(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
		stats, err := inner.Execute(ctx, jobID, t, n)
		if err != nil || len(t.Exports) == 0 {
			return stats, err
		}
		return stats, e.export(ctx, jobID, t, n)
	})
}

type executorFunc func(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error)

func (f executorFunc) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	return f(ctx, jobID, t, n)
}

var formats = map[string]warehouse.FileFormat{
	"csv": warehouse.FormatCSV, "json": warehouse.FormatJSON, "parquet": warehouse.FormatParquet,
}

// Key is the object key of an export's file: its path with {table} and {run} replaced.
func Key(x spec.Export, table, runID string) string {
	return strings.NewReplacer("{table}", table, "{run}", runID).Replace(x.Path)
}

func (e *Exporter) export(ctx context.Context, jobID string, t spec.Table, n *run.Node) error {
	src := project.TableName(&spec.Project{DefaultProject: e.DefaultProject, DefaultDataset: e.DefaultDataset}, t.Name)
	for i, x := range t.Exports {
		id := jobID + "-export" + strconv.Itoa(i+1)
		if x.Sheet != nil || x.Postgres != nil {
			if err := e.exportRows(ctx, id, t, n, i, x, src); err != nil {
				return err
			}
			continue
		}
		format, ok := formats[x.Format]
		if !ok {
			return &warehouse.JobError{JobID: id, Reason: "invalid", Message: fmt.Sprintf("export %d of %s: unknown format %q", i+1, t.Name, x.Format)}
		}
		job := &warehouse.ExtractJob{JobID: id, Source: src, Format: format, Header: x.Header,
			DestinationURI: "gs://" + e.BucketName + "/" + Key(x, t.Name, n.RunID)}
		if x.Gzip {
			job.Compression = warehouse.CompressionGzip
		}
		if _, err := e.Warehouse.Extract(ctx, job); err != nil {
			return fmt.Errorf("error exporting %s to %s: %w", t.Name, job.DestinationURI, err)
		}
		if x.Callback == nil {
			continue
		}
		file, err := e.FileURL(ctx, Key(x, t.Name, n.RunID))
		if err != nil {
			err = fmt.Errorf("error making the file's URL: %w", err)
		} else {
			err = e.announce(ctx, id, t, n, x, src, file)
		}
		if err != nil {
			// The file is written; the node fails so that its retry (which re-extracts under a
			// new attempt's id) tells the receiver again.
			return &warehouse.JobError{JobID: id, Reason: "backendError", Retryable: true,
				Message: fmt.Sprintf("export %d of %s is written but its callback failed: %v", i+1, t.Name, err)}
		}
	}
	return nil
}

// exportRows runs a sheet or PostgreSQL export, then its callback.
func (e *Exporter) exportRows(ctx context.Context, id string, t spec.Table, n *run.Node, i int, x spec.Export, src sqlref.TableName) error {
	meta, err := e.Warehouse.Table(ctx, src)
	if err != nil {
		return fmt.Errorf("error reading the schema of %s: %w", src, err)
	}
	var file callback.File
	if x.Sheet != nil {
		file, err = e.toSheet(ctx, id, t, n, i, x, src, meta)
	} else {
		file, err = e.toPostgres(ctx, id, t, n, x, src, meta)
	}
	if err != nil {
		var je *warehouse.JobError
		if errors.As(err, &je) || ctx.Err() != nil {
			return err
		}
		// A refused cell limit, a missing schema or a revoked share needs a person: a retry
		// of the node would meet it again. Anything else may pass on the next attempt.
		return &warehouse.JobError{JobID: id, Reason: "exportFailed", Retryable: !permanent(err),
			Message: fmt.Sprintf("export %d of %s: %v", i+1, t.Name, err)}
	}
	if x.Callback == nil {
		return nil
	}
	if err := e.announce(ctx, id, t, n, x, src, file); err != nil {
		return &warehouse.JobError{JobID: id, Reason: "backendError", Retryable: true,
			Message: fmt.Sprintf("export %d of %s is written but its callback failed: %v", i+1, t.Name, err)}
	}
	return nil
}

// announce tells an export's callback where its file (tab, table) is.
func (e *Exporter) announce(ctx context.Context, id string, t spec.Table, n *run.Node, x spec.Export, src sqlref.TableName, file callback.File) error {
	key, err := e.Resolve(ctx, x.Callback.SecretRef)
	if err != nil {
		return err
	}
	meta, err := e.Warehouse.Table(ctx, src)
	if err != nil {
		return fmt.Errorf("error reading the schema of %s: %w", src, err)
	}
	schema := make([]callback.Column, len(meta.Columns))
	for i, c := range meta.Columns {
		schema[i] = callback.Column{Name: c.Name, Type: c.Type}
	}
	return e.Callbacks.Send(ctx, callback.Target{Name: t.Name + " export", URL: x.Callback.URL, Secret: []byte(key),
		Recorder: e.deliveryRecorder()},
		callback.Payload{ID: id, Event: callback.EventExportCompleted, RunID: n.RunID, Table: t.Name,
			Files: []callback.File{file}, Schema: schema, RowCount: meta.Rows, Time: e.now()})
}
