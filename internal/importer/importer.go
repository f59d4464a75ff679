// Package importer runs import tables: it reads the table's query from its source database
// (PostgreSQL, MySQL/MariaDB or SQLite, through the drivers it is given), streams the rows into
// Parquet files in object storage (internal/extract) and loads them into the warehouse table
// under the node's job id. It is the worker's executor for Kind "import".
//
// Incremental imports take their lower bound from the warehouse table itself (the greatest
// watermark value already loaded), so there is no state to drift from the data: a table that is
// dropped or reloaded in full simply starts over.
package importer

import (
	"context"
	"fmt"
	"time"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/extract"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Warehouse is what an import needs of the warehouse.
type Warehouse interface {
	warehouse.Loader
	// MaxValue returns the greatest value of column in table; ok is false when the table does
	// not exist or holds no value yet.
	MaxValue(ctx context.Context, table sqlref.TableName, column string) (v any, ok bool, err error)
}

// Importer runs import tables. Its fields are required unless marked.
type Importer struct {
	// Connections lists the project's connections (the store's).
	Connections func(ctx context.Context) ([]spec.Connection, error)
	// Resolve turns a connection's secret reference into its connection string.
	Resolve func(ctx context.Context, ref string) (string, error)
	// Drivers open source databases by a connection's driver name. Only the drivers listed are
	// linked into the binary: ServerDrivers for the production worker, plus
	// sqlitesource.Open for maestro dev.
	Drivers map[string]Opener
	// Bucket holds the files between extract and load; BucketName names it in gs:// URIs
	// ("bucket", or "bucket/prefix" when Bucket keeps its objects under a key prefix).
	Bucket     blob.Bucket
	BucketName string
	Warehouse  Warehouse
	// DefaultProject and DefaultDataset resolve the table's name.
	DefaultProject, DefaultDataset string
}

// Execute imports table t as job jobID. A failure the source or the files cause (a query error,
// an unreachable database, a value that does not convert) is a *warehouse.JobError: retryable
// when the database could not be reached, not otherwise.
func (im *Importer) Execute(ctx context.Context, jobID string, t spec.Table, n *run.Node) (run.Stats, error) {
	started := time.Now()
	if t.Import == nil {
		return run.Stats{}, permanent(jobID, "invalid", fmt.Sprintf("table %s is not an import table", t.Name))
	}
	dest := project.TableName(&spec.Project{DefaultProject: im.DefaultProject, DefaultDataset: im.DefaultDataset}, t.Name)
	conn, err := im.connection(ctx, t.Import.Connection)
	if err != nil {
		return run.Stats{}, permanent(jobID, "invalid", err.Error())
	}
	open, ok := im.Drivers[conn.Driver]
	if !ok {
		return run.Stats{}, permanent(jobID, "invalid", fmt.Sprintf("connection %q uses driver %q, which this binary does not support (it supports %s)",
			conn.Name, conn.Driver, supported(im.Drivers)))
	}
	dsn, err := im.Resolve(ctx, conn.SecretRef)
	if err != nil {
		return run.Stats{}, permanent(jobID, "accessDenied", err.Error())
	}
	src, closeSrc, err := open(ctx, dsn)
	if err != nil {
		// Databases restart and networks blip: another attempt may reach it.
		return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "backendError", Retryable: true,
			Message: fmt.Sprintf("error connecting to %s (connection %q): %v", conn.Driver, conn.Name, err)}
	}
	defer closeSrc()

	var after any
	disposition := spec.DispositionTruncate
	if wm := t.Import.Watermark; wm != "" {
		v, ok, err := im.Warehouse.MaxValue(ctx, dest, wm)
		if err != nil {
			return run.Stats{}, fmt.Errorf("error reading the watermark of %s: %w", dest, err)
		}
		if ok {
			after, disposition = v, spec.DispositionAppend
		}
	}
	prefix := "imports/" + jobID + "/"
	res, err := extract.Run(ctx, src, extract.WrapQuery(src.Dialect(), t.SQL, t.Import.Watermark, after),
		extract.Sink{Bucket: im.Bucket, Prefix: prefix})
	if err != nil {
		if ctx.Err() != nil {
			return run.Stats{}, ctx.Err()
		}
		return run.Stats{}, permanent(jobID, "invalidQuery", fmt.Sprintf("error importing from connection %q: %v", conn.Name, err))
	}
	stats, err := im.Warehouse.Load(ctx, &warehouse.LoadJob{
		JobID:       jobID,
		SourceURIs:  []string{"gs://" + im.BucketName + "/" + prefix + "*.parquet"},
		Format:      warehouse.FormatParquet,
		Destination: dest,
		Disposition: disposition,
		PartitionBy: t.PartitionBy,
		ClusterBy:   t.ClusterBy,
	})
	if err != nil {
		return run.Stats{}, err
	}
	// Rows read from the source, which an incremental import keeps small; the load's own
	// statistics carry the bytes.
	stats.Rows = res.Rows
	stats.BytesProcessed = max(stats.BytesProcessed, res.Bytes)
	stats.DurationMillis = time.Since(started).Milliseconds()
	return stats, nil
}

func (im *Importer) connection(ctx context.Context, name string) (spec.Connection, error) {
	conns, err := im.Connections(ctx)
	if err != nil {
		return spec.Connection{}, fmt.Errorf("error listing connections: %w", err)
	}
	for _, c := range conns {
		if c.Name == name {
			return c, nil
		}
	}
	return spec.Connection{}, fmt.Errorf("unknown connection %q", name)
}

func permanent(jobID, reason, msg string) error {
	return &warehouse.JobError{JobID: jobID, Reason: reason, Message: msg}
}
