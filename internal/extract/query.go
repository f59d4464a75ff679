package extract

import (
	"fmt"
	"strings"
)

// Dialect is a source's flavour of SQL.
type Dialect int

const (
	// DialectPostgres quotes identifiers with double quotes and numbers parameters $1, $2, ….
	DialectPostgres Dialect = iota + 1
	// DialectMySQL quotes identifiers with backticks and uses ? parameters (MySQL and MariaDB).
	DialectMySQL
	// DialectSQLite quotes identifiers with double quotes and uses ? parameters.
	DialectSQLite
)

func (d Dialect) String() string {
	switch d {
	case DialectPostgres:
		return "postgres"
	case DialectMySQL:
		return "mysql"
	case DialectSQLite:
		return "sqlite"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// QuoteIdent quotes one identifier (a column, table or schema name) so that any name, including
// reserved words and names with quotes in them, reaches the database as written.
func (d Dialect) QuoteIdent(name string) string {
	q := `"`
	if d == DialectMySQL {
		q = "`"
	}
	return q + strings.ReplaceAll(name, q, q+q) + q
}

func (d Dialect) param(n int) string {
	if d == DialectPostgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

// Query is what Run reads.
type Query struct {
	// SQL is the statement; Args are bound to its parameters.
	SQL  string
	Args []any
	// Watermark optionally names a result column (integer or timestamp) whose greatest value
	// Run reports in Result.Watermark, to be passed as After next time.
	Watermark string
	// After is the watermark value this query starts after (nil for a full import).
	After any
}

// Table names a source table: Schema may be empty (the connection's default schema or
// database).
type Table struct {
	Schema, Name string
}

func (t Table) quoted(d Dialect) string {
	if t.Schema == "" {
		return d.QuoteIdent(t.Name)
	}
	return d.QuoteIdent(t.Schema) + "." + d.QuoteIdent(t.Name)
}

// TableQuery reads a whole table, or, with a watermark column, the rows whose watermark is
// greater than after (all of them when after is nil). after is bound as a parameter, never
// written into the SQL. The rows are not sorted: Run finds the greatest watermark as it reads.
//
// Rows committed late with a watermark below one already imported (a long transaction holding
// a sequence value) are not seen by the next run; a periodic full import picks them up.
func TableQuery(d Dialect, t Table, watermarkColumn string, after any) Query {
	q := Query{SQL: "SELECT * FROM " + t.quoted(d), Watermark: watermarkColumn, After: after}
	return q.since(d, q.SQL+" WHERE ")
}

// since, for an incremental query, sets SQL to head followed by the watermark condition, with
// After bound to its parameter; a full query is left as it is.
func (q Query) since(d Dialect, head string) Query {
	if q.Watermark != "" && q.After != nil {
		q.SQL = head + d.QuoteIdent(q.Watermark) + " > " + d.param(1)
		q.Args = []any{q.After}
	}
	return q
}

// WrapQuery reads a query the user wrote in the source's dialect, or, with a watermark column,
// only its rows whose watermark is greater than after (all of them when after is nil). The
// query becomes a subquery; after is bound as a parameter.
func WrapQuery(d Dialect, sql, watermarkColumn string, after any) Query {
	sql = strings.TrimSpace(sql)
	for strings.HasSuffix(sql, ";") {
		sql = strings.TrimSpace(strings.TrimSuffix(sql, ";"))
	}
	q := Query{SQL: sql, Watermark: watermarkColumn, After: after}
	return q.since(d, "SELECT * FROM ("+sql+"\n) AS maestro_source WHERE ")
}
