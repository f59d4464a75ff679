package project

import (
	"fmt"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
)

type externalFile struct {
	Format  string `yaml:"format"`
	Timeout string `yaml:"timeout"`
	// A pointer: header on a JSON table is an error whatever its value, and CSV defaults to true.
	Header *bool        `yaml:"header"`
	Schema []columnFile `yaml:"schema"`
}

type columnFile struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

const (
	kindExternal = "external"
	// ExternalTimeoutDefault is how long a run waits for an upload when the sidecar says nothing.
	ExternalTimeoutDefault = time.Hour
	// ExternalTimeoutMax bounds the wait: an upload URL is valid at most 7 days (Cloud Storage's
	// limit for signed URLs), and a run held open longer is more likely forgotten than waited for.
	ExternalTimeoutMax = 7 * 24 * time.Hour
)

// externalTypes are the GoogleSQL types a CSV or JSON upload's column may be declared as: the
// scalar types both warehouses load.
var externalTypes = map[string]bool{
	"STRING": true, "BYTES": true, "INT64": true, "INTEGER": true, "FLOAT64": true, "FLOAT": true,
	"NUMERIC": true, "BIGNUMERIC": true, "BOOL": true, "BOOLEAN": true, "DATE": true, "TIME": true,
	"DATETIME": true, "TIMESTAMP": true, "JSON": true,
}

// applyExternal makes t an external table from the sidecar's external block.
func applyExternal(file string, ln *lines, f tableFile, t *spec.Table) errorList {
	var errs errorList
	var ex externalFile
	if f.External != nil {
		ex = *f.External
	}
	if f.Import != nil || ln.has("import") {
		errs.add(file, ln.keyAt("external"), "a table is either an import or external, not both: its rows come from a source database (import) or are uploaded (external)")
	}
	t.Kind = kindExternal
	t.Import = nil
	t.External = &spec.External{Format: ex.Format, Timeout: ExternalTimeoutDefault}
	at := func(key string) int {
		if ln.has("external", key) {
			return ln.at("external", key)
		}
		return ln.keyAt("external")
	}
	switch ex.Format {
	case formatCSV, formatJSON:
	case "":
		errs.add(file, at("format"), "external needs a format: csv or json (newline-delimited)")
	default:
		errs.add(file, at("format"), "external format must be csv or json (newline-delimited), not %q", ex.Format)
	}
	if ex.Timeout != "" {
		d, err := time.ParseDuration(ex.Timeout)
		switch {
		case err != nil || d <= 0:
			errs.add(file, at("timeout"), "external timeout %q is not a positive duration such as 30m or 2h", ex.Timeout)
		case d > ExternalTimeoutMax:
			errs.add(file, at("timeout"), "external timeout %s is longer than %s, the longest an upload URL stays valid", ex.Timeout, "168h (7 days)")
		default:
			t.External.Timeout = d
		}
	}
	if ex.Header != nil {
		if ex.Format == formatJSON {
			errs.add(file, at("header"), "header applies to csv only: a JSON line names its own fields")
		}
		t.External.Header = *ex.Header
	} else if ex.Format == formatCSV {
		// Files from other systems almost always name their columns on the first line.
		t.External.Header = true
	}
	seen := map[string]int{}
	for i, c := range ex.Schema {
		line := ln.at("external", "schema", i)
		switch {
		case c.Name == "":
			errs.add(file, line, "external schema column %d has no name", i+1)
		case !isColumnName(c.Name):
			errs.add(file, ln.at("external", "schema", i, "name"), "external schema column %q is not a column name (a letter or underscore, then letters, digits and underscores)", c.Name)
		default:
			if j, dup := seen[strings.ToLower(c.Name)]; dup {
				errs.add(file, ln.at("external", "schema", i, "name"), "external schema column %q is also column %d (names are case-insensitive)", c.Name, j)
			}
			seen[strings.ToLower(c.Name)] = i + 1
		}
		typ := strings.ToUpper(strings.TrimSpace(c.Type))
		switch {
		case typ == "":
			errs.add(file, line, "external schema column %q has no type (STRING, INT64, FLOAT64, NUMERIC, BOOL, DATE, TIMESTAMP, ...)", c.Name)
		case !externalTypes[typ]:
			errs.add(file, ln.at("external", "schema", i, "type"), "external schema column %q: type %q cannot be loaded from a file (STRING, BYTES, INT64, FLOAT64, NUMERIC, BIGNUMERIC, BOOL, DATE, TIME, DATETIME, TIMESTAMP or JSON)", c.Name, c.Type)
		}
		t.External.Schema = append(t.External.Schema, spec.Column{Name: c.Name, Type: typ})
	}
	// An external table reads no warehouse table, let alone its previous run.
	if len(f.ReadsPrevious) > 0 {
		errs.add(file, ln.at("reads_previous"), "reads_previous does not apply to an external table: its rows are uploaded, it reads no warehouse table")
	}
	t.ReadsPrevious = nil
	return errs
}

// checkExternalSQL checks that an external table's SQL file holds nothing but comments (it may
// be empty): the rows are uploaded, so SQL there would be silently ignored.
func checkExternalSQL(file, sql string) *Error {
	tok, err := sqlref.NewLexer(sql).Next()
	if err != nil {
		return sqlError(file, err)
	}
	if tok.Kind == sqlref.KindEOF {
		return nil
	}
	text := tok.Text
	if len(text) > 40 {
		text = text[:40] + "…"
	}
	return &Error{File: file, Line: tok.Pos.Line, Column: tok.Pos.Column, Msg: fmt.Sprintf(
		"an external table's SQL file may hold only comments (its rows are uploaded, not computed), but here is %q", text)}
}

// externalResult is what an external table means to the graph: it reads nothing of the
// warehouse and writes its own table, a root that its readers wait for.
func externalResult(p *spec.Project, t *spec.Table) *sqlref.Result {
	return importResult(p, t)
}
