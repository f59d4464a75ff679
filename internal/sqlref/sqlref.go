// Package sqlref reads BigQuery (GoogleSQL) text and reports which tables it reads and writes.
//
// It has two layers: a lexer (Lex) that turns SQL into positioned tokens, and a scope-aware
// extractor (Extract) that walks those tokens statement by statement, tracking CTEs, aliases,
// UNNEST and array paths, scripting temp objects and DML/DDL targets, so that only real tables
// are reported. Nothing here uses regular expressions over the SQL text.
package sqlref

import "strings"

// TableName is a BigQuery table path. Parts are lowercased for comparison; a part that the SQL
// did not give and no default filled stays empty.
type TableName struct {
	Project string
	Dataset string
	Table   string
}

// String renders the name as project.dataset.table, with empty parts left empty
// (".dataset.table", "..table").
func (n TableName) String() string {
	return n.Project + "." + n.Dataset + "." + n.Table
}

// IsWildcard reports whether the name is a wildcard table such as events_* or events_2024*.
func (n TableName) IsWildcard() bool { return strings.HasSuffix(n.Table, "*") }

// Matches reports whether the concrete table other is covered by n: equal names, or n is a
// wildcard whose prefix other's table name starts with (project and dataset equal).
func (n TableName) Matches(other TableName) bool {
	if n.Project != other.Project || n.Dataset != other.Dataset {
		return false
	}
	if n.IsWildcard() {
		return strings.HasPrefix(other.Table, strings.TrimSuffix(n.Table, "*"))
	}
	return n.Table == other.Table
}

// Less orders names by project, dataset, table.
func (n TableName) Less(o TableName) bool {
	if n.Project != o.Project {
		return n.Project < o.Project
	}
	if n.Dataset != o.Dataset {
		return n.Dataset < o.Dataset
	}
	return n.Table < o.Table
}

// Options fill the parts a reference leaves out.
type Options struct {
	// DefaultProject resolves `dataset.table` and bare `table`. Defaults to empty (left empty).
	DefaultProject string
	// DefaultDataset resolves a bare `table`. Defaults to empty (left empty).
	DefaultDataset string
}

// Reference is one occurrence of a table path in the source, with the byte span of the whole
// path (from the first byte of its first token to the end of its last), so callers can rewrite
// the SQL text in place (the DuckDB warehouse turns `p.d.t` into "p"."d"."t").
type Reference struct {
	Name  TableName
	Start int // byte offset of the first byte of the path
	End   int // byte offset just past the path
	Write bool
}

// Result is what one piece of SQL (one or more statements, a script) reads and writes.
type Result struct {
	// Reads are the tables read, sorted and unique. Tables the SQL itself writes permanently
	// earlier in the same script and then reads back are not reads; temp tables never are.
	Reads []TableName
	// Writes are the permanent tables created, replaced, inserted into, updated, merged into,
	// deleted from, truncated or dropped, sorted and unique.
	Writes []TableName
	// References lists every table path occurrence in source order (reads and writes), for
	// rewriting. CTE names, aliases, temp tables and function names are not in it.
	References []Reference
}
