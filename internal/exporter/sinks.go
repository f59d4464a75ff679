package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	sheetsapi "google.golang.org/api/sheets/v4"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/export/pgexport"
	"github.com/maestro-sql/maestro/internal/export/sheets"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Bucket is what sheet and PostgreSQL exports need of the bucket their rows are extracted to.
type Bucket interface {
	Read(ctx context.Context, key string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string) ([]string, error)
	Delete(ctx context.Context, key string) error
}

// DeliveryRecorder keeps callback delivery attempts; the store is one.
type DeliveryRecorder interface {
	DeliveryRecord(ctx context.Context, d *store.Delivery) error
}

// SheetsService returns an Exporter.Sheets that opens the Sheets API at endpoint (empty:
// Google's). credentials is a service account's JSON key; without one, the process's default
// credentials are used, or none at all when endpoint is set (a local stand-in such as sheetsfake).
func SheetsService(endpoint string) func(ctx context.Context, credentials string) (*sheetsapi.Service, error) {
	return func(ctx context.Context, credentials string) (*sheetsapi.Service, error) {
		var opts []option.ClientOption
		if endpoint != "" {
			opts = append(opts, option.WithEndpoint(endpoint))
		}
		switch {
		case credentials != "":
			opts = append(opts, option.WithAuthCredentialsJSON(option.ServiceAccount, []byte(credentials)),
				option.WithScopes(sheetsapi.SpreadsheetsScope))
		case endpoint != "":
			opts = append(opts, option.WithoutAuthentication())
		default:
			opts = append(opts, option.WithScopes(sheetsapi.SpreadsheetsScope))
		}
		svc, err := sheetsapi.NewService(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("error opening the Sheets API: %w", err)
		}
		return svc, nil
	}
}

// intermediatePrefix is where the rows of a sheet or PostgreSQL export are extracted to before
// they are streamed to their destination: one folder per export job, removed once it is done.
func intermediatePrefix(runID, id string) string {
	return "_maestro/exports/" + runID + "/" + id + "/"
}

// extractRows extracts src as newline-delimited JSON (possibly several shards) to the bucket
// under the export's own prefix and returns the files' keys. The job id is the export's, so a
// redelivered task attaches to the extract already made; if that delivery finished the export
// and removed the files, the table is extracted again under a new id.
func (e *Exporter) extractRows(ctx context.Context, id string, src sqlref.TableName, runID string) ([]string, error) {
	prefix := intermediatePrefix(runID, id)
	job := &warehouse.ExtractJob{JobID: id, Source: src, Format: warehouse.FormatJSON,
		DestinationURI: "gs://" + e.BucketName + "/" + prefix + "rows-*.json"}
	for try := 0; ; try++ {
		if _, err := e.Warehouse.Extract(ctx, job); err != nil {
			return nil, fmt.Errorf("error extracting %s to %s: %w", src, job.DestinationURI, err)
		}
		keys, err := e.Bucket.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("error listing the extracted rows under %s: %w", prefix, err)
		}
		if len(keys) > 0 {
			return keys, nil
		}
		if try > 0 {
			return nil, fmt.Errorf("error extracting %s: job %s wrote no file under %s", src, job.JobID, prefix)
		}
		job.JobID = id + "-again" + strconv.FormatInt(e.now().UnixNano(), 36)
	}
}

// removeRows deletes an export's intermediate files, once written or failed; a leftover is
// only storage, so failures to delete are not errors.
func (e *Exporter) removeRows(ctx context.Context, keys []string) {
	for _, k := range keys {
		_ = e.Bucket.Delete(context.WithoutCancel(ctx), k)
	}
}

// toSheet writes src to a new tab of the export's spreadsheet and returns the tab's URL.
func (e *Exporter) toSheet(ctx context.Context, id string, t spec.Table, n *run.Node, i int, x spec.Export,
	src sqlref.TableName, meta *warehouse.Table) (callback.File, error) {
	if e.Sheets == nil || e.Bucket == nil || e.RunTime == nil {
		return callback.File{}, errors.New("sheet exports are not configured on this worker")
	}
	runTime, err := e.RunTime(ctx, n.RunID)
	if err != nil {
		return callback.File{}, fmt.Errorf("error reading the time of run %s: %w", n.RunID, err)
	}
	creds := ""
	if x.Sheet.CredentialsRef != "" {
		if creds, err = e.Resolve(ctx, x.Sheet.CredentialsRef); err != nil {
			return callback.File{}, fmt.Errorf("error resolving the sheet's credentials: %w", err)
		}
	}
	svc, err := e.Sheets(ctx, creds)
	if err != nil {
		return callback.File{}, err
	}
	keys, err := e.extractRows(ctx, id, src, n.RunID)
	if err != nil {
		return callback.File{}, err
	}
	// Removed whatever happens: a later delivery of this task extracts again.
	defer e.removeRows(ctx, keys)
	rows := newNDJSONRows(e.Bucket, keys, meta.Columns)
	defer rows.Close()
	cols := make([]sheets.Column, len(meta.Columns))
	for j, c := range meta.Columns {
		cols[j] = sheets.Column{Name: c.Name, Type: c.Type}
	}
	res, err := sheets.New(svc, e.SheetsConfig).Export(ctx, &sheets.Params{
		SpreadsheetID: x.Sheet.SpreadsheetID,
		// The table and the export's place among its exports: Keep counts this export's tabs only.
		ExportKey: t.Name + "#" + strconv.Itoa(i+1),
		RunTime:   runTime,
		Keep:      x.Sheet.KeepTabs,
		Table:     sheets.Table{Columns: cols, RowCount: meta.Rows, Rows: rows},
	})
	if err != nil {
		return callback.File{}, fmt.Errorf("error exporting %s to spreadsheet %s: %w", t.Name, x.Sheet.SpreadsheetID, err)
	}
	return callback.File{URL: SheetURL(x.Sheet.SpreadsheetID, res.SheetID)}, nil
}

// permanent says whether a sheet or PostgreSQL export failed for a reason a retry would meet
// again: the cell limit, a request Google refused (4xx but 429), or an SQL error PostgreSQL
// raised (a missing schema, a view on the table), short of lock timeouts and serialization
// failures.
func permanent(err error) bool {
	if errors.Is(err, sheets.ErrTooManyCells) || errors.Is(err, errUnsupported) {
		return true
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code >= 400 && gerr.Code < 500 && gerr.Code != http.StatusTooManyRequests
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return !strings.HasPrefix(pgErr.Code, "40") && pgErr.Code != "55P03" && !strings.HasPrefix(pgErr.Code, "53") &&
			!strings.HasPrefix(pgErr.Code, "57") && !strings.HasPrefix(pgErr.Code, "08")
	}
	return false
}

// errUnsupported marks an export that cannot be made as configured (a column type PostgreSQL
// exports do not take, a connection that is not postgres).
var errUnsupported = errors.New("unsupported export")

// SheetURL opens one tab of a spreadsheet.
func SheetURL(spreadsheetID string, sheetID int64) string {
	return "https://docs.google.com/spreadsheets/d/" + spreadsheetID + "/edit#gid=" + strconv.FormatInt(sheetID, 10)
}

// PostgresURL names a PostgreSQL export's table in a callback: the connection's name, never
// its connection string.
func PostgresURL(connection, table string) string {
	return "postgres://" + connection + "/" + table
}

// toPostgres replaces the export's PostgreSQL table with src's rows and names it.
func (e *Exporter) toPostgres(ctx context.Context, id string, t spec.Table, n *run.Node, x spec.Export,
	src sqlref.TableName, meta *warehouse.Table) (callback.File, error) {
	if e.Connections == nil || e.Bucket == nil {
		return callback.File{}, errors.New("postgres exports are not configured on this worker")
	}
	conns, err := e.Connections(ctx)
	if err != nil {
		return callback.File{}, fmt.Errorf("error listing connections: %w", err)
	}
	var conn *spec.Connection
	for k := range conns {
		if conns[k].Name == x.Postgres.Connection {
			conn = &conns[k]
		}
	}
	if conn == nil || conn.Driver != "postgres" {
		return callback.File{}, fmt.Errorf("%w: %s: no postgres connection %q", errUnsupported, t.Name, x.Postgres.Connection)
	}
	cols := make([]pgexport.Column, len(meta.Columns))
	types := make([]pgexport.Type, len(meta.Columns))
	for j, c := range meta.Columns {
		typ, err := pgexport.ParseType(c.Type)
		if err != nil {
			return callback.File{}, fmt.Errorf("%w: %s to PostgreSQL: column %q: %v", errUnsupported, t.Name, c.Name, err)
		}
		cols[j], types[j] = pgexport.Column{Name: c.Name, Type: typ}, typ
	}
	dest := pgexport.Destination{Table: x.Postgres.Table}
	if schema, table, ok := strings.Cut(x.Postgres.Table, "."); ok {
		dest = pgexport.Destination{Schema: schema, Table: table}
	}
	dsn, err := e.Resolve(ctx, conn.SecretRef)
	if err != nil {
		return callback.File{}, fmt.Errorf("error resolving the secret of connection %q: %w", conn.Name, err)
	}
	keys, err := e.extractRows(ctx, id, src, n.RunID)
	if err != nil {
		return callback.File{}, err
	}
	// Removed whatever happens: a later delivery of this task extracts again.
	defer e.removeRows(ctx, keys)
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		// pgx errors can quote the connection string; name the connection instead.
		return callback.File{}, fmt.Errorf("error connecting to postgres (connection %q): %w", conn.Name, redact(err, dsn))
	}
	defer func() { _ = db.Close(context.WithoutCancel(ctx)) }()
	rows := newNDJSONRows(e.Bucket, keys, meta.Columns)
	defer rows.Close()
	if _, err := pgexport.Export(ctx, db, dest, cols, &pgRows{ctx: ctx, rows: rows, types: types}, nil); err != nil {
		return callback.File{}, fmt.Errorf("error exporting %s to PostgreSQL (connection %q): %w", t.Name, conn.Name, err)
	}
	return callback.File{URL: PostgresURL(conn.Name, x.Postgres.Table)}, nil
}

// redact replaces the secret in err's text, keeping nothing of it.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[redacted]"))
}

// deliveryRecorder keeps each callback attempt of one export in the store.
func (e *Exporter) deliveryRecorder() callback.Recorder {
	if e.Deliveries == nil {
		return nil
	}
	return store.AttemptRecorder(e.Deliveries)
}

func (e *Exporter) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}
