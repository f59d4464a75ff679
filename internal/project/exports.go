package project

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/spec"
)

type exportFile struct {
	Format string `yaml:"format"`
	Path   string `yaml:"path"`
	// Pointers: saying header or gzip at all where it cannot apply is an error, whatever the value.
	Header   *bool         `yaml:"header"`
	Gzip     *bool         `yaml:"gzip"`
	Sheet    *sheetFile    `yaml:"sheet"`
	Postgres *postgresFile `yaml:"postgres"`
	Callback *callbackFile `yaml:"callback"`
}

type sheetFile struct {
	SpreadsheetID string `yaml:"spreadsheet_id"`
	KeepTabs      *int   `yaml:"keep_tabs"`
	Credentials   string `yaml:"credentials"`
}

type postgresFile struct {
	Connection string `yaml:"connection"`
	Table      string `yaml:"table"`
}

type callbackFile struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// Export formats (spec.Export.Format).
const (
	formatCSV     = "csv"
	formatJSON    = "json"
	formatParquet = "parquet"
	formatList    = "csv, json or parquet"
)

// Limits of sheet and PostgreSQL exports.
const (
	// maxKeepTabs: a spreadsheet holds at most 200 tabs.
	maxKeepTabs = 200
	// maxPGIdentifier is PostgreSQL's NAMEDATALEN-1: longer names are truncated silently.
	maxPGIdentifier = 63
)

// Placeholders of an export's path, and the sample values a path is checked with: any table's
// name has a dot and any run id is a plain word, so a path valid with these is valid at run time
// (short of the key length limit).
const (
	placeholderTable = "{table}"
	placeholderRun   = "{run}"
	sampleTable      = "ds.t"
	sampleRun        = "r1"
)

var (
	placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)
	// spreadsheetIDRE is the id in a spreadsheet's URL (docs.google.com/spreadsheets/d/<id>/edit).
	spreadsheetIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{10,200}$`)
)

// applyExports validates the sidecar's exports block and sets t.Exports. Any kind of table may
// export: an export reads the built table, not how it was built.
func applyExports(file string, ln *lines, exports []exportFile, known *declared, t *spec.Table) errorList {
	var errs errorList
	paths := make(map[string]int, len(exports))    // path -> 1-based number of the first export with it
	pgTables := make(map[string]int, len(exports)) // connection + table -> the same
	for i, ex := range exports {
		n := i + 1
		at := func(path ...any) int { return ln.at(append([]any{"exports", i}, path...)...) }
		hasSheet := ex.Sheet != nil || ln.has("exports", i, "sheet")
		hasPG := ex.Postgres != nil || ln.has("exports", i, "postgres")

		out := spec.Export{}
		switch {
		case hasSheet && hasPG:
			errs.add(file, at("postgres"), "export %d has both sheet and postgres: each export has one destination", n)
		case hasSheet || hasPG:
			kind := "sheet"
			if hasPG {
				kind = "postgres"
			}
			// File settings on a sheet or table export would silently do nothing.
			for _, key := range []string{"format", "path", "header", "gzip"} {
				if ln.has("exports", i, key) {
					errs.add(file, at(key), "export %d: %s does not apply to a %s export, which writes no file", n, key, kind)
				}
			}
			if hasSheet {
				var sh sheetFile
				if ex.Sheet != nil {
					sh = *ex.Sheet
				}
				out.Sheet = &spec.SheetExport{SpreadsheetID: sh.SpreadsheetID, CredentialsRef: sh.Credentials}
				if sh.KeepTabs != nil {
					out.Sheet.KeepTabs = *sh.KeepTabs
				}
				errs = append(errs, checkSheet(file, ln, i, sh)...)
			} else {
				var pg postgresFile
				if ex.Postgres != nil {
					pg = *ex.Postgres
				}
				out.Postgres = &spec.PostgresExport{Connection: pg.Connection, Table: pg.Table}
				pgErrs := checkPostgres(file, ln, i, pg, known)
				errs = append(errs, pgErrs...)
				if len(pgErrs) == 0 {
					key := pg.Connection + "\x00" + pgTableKey(pg.Table)
					if first, dup := pgTables[key]; dup {
						errs.add(file, at("postgres", "table"), "export %d: same PostgreSQL table as export %d: each would replace the other's rows", n, first)
					} else {
						pgTables[key] = n
					}
				}
			}
		default:
			errs = append(errs, checkFileExport(file, ln, i, ex, paths)...)
			out.Format, out.Path = ex.Format, ex.Path
			if ex.Header != nil {
				out.Header = *ex.Header
			}
			if ex.Gzip != nil {
				out.Gzip = *ex.Gzip
			}
		}

		// A "callback:" key with nothing under it is a callback missing both its settings.
		if ex.Callback != nil || ln.has("exports", i, "callback") {
			var cb callbackFile
			if ex.Callback != nil {
				cb = *ex.Callback
			}
			errs = append(errs, checkCallback(file, ln, i, cb)...)
			out.Callback = &spec.Callback{URL: cb.URL, SecretRef: cb.Secret}
		}
		t.Exports = append(t.Exports, out)
	}
	return errs
}

// checkFileExport validates the format, path, header and gzip of file export i (0-based).
func checkFileExport(file string, ln *lines, i int, ex exportFile, paths map[string]int) errorList {
	var errs errorList
	n := i + 1
	at := func(path ...any) int { return ln.at(append([]any{"exports", i}, path...)...) }
	switch ex.Format {
	case formatCSV, formatJSON, formatParquet:
	case "":
		errs.add(file, at("format"), "export %d needs a format (%s), or a sheet or postgres destination", n, formatList)
	default:
		errs.add(file, at("format"), "export %d: unknown format %q (%s)", n, ex.Format, formatList)
	}
	if msg := checkExportPath(ex.Path); msg != "" {
		errs.add(file, at("path"), "export %d: %s", n, msg)
	} else if first, dup := paths[ex.Path]; dup {
		errs.add(file, at("path"), "export %d: same path as export %d: each export must write its own file", n, first)
	} else {
		paths[ex.Path] = n
	}
	if ex.Header != nil && ex.Format != formatCSV && ex.Format != "" {
		errs.add(file, at("header"), "export %d: header applies only to csv, not %s", n, ex.Format)
	}
	if ex.Gzip != nil && ex.Format == formatParquet {
		errs.add(file, at("gzip"), "export %d: gzip does not apply to parquet, whose columns are compressed already", n)
	}
	return errs
}

// lineIn is the line of key under the block of export i at path, or of the block itself when
// the key is absent.
func lineIn(ln *lines, i int, block, key string) int {
	if ln.has("exports", i, block, key) {
		return ln.at("exports", i, block, key)
	}
	return ln.keyAt("exports", i, block)
}

// checkSheet validates the sheet block of export i (0-based).
func checkSheet(file string, ln *lines, i int, sh sheetFile) errorList {
	var errs errorList
	n := i + 1
	switch {
	case sh.SpreadsheetID == "":
		errs.add(file, lineIn(ln, i, "sheet", "spreadsheet_id"), "export %d: sheet needs a spreadsheet_id, the id in the spreadsheet's URL (…/spreadsheets/d/ID/edit)", n)
	case !spreadsheetIDRE.MatchString(sh.SpreadsheetID):
		errs.add(file, lineIn(ln, i, "sheet", "spreadsheet_id"), "export %d: sheet spreadsheet_id %q is not a spreadsheet id (letters, digits, '-' and '_', as in …/spreadsheets/d/ID/edit)", n, truncate(sh.SpreadsheetID, 80))
	}
	if sh.KeepTabs != nil && (*sh.KeepTabs < 1 || *sh.KeepTabs > maxKeepTabs) {
		errs.add(file, lineIn(ln, i, "sheet", "keep_tabs"), "export %d: sheet keep_tabs must be between 1 and %d, not %d", n, maxKeepTabs, *sh.KeepTabs)
	}
	if ln.has("exports", i, "sheet", "credentials") {
		if msg := checkSecretRef(sh.Credentials); msg != "" {
			// Never echo the value: it may be the key itself.
			errs.add(file, lineIn(ln, i, "sheet", "credentials"), "export %d: sheet credentials %s", n, msg)
		}
	}
	return errs
}

// checkPostgres validates the postgres block of export i (0-based).
func checkPostgres(file string, ln *lines, i int, pg postgresFile, known *declared) errorList {
	var errs errorList
	n := i + 1
	connLine := lineIn(ln, i, "postgres", "connection")
	switch {
	case strings.TrimSpace(pg.Connection) == "":
		errs.add(file, connLine, "export %d: postgres needs a connection: the name of one declared in %s", n, ConfigFile)
	case !known.connections[pg.Connection]:
		declared := "none are declared"
		if len(known.connectionList) > 0 {
			declared = "declared: " + strings.Join(known.connectionList, ", ")
		}
		errs.add(file, connLine, "export %d: unknown connection %q (%s in %s)", n, pg.Connection, declared, ConfigFile)
	case known.drivers[pg.Connection] != "postgres":
		errs.add(file, connLine, "export %d: connection %q is a %s connection, not postgres", n, pg.Connection, known.drivers[pg.Connection])
	}
	if msg := checkPGTable(pg.Table); msg != "" {
		errs.add(file, lineIn(ln, i, "postgres", "table"), "export %d: postgres %s", n, msg)
	}
	return errs
}

// checkPGTable returns why name is not "schema.table" or "table", or "".
func checkPGTable(name string) string {
	if name == "" {
		return "needs a table: schema.table, or table for the public schema"
	}
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return fmt.Sprintf("table %q has more than one dot: write schema.table (names with dots are not supported)", truncate(name, 80))
	}
	for _, part := range parts {
		switch {
		case strings.TrimSpace(part) == "":
			return fmt.Sprintf("table %q has an empty name part: write schema.table or table", truncate(name, 80))
		case len(part) > maxPGIdentifier:
			return fmt.Sprintf("table %q: %q is longer than PostgreSQL's %d bytes", truncate(name, 80), truncate(part, 80), maxPGIdentifier)
		case strings.ContainsFunc(part, func(r rune) bool { return r == 0 || r == utf8.RuneError }):
			return fmt.Sprintf("table %q holds a NUL or an invalid character", truncate(name, 80))
		}
	}
	return ""
}

// pgTableKey is the table name with the schema PostgreSQL would use.
func pgTableKey(name string) string {
	if !strings.Contains(name, ".") {
		return "public." + name
	}
	return name
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// checkExportPath returns why path is not an object key template, or "".
func checkExportPath(path string) string {
	if strings.TrimSpace(path) == "" {
		return "needs a path: the object key of the file, such as exports/{table}/{run}.csv"
	}
	key := strings.NewReplacer(placeholderTable, sampleTable, placeholderRun, sampleRun).Replace(path)
	if m := placeholderRE.FindString(key); m != "" {
		return fmt.Sprintf("path %q has the unknown placeholder %s (only {table} and {run} are replaced)", path, m)
	}
	if strings.ContainsAny(key, "{}") {
		return fmt.Sprintf("path %q has an unmatched brace (only {table} and {run} are placeholders)", path)
	}
	if err := blob.ValidateKey(key); err != nil {
		// ValidateKey names the key with the sample values in it: keep only its reason.
		why := strings.TrimPrefix(err.Error(), fmt.Sprintf("%v %q: ", blob.ErrInvalidKey, key))
		return fmt.Sprintf("path %q is not a valid object key: %s", path, why)
	}
	return ""
}

// checkCallback validates the callback of export i (0-based). The URL is never echoed: it may
// hold a token (many webhook URLs do), and the secret never is.
func checkCallback(file string, ln *lines, i int, cb callbackFile) errorList {
	var errs errorList
	n := i + 1
	cbLine := ln.keyAt("exports", i, "callback")
	lineOf := func(key string) int {
		if ln.has("exports", i, "callback", key) {
			return ln.at("exports", i, "callback", key)
		}
		return cbLine
	}
	if cb.URL == "" {
		errs.add(file, lineOf("url"), "export %d: callback needs a url", n)
	} else if u, err := url.Parse(cb.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.add(file, lineOf("url"), "export %d: callback url must be an absolute http or https URL", n)
	} else if u.User != nil {
		errs.add(file, lineOf("url"), "export %d: callback url must not hold a user name or password: credentials go in the secret", n)
	}
	if cb.Secret == "" {
		errs.add(file, lineOf("secret"), "export %d: callback needs a secret, a reference to the key that signs its messages (env:NAME, file:PATH or secretmanager:projects/P/secrets/S[/versions/V])", n)
	} else if msg := checkSecretRef(cb.Secret); msg != "" {
		// Never echo the value: it may be the secret itself.
		errs.add(file, lineOf("secret"), "export %d: callback %s", n, msg)
	}
	return errs
}
