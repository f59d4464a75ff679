// Package exporter runs a table's exports once the table is built: each writes the table to a
// file in object storage with an extract job, then, when the export has a callback, tells the
// callback's URL where the file is, in a signed message (internal/callback).
//
// It wraps the executor of a node kind, so the exports are part of the node: a node succeeds only
// when its table is built and every export is written and announced. Extract jobs carry ids
// derived from the node's job id and the export's position, and each callback a delivery id
// derived the same way, so a redelivered task neither writes a file twice nor announces it under
// two ids.
package exporter

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/callback"
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
	// Resolve turns a callback's secret reference into its key.
	Resolve func(ctx context.Context, ref string) (string, error)
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
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	src := project.TableName(&spec.Project{DefaultProject: e.DefaultProject, DefaultDataset: e.DefaultDataset}, t.Name)
	for i, x := range t.Exports {
		id := jobID + "-export" + strconv.Itoa(i+1)
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
		if err := e.announce(ctx, id, t, n, x, src, now()); err != nil {
			// The file is written; the node fails so that its retry (which re-extracts under a
			// new attempt's id) tells the receiver again.
			return &warehouse.JobError{JobID: id, Reason: "backendError", Retryable: true,
				Message: fmt.Sprintf("export %d of %s is written but its callback failed: %v", i+1, t.Name, err)}
		}
	}
	return nil
}

// announce tells an export's callback where its file is.
func (e *Exporter) announce(ctx context.Context, id string, t spec.Table, n *run.Node, x spec.Export, src sqlref.TableName, at time.Time) error {
	key, err := e.Resolve(ctx, x.Callback.SecretRef)
	if err != nil {
		return err
	}
	file, err := e.FileURL(ctx, Key(x, t.Name, n.RunID))
	if err != nil {
		return fmt.Errorf("error making the file's URL: %w", err)
	}
	meta, err := e.Warehouse.Table(ctx, src)
	if err != nil {
		return fmt.Errorf("error reading the schema of %s: %w", src, err)
	}
	schema := make([]callback.Column, len(meta.Columns))
	for i, c := range meta.Columns {
		schema[i] = callback.Column{Name: c.Name, Type: c.Type}
	}
	return e.Callbacks.Send(ctx, callback.Target{Name: t.Name + " export", URL: x.Callback.URL, Secret: []byte(key)},
		callback.Payload{ID: id, Event: callback.EventExportCompleted, RunID: n.RunID, Table: t.Name,
			Files: []callback.File{file}, Schema: schema, RowCount: meta.Rows, Time: at})
}
