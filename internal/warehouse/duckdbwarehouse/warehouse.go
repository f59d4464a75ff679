// Package duckdbwarehouse is the embedded warehouse: a DuckDB database (a file, or memory for
// tests) that runs GoogleSQL after rewriting it from the sqlref lexer's tokens. See README.md for
// the table mapping and the supported SQL subset.
//
// It links DuckDB through cgo, so only cmd/maestro may import it.
package duckdbwarehouse

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Options configure a Warehouse. A nil *Options means all defaults.
type Options struct {
	// DefaultProject names the project of table paths that give none, when the job sets no
	// DefaultProject either. Defaults to "local".
	DefaultProject string
	// MaxConns bounds the connections of the pool (reads run in parallel; writes are serialised).
	// Defaults to 4.
	MaxConns int
	// Now is the clock for job timestamps. Defaults to time.Now.
	Now func() time.Time
	// FilesDir is the folder of the embedded bucket (localblob's Dir) that load and extract
	// jobs read and write: gs://<any bucket>/<key> names the file <key> under it. Empty means
	// Load and Extract refuse every job.
	FilesDir string
}

// Job states recorded in the job log.
const (
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// JobRecord is one row of the job log (the _maestro.jobs table).
type JobRecord struct {
	JobID       string
	SQL         string
	Destination sqlref.TableName
	Disposition spec.Disposition
	Labels      map[string]string
	// State is JobSucceeded or JobFailed. Jobs that did not finish leave no record.
	State      string
	Stats      run.Stats
	Error      *warehouse.JobError // nil unless State is JobFailed
	StartedAt  time.Time
	FinishedAt time.Time
}

// Warehouse is a DuckDB database behind the warehouse.Warehouse contract.
type Warehouse struct {
	db       *sql.DB
	project  string
	now      func() time.Time
	filesDir string
	writeSem chan struct{} // one writing job at a time: DuckDB aborts conflicting concurrent writers

	mu       sync.Mutex
	inflight map[string]*call // job id → the call running it
}

// call is one in-flight Query that later callers with the same job id wait for.
type call struct {
	done  chan struct{}
	stats run.Stats
	err   error
}

var _ warehouse.Warehouse = (*Warehouse)(nil)

// Open opens (creating if needed) the DuckDB database at path; "" means a private in-memory
// database, for tests.
func Open(ctx context.Context, path string, opts *Options) (*Warehouse, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.DefaultProject == "" {
		o.DefaultProject = "local"
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	connector, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return nil, fmt.Errorf("error opening duckdb database %q: %w", path, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	w := &Warehouse{
		db:       db,
		project:  o.DefaultProject,
		now:      o.Now,
		filesDir: o.FilesDir,
		writeSem: make(chan struct{}, 1),
		inflight: map[string]*call{},
	}
	if err := w.setup(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return w, nil
}

func (w *Warehouse) setup(ctx context.Context) error {
	stmts := []string{
		// BigQuery reads zoneless timestamp text as UTC; so must TIMESTAMPTZ casts here.
		`SET GLOBAL TimeZone = 'UTC'`,
		`CREATE SCHEMA IF NOT EXISTS "_maestro"`,
		`CREATE TABLE IF NOT EXISTS "_maestro"."jobs" (
			job_id VARCHAR PRIMARY KEY,
			sql VARCHAR NOT NULL,
			destination VARCHAR NOT NULL,
			disposition VARCHAR NOT NULL,
			labels VARCHAR NOT NULL,
			state VARCHAR NOT NULL,
			stats VARCHAR NOT NULL,
			error VARCHAR,
			started_at TIMESTAMPTZ NOT NULL,
			finished_at TIMESTAMPTZ NOT NULL
		)`,
	}
	stmts = append(stmts, macros...)
	for _, s := range stmts {
		if _, err := w.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("error preparing duckdb warehouse (%.40s...): %w", s, err)
		}
	}
	return nil
}

// Close closes the database.
func (w *Warehouse) Close() error {
	if err := w.db.Close(); err != nil {
		return fmt.Errorf("error closing duckdb warehouse: %w", err)
	}
	return nil
}

// Query runs job into its destination, or returns the outcome of the job with the same id that
// ran before. Concurrent calls with one id run it once; later callers wait for the first.
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
	entry := &jobEntry{ID: job.JobID, SQL: job.SQL, Destination: job.Destination.String(),
		Disposition: job.Disposition, Labels: job.Labels}
	return w.single(ctx, entry, func(started time.Time) (run.Stats, error) {
		return w.execute(ctx, job, entry, started)
	})
}

// jobEntry is what the job log records of any kind of job.
type jobEntry struct {
	ID  string
	SQL string // the query, or a description of a load or extract
	// Destination is the table written, as project.dataset.table; "" for an extract.
	Destination string
	Disposition spec.Disposition
	Labels      map[string]string
}

// single runs exec for entry's job id at most once: concurrent calls with one id wait for the
// first, and an id in the job log returns its recorded outcome.
func (w *Warehouse) single(ctx context.Context, entry *jobEntry, exec func(started time.Time) (run.Stats, error)) (run.Stats, error) {
	for {
		w.mu.Lock()
		c, ok := w.inflight[entry.ID]
		if !ok {
			c = &call{done: make(chan struct{})}
			w.inflight[entry.ID] = c
			w.mu.Unlock()
			c.stats, c.err = w.runOnce(ctx, entry, exec)
			w.mu.Lock()
			delete(w.inflight, entry.ID)
			w.mu.Unlock()
			close(c.done)
			return c.stats, c.err
		}
		w.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return run.Stats{}, ctx.Err()
		}
		// The first caller's context ended before its job did: this caller, whose context is
		// alive, takes over (the job log tells it if the job had finished after all).
		if errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded) {
			continue
		}
		return c.stats, c.err
	}
}

// runOnce returns the recorded outcome of entry's job id, or runs exec (which records success
// itself, in its transaction) and records a failure.
func (w *Warehouse) runOnce(ctx context.Context, entry *jobEntry, exec func(started time.Time) (run.Stats, error)) (run.Stats, error) {
	select {
	case w.writeSem <- struct{}{}:
	case <-ctx.Done():
		return run.Stats{}, ctx.Err()
	}
	defer func() { <-w.writeSem }()

	rec, err := w.job(ctx, entry.ID)
	if err == nil {
		if rec.Error != nil {
			return rec.Stats, rec.Error
		}
		return rec.Stats, nil
	}
	if !errors.Is(err, warehouse.ErrNotFound) {
		return run.Stats{}, err
	}

	started := w.now()
	stats, err := exec(started)
	if err == nil {
		return stats, nil
	}
	var je *warehouse.JobError
	if !errors.As(err, &je) {
		return run.Stats{}, err
	}
	// A failed job is recorded so that its id keeps failing the same way, as in BigQuery.
	if rerr := w.record(ctx, w.db, entry, JobFailed, run.Stats{}, je, started); rerr != nil {
		return run.Stats{}, rerr
	}
	return run.Stats{}, je
}

// execute runs job's SQL into its destination and records it, in one transaction.
func (w *Warehouse) execute(ctx context.Context, job *warehouse.QueryJob, entry *jobEntry, started time.Time) (run.Stats, error) {
	defaults := w.defaults(job)
	tr, err := w.translate(ctx, job.SQL, defaults)
	if err != nil {
		return run.Stats{}, w.jobError(ctx, job.JobID, err)
	}
	// Measured before the write: the destination may be one of the inputs.
	inBytes, err := w.inputBytes(ctx, tr.reads)
	if err != nil {
		return run.Stats{}, w.jobError(ctx, job.JobID, err)
	}

	dest := job.Destination
	if dest.Project == "" {
		dest.Project = defaults.DefaultProject
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return run.Stats{}, fmt.Errorf("error starting job %q: %w", job.JobID, err)
	}
	defer func() { _ = tx.Rollback() }()

	rows, err := w.writeRows(ctx, tx, job.JobID, dest, job.Disposition, "("+tr.sql+"\n)")
	if err != nil {
		return run.Stats{}, err
	}
	elapsed := w.now().Sub(started).Milliseconds()
	if elapsed < 1 {
		elapsed = 1 // a job that ran took time; BigQuery never reports zero either
	}
	stats := run.Stats{
		BytesProcessed: inBytes,
		BytesBilled:    billed(inBytes, len(tr.reads)),
		SlotMillis:     elapsed,
		Rows:           rows,
		DurationMillis: elapsed,
	}
	if err := w.record(ctx, tx, entry, JobSucceeded, stats, nil, started); err != nil {
		return run.Stats{}, err
	}
	if err := tx.Commit(); err != nil {
		return run.Stats{}, w.jobError(ctx, job.JobID, err)
	}
	return stats, nil
}

// billed applies BigQuery's on-demand rounding: bytes rounded up to a whole MiB, at least
// 10 MiB per table read. A query that reads no table bills nothing.
func billed(processed int64, tables int) int64 {
	if tables == 0 {
		return 0
	}
	const mib = 1 << 20
	b := (processed + mib - 1) / mib * mib
	if floor := int64(10*mib) * int64(tables); b < floor {
		b = floor
	}
	return b
}

// writeRows writes the rows of a SELECT into dest within tx, as a job with that disposition:
// append inserts by column name (creating the table when it is missing), truncate replaces the
// table and its schema, as BigQuery's WRITE_TRUNCATE does. It returns the rows written.
func (w *Warehouse) writeRows(ctx context.Context, tx *sql.Tx, jobID string, dest sqlref.TableName, d spec.Disposition, query string) (int64, error) {
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(schemaName(dest))); err != nil {
		return 0, w.jobError(ctx, jobID, err)
	}
	target := quotePath(dest)
	create := true
	if d == spec.DispositionAppend {
		exists, err := w.tableExists(ctx, tx, dest)
		if err != nil {
			return 0, err
		}
		create = !exists
	}
	stmt := "INSERT INTO " + target + " BY NAME " + query
	if create {
		stmt = "CREATE OR REPLACE TABLE " + target + " AS " + query
	}
	res, err := tx.ExecContext(ctx, stmt)
	if err != nil {
		return 0, w.jobError(ctx, jobID, err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("error reading rows written by job %q: %w", jobID, err)
	}
	if create {
		// DuckDB reports no row count for CREATE TABLE AS; the new table holds exactly the rows written.
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+target).Scan(&rows); err != nil {
			return 0, w.jobError(ctx, jobID, err)
		}
	}
	return rows, nil
}

func (w *Warehouse) defaults(job *warehouse.QueryJob) sqlref.Options {
	o := sqlref.Options{DefaultProject: job.DefaultProject, DefaultDataset: job.DefaultDataset}
	if o.DefaultProject == "" {
		o.DefaultProject = job.Destination.Project
	}
	if o.DefaultProject == "" {
		o.DefaultProject = w.project
	}
	return o
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (w *Warehouse) record(ctx context.Context, ex execer, job *jobEntry, state string, stats run.Stats, je *warehouse.JobError, started time.Time) error {
	labels, err := json.Marshal(job.Labels)
	if err != nil {
		return fmt.Errorf("error encoding labels of job %q: %w", job.ID, err)
	}
	st, err := json.Marshal(stats)
	if err != nil {
		return fmt.Errorf("error encoding stats of job %q: %w", job.ID, err)
	}
	var errText sql.NullString
	if je != nil {
		b, err := json.Marshal(je)
		if err != nil {
			return fmt.Errorf("error encoding error of job %q: %w", job.ID, err)
		}
		errText = sql.NullString{String: string(b), Valid: true}
	}
	disp := job.Disposition
	if disp == "" {
		disp = spec.DispositionTruncate
	}
	_, err = ex.ExecContext(ctx, `INSERT INTO "_maestro"."jobs"
		(job_id, sql, destination, disposition, labels, state, stats, error, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		job.ID, job.SQL, job.Destination, string(disp), string(labels), state, string(st), errText,
		started.UTC(), w.now().UTC())
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("error recording job %q: %w", job.ID, err)
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const jobColumns = `job_id, sql, destination, disposition, labels, state, stats, error, started_at, finished_at`

func scanJob(sc interface{ Scan(...any) error }) (JobRecord, error) {
	var (
		r                         JobRecord
		dest, disp, labels, stats string
		errText                   sql.NullString
	)
	if err := sc.Scan(&r.JobID, &r.SQL, &dest, &disp, &labels, &r.State, &stats, &errText, &r.StartedAt, &r.FinishedAt); err != nil {
		return JobRecord{}, err
	}
	parts := strings.SplitN(dest, ".", 3)
	if len(parts) == 3 {
		r.Destination = sqlref.TableName{Project: parts[0], Dataset: parts[1], Table: parts[2]}
	}
	r.Disposition = spec.Disposition(disp)
	if err := json.Unmarshal([]byte(labels), &r.Labels); err != nil {
		return JobRecord{}, fmt.Errorf("error decoding labels of job %q: %w", r.JobID, err)
	}
	if err := json.Unmarshal([]byte(stats), &r.Stats); err != nil {
		return JobRecord{}, fmt.Errorf("error decoding stats of job %q: %w", r.JobID, err)
	}
	if errText.Valid {
		r.Error = &warehouse.JobError{}
		if err := json.Unmarshal([]byte(errText.String), r.Error); err != nil {
			return JobRecord{}, fmt.Errorf("error decoding error of job %q: %w", r.JobID, err)
		}
	}
	return r, nil
}

// job returns the job log's record of id, or warehouse.ErrNotFound.
func (w *Warehouse) job(ctx context.Context, id string) (JobRecord, error) {
	row := w.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM "_maestro"."jobs" WHERE job_id = ?`, id)
	r, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return JobRecord{}, warehouse.ErrNotFound
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return JobRecord{}, ctxErr
		}
		return JobRecord{}, fmt.Errorf("error loading job %q: %w", id, err)
	}
	return r, nil
}

// Jobs returns the job log, oldest first: every job that finished, succeeded or failed.
func (w *Warehouse) Jobs(ctx context.Context) ([]JobRecord, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM "_maestro"."jobs" ORDER BY started_at, job_id`)
	if err != nil {
		return nil, fmt.Errorf("error listing jobs: %w", err)
	}
	defer rows.Close()
	var out []JobRecord
	for rows.Next() {
		r, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("error listing jobs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error listing jobs: %w", err)
	}
	return out, nil
}

func (w *Warehouse) tableExists(ctx context.Context, q queryer, name sqlref.TableName) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM duckdb_tables()
		WHERE lower(schema_name) = lower(?) AND lower(table_name) = lower(?) AND NOT temporary`,
		schemaName(name), name.Table).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("error looking up table %q: %w", name.String(), err)
	}
	return n > 0, nil
}

// Table returns a table's rows, columns (in GoogleSQL type names), logical size and the time the
// last job wrote it (zero for a table no job wrote).
func (w *Warehouse) Table(ctx context.Context, name sqlref.TableName) (*warehouse.Table, error) {
	if name.Project == "" {
		name.Project = w.project
	}
	cols, err := w.columns(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("error loading table %q: %w", name.String(), warehouse.ErrNotFound)
	}
	t := &warehouse.Table{Name: name}
	for _, c := range cols {
		t.Columns = append(t.Columns, warehouse.Column{Name: c.name, Type: googleSQLType(c.duckType)})
	}
	t.Rows, t.Bytes, err = w.size(ctx, name, cols)
	if err != nil {
		return nil, err
	}
	var modified sql.NullTime
	err = w.db.QueryRowContext(ctx, `SELECT max(finished_at) FROM "_maestro"."jobs"
		WHERE destination = ? AND state = ?`, name.String(), JobSucceeded).Scan(&modified)
	if err != nil {
		return nil, fmt.Errorf("error loading table %q: %w", name.String(), err)
	}
	if modified.Valid {
		t.Modified = modified.Time
	}
	return t, nil
}

type column struct {
	name, duckType string
}

func (w *Warehouse) columns(ctx context.Context, name sqlref.TableName) ([]column, error) {
	rows, err := w.db.QueryContext(ctx, `SELECT column_name, data_type FROM duckdb_columns()
		WHERE lower(schema_name) = lower(?) AND lower(table_name) = lower(?) AND NOT internal
		ORDER BY column_index`, schemaName(name), name.Table)
	if err != nil {
		return nil, fmt.Errorf("error loading columns of %q: %w", name.String(), err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.duckType); err != nil {
			return nil, fmt.Errorf("error loading columns of %q: %w", name.String(), err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error loading columns of %q: %w", name.String(), err)
	}
	return out, nil
}

// size counts a table's rows and its logical bytes by BigQuery's sizing rules (8 bytes per
// number, date or timestamp, 1 per BOOL, 16 per NUMERIC, 2 + UTF-8 length per STRING or BYTES,
// 0 for NULL; nested values by their JSON text). It scans the table: DuckDB keeps no byte sizes.
func (w *Warehouse) size(ctx context.Context, name sqlref.TableName, cols []column) (rows, bytes int64, err error) {
	terms := make([]string, 0, len(cols))
	for _, c := range cols {
		terms = append(terms, sizeTerm(quoteIdent(c.name), c.duckType))
	}
	sum := "0"
	if len(terms) > 0 {
		sum = strings.Join(terms, " + ")
	}
	q := "SELECT count(*), coalesce(sum(" + sum + "), 0)::BIGINT FROM " + quotePath(name)
	if err := w.db.QueryRowContext(ctx, q).Scan(&rows, &bytes); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, 0, ctxErr
		}
		return 0, 0, fmt.Errorf("error measuring table %q: %w", name.String(), err)
	}
	return rows, bytes, nil
}

func sizeTerm(col, duckType string) string {
	t := strings.ToUpper(duckType)
	var size string
	switch {
	case t == "BOOLEAN":
		size = "1"
	// strlen counts UTF-8 bytes; a cast of text to BLOB would refuse any non-ASCII character.
	case t == "VARCHAR":
		size = "2 + strlen(" + col + ")"
	case t == "BLOB":
		size = "2 + octet_length(" + col + ")"
	case strings.HasPrefix(t, "DECIMAL"):
		size = "16"
	case strings.HasSuffix(t, "[]") || strings.HasPrefix(t, "STRUCT") || strings.HasPrefix(t, "MAP") || t == "JSON":
		size = "2 + strlen(to_json(" + col + ")::VARCHAR)"
	default:
		size = "8"
	}
	return "CASE WHEN " + col + " IS NULL THEN 0 ELSE " + size + " END"
}

// inputBytes sums the logical size of the tables a job reads: an upper bound of BigQuery's
// bytes processed, which counts only the columns referenced.
func (w *Warehouse) inputBytes(ctx context.Context, reads []sqlref.TableName) (int64, error) {
	var total int64
	for _, name := range reads {
		cols, err := w.columns(ctx, name)
		if err != nil {
			return 0, err
		}
		if len(cols) == 0 {
			continue // a missing input fails the job itself, with DuckDB's message
		}
		_, b, err := w.size(ctx, name, cols)
		if err != nil {
			return 0, err
		}
		total += b
	}
	return total, nil
}

// matchingTables lists the tables a wildcard path covers, sorted by name.
func (w *Warehouse) matchingTables(ctx context.Context, wildcard sqlref.TableName) ([]sqlref.TableName, error) {
	prefix := strings.TrimSuffix(wildcard.Table, "*")
	rows, err := w.db.QueryContext(ctx, `SELECT table_name FROM duckdb_tables()
		WHERE lower(schema_name) = lower(?) AND starts_with(lower(table_name), lower(?)) AND NOT temporary`,
		schemaName(wildcard), prefix)
	if err != nil {
		return nil, fmt.Errorf("error listing tables matching %q: %w", wildcard.String(), err)
	}
	defer rows.Close()
	var out []sqlref.TableName
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("error listing tables matching %q: %w", wildcard.String(), err)
		}
		out = append(out, sqlref.TableName{Project: wildcard.Project, Dataset: wildcard.Dataset, Table: t})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error listing tables matching %q: %w", wildcard.String(), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out, nil
}

// jobError turns a failure into a *warehouse.JobError, passing context and connection
// failures through (their outcome is unknown, so the caller may repeat the job).
func (w *Warehouse) jobError(ctx context.Context, jobID string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) {
		return err
	}
	var je *warehouse.JobError
	if errors.As(err, &je) {
		je.JobID = jobID
		return je
	}
	var lexErr *sqlref.Error
	if errors.As(err, &lexErr) {
		return &warehouse.JobError{JobID: jobID, Reason: "invalidQuery", Message: lexErr.Error()}
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return fmt.Errorf("error running job %q: %w", jobID, err)
	}
	reason, retryable := "invalidQuery", false
	switch de.Type {
	case duckdb.ErrorTypeCatalog:
		// Missing tables and datasets are "notFound", as in BigQuery; a missing function is a bad query.
		if strings.Contains(de.Msg, "Table with name") || strings.Contains(de.Msg, "Schema with name") {
			reason = "notFound"
		}
	case duckdb.ErrorTypeInterrupt:
		return fmt.Errorf("job %q interrupted: %w", jobID, err)
	case duckdb.ErrorTypeTransaction, duckdb.ErrorTypeIO, duckdb.ErrorTypeOutOfMemory, duckdb.ErrorTypeConnection:
		reason, retryable = "backendError", true
	case duckdb.ErrorTypeConversion, duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeDivideByZero,
		duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeConstraint:
		reason = "invalid"
	}
	return &warehouse.JobError{JobID: jobID, Reason: reason, Message: de.Msg, Retryable: retryable}
}

// schemaName is the DuckDB schema holding a dataset: "project.dataset". One database holds every
// project, so a job's write and its job log row commit in one transaction (DuckDB lets a
// transaction write to one attached database only, which rules out a database per project).
func schemaName(n sqlref.TableName) string {
	return n.Project + "." + n.Dataset
}

// quotePath renders a table path as DuckDB's "project.dataset"."table".
func quotePath(n sqlref.TableName) string {
	return quoteIdent(schemaName(n)) + "." + quoteIdent(n.Table)
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// googleSQLType names a DuckDB column type as GoogleSQL does.
func googleSQLType(duckType string) string {
	t := strings.ToUpper(strings.TrimSpace(duckType))
	if strings.HasSuffix(t, "[]") {
		return "ARRAY<" + googleSQLType(strings.TrimSuffix(t, "[]")) + ">"
	}
	switch {
	case strings.HasPrefix(t, "DECIMAL"):
		return "NUMERIC"
	case strings.HasPrefix(t, "STRUCT"):
		return "STRUCT"
	case strings.HasPrefix(t, "MAP"):
		return "JSON"
	}
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT":
		return "INT64"
	case "FLOAT", "DOUBLE":
		return "FLOAT64"
	case "VARCHAR", "UUID":
		return "STRING"
	case "BOOLEAN":
		return "BOOL"
	case "BLOB":
		return "BYTES"
	case "TIMESTAMP WITH TIME ZONE":
		return "TIMESTAMP"
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		// A wall clock without zone is BigQuery's DATETIME (a load maps DATETIME to TIMESTAMP).
		return "DATETIME"
	}
	return t // DATE, TIME, INTERVAL, JSON share their names
}
