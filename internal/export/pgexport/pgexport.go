// Package pgexport replaces a PostgreSQL table with a table's rows, so that readers of the
// PostgreSQL table see either all of the old rows or all of the new ones, never a mix or none.
//
// Export runs in one transaction: it creates a staging table with the exported columns in the
// destination's schema, streams the rows into it with COPY, then drops the old table and renames
// the staging table into its place. Until the commit, readers keep reading the old table; the
// ACCESS EXCLUSIVE lock the swap needs is held only from the DROP to the commit. If anything fails
// (a row that does not convert, a dropped connection, a cancelled context) the transaction rolls
// back: the old table is untouched and no staging table is left behind.
//
// The new table is plain: indexes, grants, comments and dependent views of the old one are not
// carried over. A view that depends on the destination makes the DROP (and so the export) fail
// with PostgreSQL's "other objects depend on it" error, leaving the old table in place.
//
// Every identifier is quoted with pgx.Identifier.Sanitize, and column types come from a closed
// list (Type), so no part of a table or column name is ever executed as SQL.
package pgexport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Type is a warehouse column type that Export knows how to create in PostgreSQL.
type Type string

// The warehouse types, by their BigQuery names.
const (
	Int64      Type = "INT64"
	Float64    Type = "FLOAT64"
	Numeric    Type = "NUMERIC"
	BigNumeric Type = "BIGNUMERIC"
	Bool       Type = "BOOL"
	String     Type = "STRING"
	Bytes      Type = "BYTES"
	Date       Type = "DATE"
	Time       Type = "TIME"
	DateTime   Type = "DATETIME"
	Timestamp  Type = "TIMESTAMP"
	JSON       Type = "JSON"
)

// postgresTypes maps each Type to the PostgreSQL type that holds all of its values.
var postgresTypes = map[Type]string{
	Int64:      "bigint",
	Float64:    "double precision",
	Numeric:    "numeric",
	BigNumeric: "numeric",
	Bool:       "boolean",
	String:     "text",
	Bytes:      "bytea",
	Date:       "date",
	Time:       "time without time zone",
	DateTime:   "timestamp without time zone",
	Timestamp:  "timestamp with time zone",
	JSON:       "jsonb",
}

// legacyNames are BigQuery's older spellings, as a table schema may still report them.
var legacyNames = map[string]Type{
	"INTEGER": Int64, "FLOAT": Float64, "BOOLEAN": Bool, "DECIMAL": Numeric, "BIGDECIMAL": BigNumeric,
}

// ParseType returns the Type named s (case-insensitive; legacy names such as INTEGER accepted).
func ParseType(s string) (Type, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if t, ok := legacyNames[name]; ok {
		return t, nil
	}
	if _, ok := postgresTypes[Type(name)]; ok {
		return Type(name), nil
	}
	return "", fmt.Errorf("column type %q cannot be exported to PostgreSQL", s)
}

// PostgresType returns the PostgreSQL type a column of type t is created with.
func (t Type) PostgresType() (string, error) {
	pg, ok := postgresTypes[t]
	if !ok {
		return "", fmt.Errorf("column type %q cannot be exported to PostgreSQL", string(t))
	}
	return pg, nil
}

// Column is one exported column.
type Column struct {
	Name string
	Type Type
	// Required columns are created NOT NULL.
	Required bool
}

// Destination names the PostgreSQL table to replace.
type Destination struct {
	// Schema holds the table; it must exist. Defaults to "public".
	Schema string
	// Table is the table's name, used exactly as given (case and punctuation kept).
	Table string
}

// Rows yields the rows to export. pgx.CopyFromSource has the same shape, so pgx.CopyFromRows and
// pgx.CopyFromSlice can be passed as they are.
type Rows interface {
	// Next advances to the next row; false at the end or on error (see Err).
	Next() bool
	// Values returns the current row, one value per Column in order. Go values are converted to
	// the column's PostgreSQL type by pgx (int64 for Int64, string or []byte for JSON, time.Time
	// for the date and time types, nil for NULL, ...).
	Values() ([]any, error)
	// Err is the error that ended iteration, if any.
	Err() error
}

// Beginner starts a transaction; *pgx.Conn and *pgxpool.Pool satisfy it.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options tunes Export. A nil *Options uses the defaults.
type Options struct {
	// LockTimeout bounds the wait for the old table's lock at the swap. A long-running reader of
	// the old table would otherwise stall the export, and every reader queued behind it. Defaults
	// to 1 minute.
	LockTimeout time.Duration
}

// Result describes a finished export.
type Result struct {
	// Rows is the number of rows the new table holds.
	Rows int64
}

// maxIdentifierBytes is PostgreSQL's NAMEDATALEN-1: longer names are silently truncated, which
// could make two distinct names collide, so they are refused instead.
const maxIdentifierBytes = 63

// Export replaces dest with rows, whose columns are columns, in one transaction (see the package
// documentation). Concurrent exports to the same destination run one after the other.
func Export(ctx context.Context, db Beginner, dest Destination, columns []Column, rows Rows, opts *Options) (Result, error) {
	if dest.Schema == "" {
		dest.Schema = "public"
	}
	lockTimeout := time.Minute
	if opts != nil && opts.LockTimeout > 0 {
		lockTimeout = opts.LockTimeout
	}
	if err := validate(dest, columns); err != nil {
		return Result{}, err
	}
	target := pgx.Identifier{dest.Schema, dest.Table}.Sanitize()
	stagingName, err := stagingTableName()
	if err != nil {
		return Result{}, err
	}
	staging := pgx.Identifier{dest.Schema, stagingName}

	var defs, names []string
	for _, c := range columns {
		pg, _ := c.Type.PostgresType() // validated above
		def := pgx.Identifier{c.Name}.Sanitize() + " " + pg
		if c.Required {
			def += " NOT NULL"
		}
		defs = append(defs, def)
		names = append(names, c.Name)
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("error beginning export to %s: %w", target, err)
	}
	// Rollback after Commit is a no-op; on every error path it discards the staging table.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "maestro.pgexport:"+target); err != nil {
		return Result{}, fmt.Errorf("error locking export destination %s: %w", target, err)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE "+staging.Sanitize()+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return Result{}, fmt.Errorf("error creating staging table for %s: %w", target, err)
	}
	src := &countingRows{rows: rows}
	copied, err := tx.CopyFrom(ctx, staging, names, src)
	if err != nil {
		return Result{}, fmt.Errorf("error copying rows into staging table for %s (after %d rows): %w", target, src.n, err)
	}
	if copied != src.n {
		return Result{}, fmt.Errorf("error copying rows into staging table for %s: %d rows read, %d copied", target, src.n, copied)
	}
	// SET LOCAL takes no bind parameters; the value is an integer we formatted ourselves.
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", lockTimeout.Milliseconds())); err != nil {
		return Result{}, fmt.Errorf("error setting lock timeout for %s: %w", target, err)
	}
	if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+target); err != nil {
		return Result{}, fmt.Errorf("error dropping the old table %s: %w", target, err)
	}
	if _, err := tx.Exec(ctx, "ALTER TABLE "+staging.Sanitize()+" RENAME TO "+pgx.Identifier{dest.Table}.Sanitize()); err != nil {
		return Result{}, fmt.Errorf("error renaming staging table to %s: %w", target, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Result{}, fmt.Errorf("error committing export to %s: %w", target, err)
	}
	return Result{Rows: copied}, nil
}

func validate(dest Destination, columns []Column) error {
	if err := validIdentifier("schema", dest.Schema); err != nil {
		return err
	}
	if err := validIdentifier("table", dest.Table); err != nil {
		return err
	}
	if len(columns) == 0 {
		return fmt.Errorf("error exporting to %q: no columns", dest.Table)
	}
	seen := make(map[string]bool, len(columns))
	for i, c := range columns {
		if err := validIdentifier(fmt.Sprintf("column %d", i+1), c.Name); err != nil {
			return err
		}
		if seen[c.Name] {
			return fmt.Errorf("column name %q appears twice", c.Name)
		}
		seen[c.Name] = true
		if _, err := c.Type.PostgresType(); err != nil {
			return fmt.Errorf("column %q: %w", c.Name, err)
		}
	}
	return nil
}

func validIdentifier(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name is empty", what)
	case len(name) > maxIdentifierBytes:
		return fmt.Errorf("%s name %q is longer than PostgreSQL's %d bytes", what, name, maxIdentifierBytes)
	case strings.ContainsRune(name, 0):
		// Sanitize would drop the NUL and name a different table.
		return fmt.Errorf("%s name %q contains a NUL character", what, name)
	}
	return nil
}

// stagingTableName is random so that a leftover from a crashed server, or another export's
// uncommitted staging table, never collides with ours.
func stagingTableName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("error naming staging table: %w", err)
	}
	return "maestro_staging_" + hex.EncodeToString(b[:]), nil
}

// countingRows counts the rows handed to COPY, to check against what the server reports.
type countingRows struct {
	rows Rows
	n    int64
}

func (c *countingRows) Next() bool {
	if !c.rows.Next() {
		return false
	}
	c.n++
	return true
}

func (c *countingRows) Values() ([]any, error) { return c.rows.Values() }

func (c *countingRows) Err() error {
	if err := c.rows.Err(); err != nil {
		return fmt.Errorf("error reading row %d to export: %w", c.n+1, err)
	}
	return nil
}

var _ pgx.CopyFromSource = (*countingRows)(nil)
