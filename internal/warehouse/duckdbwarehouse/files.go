package duckdbwarehouse

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

var (
	_ warehouse.Loader    = (*Warehouse)(nil)
	_ warehouse.Extractor = (*Warehouse)(nil)
)

// tmpDir is localblob's folder of writes in progress: never loaded from, and where extracts
// are written before they are renamed into place.
const tmpDir = ".tmp"

// Load loads files of the embedded bucket (Options.FilesDir) into job.Destination, or returns
// the outcome of the job with the same id that ran before. Stats: Rows = rows loaded,
// BytesProcessed = bytes of the input files; loads bill nothing.
func (w *Warehouse) Load(ctx context.Context, job *warehouse.LoadJob) (run.Stats, error) {
	if err := job.Check(); err != nil {
		return run.Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return run.Stats{}, err
	}
	invalid := func(msg string) error {
		return &warehouse.JobError{JobID: job.JobID, Reason: "invalid", Message: msg}
	}
	dest := job.Destination
	if dest.Project == "" {
		dest.Project = w.project
	}
	keys := make([]string, 0, len(job.SourceURIs))
	for _, uri := range job.SourceURIs {
		key, err := w.objectKey(uri)
		if err != nil {
			return run.Stats{}, invalid(err.Error())
		}
		if strings.Count(key, "*") > 1 {
			return run.Stats{}, invalid(fmt.Sprintf("source %q has more than one * wildcard", uri))
		}
		keys = append(keys, key)
	}
	var schema []string
	if job.Format != warehouse.FormatParquet {
		for _, c := range job.Schema {
			t, err := duckTypeOf(c.Type)
			if err != nil {
				return run.Stats{}, invalid(fmt.Sprintf("column %q: %v", c.Name, err))
			}
			schema = append(schema, quoteLiteral(c.Name)+": "+quoteLiteral(t))
		}
	}
	switch job.Format {
	case warehouse.FormatCSV, "", warehouse.FormatJSON, warehouse.FormatParquet:
	default:
		return run.Stats{}, invalid(fmt.Sprintf("format %q cannot be loaded (csv, json or parquet)", job.Format))
	}

	entry := &jobEntry{ID: job.JobID, Destination: job.Destination.String(), Disposition: job.Disposition,
		Labels: job.Labels,
		SQL:    fmt.Sprintf("LOAD %s FROM %s", formatName(job.Format), strings.Join(job.SourceURIs, ", "))}
	return w.single(ctx, entry, func(started time.Time) (run.Stats, error) {
		files, size, err := w.matchFiles(keys, job.SourceURIs)
		if err != nil {
			return run.Stats{}, w.jobError(ctx, job.JobID, err)
		}
		return w.load(ctx, job, entry, dest, reader(job, files, schema), size, started)
	})
}

// load writes the rows of source (a DuckDB table function call) into dest and records entry,
// in one transaction.
func (w *Warehouse) load(ctx context.Context, job *warehouse.LoadJob, entry *jobEntry, dest sqlref.TableName, source string, inBytes int64, started time.Time) (run.Stats, error) {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return run.Stats{}, fmt.Errorf("error starting job %q: %w", job.JobID, err)
	}
	defer func() { _ = tx.Rollback() }()
	if job.AllowFieldAddition && job.Disposition == spec.DispositionAppend {
		if err := w.addColumns(ctx, tx, job.JobID, dest, source); err != nil {
			return run.Stats{}, err
		}
	}
	rows, err := w.writeRows(ctx, tx, job.JobID, dest, job.Disposition, "SELECT * FROM "+source)
	if err != nil {
		return run.Stats{}, err
	}
	stats := run.Stats{BytesProcessed: inBytes, Rows: rows}
	stats.DurationMillis = max(w.now().Sub(started).Milliseconds(), 1)
	stats.SlotMillis = stats.DurationMillis
	if err := w.record(ctx, tx, entry, JobSucceeded, stats, nil, started); err != nil {
		return run.Stats{}, err
	}
	if err := tx.Commit(); err != nil {
		return run.Stats{}, w.jobError(ctx, job.JobID, err)
	}
	return stats, nil
}

// addColumns adds to dest, when it exists, the columns of source (a table function call) it
// lacks, with their types, before an append: BigQuery's ALLOW_FIELD_ADDITION. Names compare
// case-insensitively, as BigQuery's do.
func (w *Warehouse) addColumns(ctx context.Context, tx *sql.Tx, jobID string, dest sqlref.TableName, source string) error {
	exists, err := w.tableExists(ctx, tx, dest)
	if err != nil || !exists {
		return err
	}
	have := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT column_name FROM duckdb_columns()
		WHERE lower(schema_name) = lower(?) AND lower(table_name) = lower(?) AND NOT internal`, schemaName(dest), dest.Table)
	if err != nil {
		return w.jobError(ctx, jobID, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return w.jobError(ctx, jobID, err)
		}
		have[strings.ToLower(name)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return w.jobError(ctx, jobID, err)
	}
	desc, err := tx.QueryContext(ctx, "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "+source+")")
	if err != nil {
		return w.jobError(ctx, jobID, err)
	}
	var add []column
	for desc.Next() {
		var c column
		if err := desc.Scan(&c.name, &c.duckType); err != nil {
			desc.Close()
			return w.jobError(ctx, jobID, err)
		}
		if !have[strings.ToLower(c.name)] {
			add = append(add, c)
		}
	}
	desc.Close()
	if err := desc.Err(); err != nil {
		return w.jobError(ctx, jobID, err)
	}
	for _, c := range add {
		if _, err := tx.ExecContext(ctx, "ALTER TABLE "+quotePath(dest)+" ADD COLUMN "+quoteIdent(c.name)+" "+c.duckType); err != nil {
			return w.jobError(ctx, jobID, err)
		}
	}
	return nil
}

// reader is the DuckDB table function call that reads files in job's format.
func reader(job *warehouse.LoadJob, files []string, schema []string) string {
	list := make([]string, len(files))
	for i, f := range files {
		list[i] = quoteLiteral(f)
	}
	args := []string{"[" + strings.Join(list, ", ") + "]"}
	columns := "{" + strings.Join(schema, ", ") + "}"
	switch job.Format {
	case warehouse.FormatParquet:
		return "read_parquet(" + strings.Join(args, ", ") + ")"
	case warehouse.FormatJSON:
		args = append(args, "format = 'newline_delimited'")
		if len(schema) > 0 {
			args = append(args, "columns = "+columns)
		}
		return "read_json(" + strings.Join(args, ", ") + ")"
	}
	// BigQuery's CSV dialect, rather than DuckDB's guess (which can misread one-column files).
	args = append(args, `delim = ','`, `quote = '"'`, `escape = '"'`)
	switch {
	case len(schema) > 0:
		// Given columns: every skipped row is data to ignore, none names the columns.
		args = append(args, "columns = "+columns, "header = false", fmt.Sprintf("skip = %d", job.SkipLeadingRows))
	case job.SkipLeadingRows > 0:
		// Detected columns: as BigQuery's autodetect, the last skipped row is the header.
		args = append(args, "header = true", fmt.Sprintf("skip = %d", job.SkipLeadingRows-1))
	}
	return "read_csv(" + strings.Join(args, ", ") + ")"
}

func formatName(f warehouse.FileFormat) string {
	if f == "" {
		return string(warehouse.FormatCSV)
	}
	return string(f)
}

// duckTypeOf maps a load schema's GoogleSQL type (ARRAY<T> allowed) to DuckDB's.
func duckTypeOf(googleSQL string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(googleSQL))
	if strings.HasPrefix(t, "ARRAY<") && strings.HasSuffix(t, ">") {
		inner, err := duckTypeOf(t[len("ARRAY<") : len(t)-1])
		if err != nil {
			return "", err
		}
		return inner + "[]", nil
	}
	if d, ok := loadTypes[t]; ok {
		return d, nil
	}
	return "", fmt.Errorf("type %q cannot be loaded", googleSQL)
}

var loadTypes = map[string]string{
	"INT64": "BIGINT", "INTEGER": "BIGINT", "FLOAT64": "DOUBLE", "FLOAT": "DOUBLE",
	"BOOL": "BOOLEAN", "BOOLEAN": "BOOLEAN", "STRING": "VARCHAR", "BYTES": "BLOB",
	"DATE": "DATE", "TIME": "TIME", "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMPTZ",
	"NUMERIC": "DECIMAL(38, 9)", "BIGNUMERIC": "DECIMAL(38, 9)", "JSON": "JSON", "INTERVAL": "INTERVAL",
}

// objectKey maps a gs://<bucket>/<key> URI to its key in the embedded bucket. The bucket name is
// not checked: the embedded setup has one bucket, and pipelines name their production one.
func (w *Warehouse) objectKey(uri string) (string, error) {
	if w.filesDir == "" {
		return "", errors.New("this warehouse has no files folder (Options.FilesDir)")
	}
	rest, ok := strings.CutPrefix(uri, "gs://")
	if !ok {
		return "", fmt.Errorf("%q is not a gs://bucket/path URI", uri)
	}
	_, key, ok := strings.Cut(rest, "/")
	if !ok || key == "" {
		return "", fmt.Errorf("%q names no object", uri)
	}
	if err := blob.ValidateKey(key); err != nil {
		return "", fmt.Errorf("URI %q: %w", uri, err)
	}
	if key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return "", fmt.Errorf("URI %q: objects under %s/ are writes in progress", uri, tmpDir)
	}
	return key, nil
}

// matchFiles lists the regular files the keys name (a * matches any characters, slashes too,
// as in Cloud Storage), as absolute paths, with their total size. A key that matches nothing is
// a notFound JobError. Symbolic links are never followed, so no file outside the folder is read.
func (w *Warehouse) matchFiles(keys, uris []string) ([]string, int64, error) {
	root, err := os.OpenRoot(w.filesDir)
	if err != nil {
		return nil, 0, &warehouse.JobError{Reason: "notFound", Message: fmt.Sprintf("error opening files folder: %v", err)}
	}
	defer root.Close()
	var (
		files []string
		total int64
	)
	for i, key := range keys {
		matched, size, err := matchKey(root, key)
		if err != nil {
			return nil, 0, err
		}
		if len(matched) == 0 {
			return nil, 0, &warehouse.JobError{Reason: "notFound", Message: fmt.Sprintf("no file matches %s", uris[i])}
		}
		for _, m := range matched {
			files = append(files, filepath.Join(w.filesDir, filepath.FromSlash(m)))
		}
		total += size
	}
	return files, total, nil
}

func matchKey(root *os.Root, key string) ([]string, int64, error) {
	prefix, suffix, wildcard := strings.Cut(key, "*")
	if !wildcard {
		fi, err := root.Lstat(key)
		if err != nil || !fi.Mode().IsRegular() {
			return nil, 0, nil
		}
		return []string{key}, fi.Size(), nil
	}
	// Walk from the deepest folder the prefix names whole.
	start := "."
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = prefix[:i]
	}
	var (
		out   []string
		total int64
	)
	err := fs.WalkDir(root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p == tmpDir {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p[len(prefix):], suffix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p)
		total += fi.Size()
		return nil
	})
	if err != nil {
		// Typically a folder that is a symbolic link out of the files folder: not worth retrying.
		return nil, 0, &warehouse.JobError{Reason: "invalid", Message: fmt.Sprintf("error listing files matching %q: %v", key, err)}
	}
	sort.Strings(out)
	return out, total, nil
}

// Extract writes job.Source to one file of the embedded bucket (Options.FilesDir), or returns
// the outcome of the job with the same id that ran before. A * in the destination becomes
// 000000000000, BigQuery's first file number: the table is never split. The file appears whole
// or not at all. Stats: Rows = rows written, BytesProcessed = the table's logical size.
func (w *Warehouse) Extract(ctx context.Context, job *warehouse.ExtractJob) (*warehouse.ExtractResult, error) {
	if job == nil || job.JobID == "" {
		return nil, &warehouse.JobError{Reason: "invalid", Message: "a job needs an id"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	invalid := func(msg string) error {
		return &warehouse.JobError{JobID: job.JobID, Reason: "invalid", Message: msg}
	}
	src := job.Source
	if src.Dataset == "" || src.Table == "" || src.IsWildcard() {
		return nil, invalid(fmt.Sprintf("source %q is not a table path", src.String()))
	}
	if src.Project == "" {
		src.Project = w.project
	}
	key, err := w.objectKey(job.DestinationURI)
	if err != nil {
		return nil, invalid(err.Error())
	}
	if strings.Count(key, "*") > 1 {
		return nil, invalid(fmt.Sprintf("destination %q has more than one * wildcard", job.DestinationURI))
	}
	key = strings.Replace(key, "*", "000000000000", 1)
	opts, err := copyOptions(job)
	if err != nil {
		return nil, invalid(err.Error())
	}
	entry := &jobEntry{ID: job.JobID, Labels: job.Labels,
		SQL: fmt.Sprintf("EXTRACT %s TO %s (%s)", src.String(), job.DestinationURI, opts)}
	stats, err := w.single(ctx, entry, func(started time.Time) (run.Stats, error) {
		return w.extract(ctx, job, entry, src, key, opts, started)
	})
	if err != nil {
		return nil, err
	}
	return &warehouse.ExtractResult{Files: 1, Stats: stats}, nil
}

// copyOptions are the COPY ... TO options of job's format and compression. Parquet compresses
// its pages itself: zstd unless gzip is asked for; the file as a whole is never compressed.
func copyOptions(job *warehouse.ExtractJob) (string, error) {
	var opts []string
	switch job.Format {
	case warehouse.FormatCSV, "":
		opts = append(opts, "FORMAT csv", fmt.Sprintf("HEADER %t", job.Header))
	case warehouse.FormatJSON:
		opts = append(opts, "FORMAT json")
	case warehouse.FormatParquet:
		codec := "zstd"
		if job.Compression == warehouse.CompressionGzip {
			codec = "gzip"
		}
		if job.Compression != warehouse.CompressionNone && job.Compression != warehouse.CompressionGzip {
			return "", fmt.Errorf("compression %q is not none or gzip", job.Compression)
		}
		return strings.Join(append(opts, "FORMAT parquet", "COMPRESSION "+codec), ", "), nil
	default:
		return "", fmt.Errorf("format %q cannot be extracted (csv, json or parquet)", job.Format)
	}
	switch job.Compression {
	case warehouse.CompressionNone:
		opts = append(opts, "COMPRESSION none")
	case warehouse.CompressionGzip:
		opts = append(opts, "COMPRESSION gzip")
	default:
		return "", fmt.Errorf("compression %q is not none or gzip", job.Compression)
	}
	return strings.Join(opts, ", "), nil
}

// extract copies src into a temporary file of the folder's .tmp and renames it to key, then
// records entry. The rename comes last so that a failed job leaves no file.
func (w *Warehouse) extract(ctx context.Context, job *warehouse.ExtractJob, entry *jobEntry, src sqlref.TableName, key, opts string, started time.Time) (run.Stats, error) {
	cols, err := w.columns(ctx, src)
	if err != nil {
		return run.Stats{}, err
	}
	if len(cols) == 0 {
		return run.Stats{}, &warehouse.JobError{JobID: job.JobID, Reason: "notFound",
			Message: fmt.Sprintf("table %s not found", src.String())}
	}
	_, inBytes, err := w.size(ctx, src, cols)
	if err != nil {
		return run.Stats{}, err
	}
	root, err := os.OpenRoot(w.filesDir)
	if err != nil {
		return run.Stats{}, fmt.Errorf("error opening files folder %q: %w", w.filesDir, err)
	}
	defer root.Close()
	if err := root.MkdirAll(tmpDir, 0o755); err != nil {
		return run.Stats{}, fmt.Errorf("error creating %s in %q: %w", tmpDir, w.filesDir, err)
	}
	tmpKey := path.Join(tmpDir, "extract-"+rand.Text())
	tmpPath := filepath.Join(w.filesDir, filepath.FromSlash(tmpKey))
	defer func() { _ = root.Remove(tmpKey) }() // gone already once renamed

	res, err := w.db.ExecContext(ctx, "COPY "+quotePath(src)+" TO "+quoteLiteral(tmpPath)+" ("+opts+")")
	if err != nil {
		return run.Stats{}, w.jobError(ctx, job.JobID, err)
	}
	rows, err := res.RowsAffected()
	if err != nil {
		return run.Stats{}, fmt.Errorf("error reading rows written by job %q: %w", job.JobID, err)
	}
	if dir := path.Dir(key); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return run.Stats{}, &warehouse.JobError{JobID: job.JobID, Reason: "invalid",
				Message: fmt.Sprintf("error creating folder of %s: %v", job.DestinationURI, err)}
		}
	}
	stats := run.Stats{BytesProcessed: inBytes, Rows: rows}
	stats.DurationMillis = max(w.now().Sub(started).Milliseconds(), 1)
	stats.SlotMillis = stats.DurationMillis
	if err := root.Rename(tmpKey, key); err != nil {
		return run.Stats{}, &warehouse.JobError{JobID: job.JobID, Reason: "invalid",
			Message: fmt.Sprintf("error writing %s: %v", job.DestinationURI, err)}
	}
	if err := w.record(ctx, w.db, entry, JobSucceeded, stats, nil, started); err != nil {
		return run.Stats{}, err
	}
	return stats, nil
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
