package project

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/maestro-sql/maestro/internal/blob"
	"github.com/maestro-sql/maestro/internal/spec"
)

type exportFile struct {
	Format string `yaml:"format"`
	Path   string `yaml:"path"`
	// Pointers: saying header or gzip at all where it cannot apply is an error, whatever the value.
	Header   *bool         `yaml:"header"`
	Gzip     *bool         `yaml:"gzip"`
	Callback *callbackFile `yaml:"callback"`
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

// Placeholders of an export's path, and the sample values a path is checked with: any table's
// name has a dot and any run id is a plain word, so a path valid with these is valid at run time
// (short of the key length limit).
const (
	placeholderTable = "{table}"
	placeholderRun   = "{run}"
	sampleTable      = "ds.t"
	sampleRun        = "r1"
)

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// applyExports validates the sidecar's exports block and sets t.Exports. Any kind of table may
// export: an export reads the built table, not how it was built.
func applyExports(file string, ln *lines, exports []exportFile, t *spec.Table) errorList {
	var errs errorList
	paths := make(map[string]int, len(exports)) // path -> 1-based number of the first export with it
	for i, ex := range exports {
		n := i + 1
		at := func(path ...any) int { return ln.at(append([]any{"exports", i}, path...)...) }

		switch ex.Format {
		case formatCSV, formatJSON, formatParquet:
		case "":
			errs.add(file, at("format"), "export %d needs a format (%s)", n, formatList)
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

		out := spec.Export{Format: ex.Format, Path: ex.Path}
		if ex.Header != nil {
			out.Header = *ex.Header
		}
		if ex.Gzip != nil {
			out.Gzip = *ex.Gzip
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
