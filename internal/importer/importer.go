// Package importer runs import tables: it reads the table's query from its source database
// (PostgreSQL, MySQL/MariaDB or SQLite), streams the rows into Parquet files in object storage
// (internal/extract) and loads them into the warehouse table under the node's job id. It is the
// worker's executor for Kind "import".
//
// Incremental imports take their lower bound from the warehouse table itself (the greatest
// watermark value already loaded), so there is no state to drift from the data: a table that is
// dropped or reloaded in full simply starts over.
//
// Before an incremental import appends, the columns it read are compared with the table's: new
// ones are added by the load (warehouse.LoadJob.AllowFieldAddition); a removed or retyped one is
// a permanent error naming the table, the column and both types, or, with
// spec.Import.OnSchemaChange "full_refresh", a full re-import that replaces the table. An
// incremental import also turns full when it starts at a time spec.Import.FullRefresh allows.
// The user-facing rules are in internal/project/README.md ("Import tables").
package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "github.com/go-sql-driver/mysql" // the mysql driver for database/sql
	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the sqlite driver for database/sql

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
	// Table returns a table's metadata (its columns, for schema changes) or warehouse.ErrNotFound.
	Table(ctx context.Context, name sqlref.TableName) (*warehouse.Table, error)
}

// Importer runs import tables. Its fields are required unless marked.
type Importer struct {
	// Connections lists the project's connections (the store's).
	Connections func(ctx context.Context) ([]spec.Connection, error)
	// Resolve turns a connection's secret reference into its connection string.
	Resolve func(ctx context.Context, ref string) (string, error)
	// Bucket holds the files between extract and load; BucketName names it in gs:// URIs.
	Bucket     blob.Bucket
	BucketName string
	Warehouse  Warehouse
	// DefaultProject and DefaultDataset resolve the table's name.
	DefaultProject, DefaultDataset string
	// Now is the clock that decides whether a full refresh is due (spec.Import.FullRefresh).
	// Optional: time.Now.
	Now func() time.Time
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
	dsn, err := im.Resolve(ctx, conn.SecretRef)
	if err != nil {
		return run.Stats{}, permanent(jobID, "accessDenied", err.Error())
	}
	src, closeSrc, err := open(ctx, conn.Driver, dsn)
	if err != nil {
		// Databases restart and networks blip: another attempt may reach it.
		return run.Stats{}, &warehouse.JobError{JobID: jobID, Reason: "backendError", Retryable: true,
			Message: fmt.Sprintf("error connecting to %s (connection %q): %v", conn.Driver, conn.Name, err)}
	}
	defer closeSrc()

	var after any
	disposition := spec.DispositionTruncate
	if wm := t.Import.Watermark; wm != "" {
		now := time.Now
		if im.Now != nil {
			now = im.Now
		}
		full, err := fullRefreshDue(t.Import.FullRefresh, now())
		if err != nil {
			return run.Stats{}, permanent(jobID, "invalid", err.Error())
		}
		if !full {
			v, ok, err := im.Warehouse.MaxValue(ctx, dest, wm)
			if err != nil {
				return run.Stats{}, fmt.Errorf("error reading the watermark of %s: %w", dest, err)
			}
			if ok {
				after, disposition = v, spec.DispositionAppend
			}
		}
	}
	prefix := "imports/" + jobID + "/"
	extractAll := func(prefix string, after any) (*extract.Result, error) {
		res, err := extract.Run(ctx, src, extract.WrapQuery(src.Dialect(), t.SQL, t.Import.Watermark, after),
			extract.Sink{Bucket: im.Bucket, Prefix: prefix})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, permanent(jobID, "invalidQuery", fmt.Sprintf("error importing from connection %q: %v", conn.Name, err))
		}
		return res, nil
	}
	res, err := extractAll(prefix, after)
	if err != nil {
		return run.Stats{}, err
	}
	addColumns := false
	if disposition == spec.DispositionAppend {
		// Checked before loading, so that an incompatible change fails with the column named
		// (or re-imports in full) rather than as the warehouse's load error.
		ch, err := im.schemaChange(ctx, dest, res.Columns)
		if err != nil {
			return run.Stats{}, err
		}
		addColumns = len(ch.Added) > 0
		if len(ch.Incompatible) > 0 {
			if t.Import.OnSchemaChange != spec.SchemaChangeFullRefresh {
				return run.Stats{}, schemaError(jobID, dest, ch)
			}
			// The files hold only the new rows: read everything again, into files of their own
			// (a * in the load's URI matches slashes too, so not under prefix). The partial ones
			// are never loaded; removing them is a courtesy, so a failure is no reason to stop.
			for _, key := range res.Keys {
				_ = im.Bucket.Delete(ctx, key)
			}
			prefix = "imports/" + jobID + "-full/"
			if res, err = extractAll(prefix, nil); err != nil {
				return run.Stats{}, err
			}
			disposition, addColumns = spec.DispositionTruncate, false
		}
	}
	stats, err := im.Warehouse.Load(ctx, &warehouse.LoadJob{
		JobID:              jobID,
		SourceURIs:         []string{"gs://" + im.BucketName + "/" + prefix + "*.parquet"},
		Format:             warehouse.FormatParquet,
		Destination:        dest,
		Disposition:        disposition,
		PartitionBy:        t.PartitionBy,
		ClusterBy:          t.ClusterBy,
		AllowFieldAddition: addColumns,
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

// schemaChange compares an append's columns with the destination's; a missing destination has none.
func (im *Importer) schemaChange(ctx context.Context, dest sqlref.TableName, cols []extract.Column) (schemaChange, error) {
	tb, err := im.Warehouse.Table(ctx, dest)
	if errors.Is(err, warehouse.ErrNotFound) {
		return schemaChange{}, nil
	}
	if err != nil {
		return schemaChange{}, fmt.Errorf("error reading the columns of %s: %w", dest, err)
	}
	return compareSchema(tb.Columns, cols), nil
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

// open connects to a source database by driver name.
func open(ctx context.Context, driver, dsn string) (extract.Source, func(), error) {
	switch driver {
	case "postgres":
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, nil, err
		}
		return extract.NewPostgres(conn), func() { _ = conn.Close(context.WithoutCancel(ctx)) }, nil
	case "mysql", "sqlite":
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, nil, err
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, nil, err
		}
		var src extract.Source = extract.NewMySQL(db)
		if driver == "sqlite" {
			src = extract.NewSQLite(db)
		}
		return src, func() { db.Close() }, nil
	}
	return nil, nil, errors.New("unknown driver " + driver + " (postgres, mysql or sqlite)")
}
