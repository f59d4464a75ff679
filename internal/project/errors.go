package project

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/maestro-sql/maestro/internal/sqlref"
)

// Error is one problem in a project folder, at a position in one of its files.
type Error struct {
	// File is the path relative to the project folder, with forward slashes ("sales/orders.yaml").
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line   int
	Column int
	Msg    string
	// Err is the underlying error, if any (a *sqlref.Error for SQL that does not parse).
	Err error
}

// Error renders "file:line:col: msg", leaving out the parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// errorList collects problems for one file or the whole project.
type errorList []*Error

func (l *errorList) add(file string, line int, format string, args ...any) {
	*l = append(*l, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// join sorts the problems by file, line and column and joins them; nil when there are none.
func (l errorList) join() error {
	if len(l) == 0 {
		return nil
	}
	sort.SliceStable(l, func(a, b int) bool {
		x, y := l[a], l[b]
		if x.File != y.File {
			return x.File < y.File
		}
		if x.Line != y.Line {
			return x.Line < y.Line
		}
		return x.Column < y.Column
	})
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// sqlError turns an error from sqlref into a positioned Error in file.
func sqlError(file string, err error) *Error {
	var se *sqlref.Error
	if errors.As(err, &se) {
		msg := se.Msg
		if se.Text != "" {
			msg += fmt.Sprintf(" near %q", se.Text)
		}
		return &Error{File: file, Line: se.Line, Column: se.Column, Msg: msg, Err: err}
	}
	return &Error{File: file, Msg: err.Error(), Err: err}
}

// yamlErrors turns what yaml.v3 reports (syntax errors "yaml: line N: msg", type errors
// "line N: msg" inside a *yaml.TypeError) into positioned errors in file.
func yamlErrors(file string, err error) errorList {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var out errorList
	for _, m := range msgs {
		line := 0
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if num, after, ok := strings.Cut(rest, ": "); ok {
				if n, err := strconv.Atoi(num); err == nil {
					line, m = n, after
				}
			}
		}
		// "field foo not found in type project.tableFile" names a Go type the user never wrote.
		if name, ok := strings.CutPrefix(m, "field "); ok {
			if name, _, ok := strings.Cut(name, " not found in type"); ok {
				m = fmt.Sprintf("unknown key %q", name)
			}
		}
		out = append(out, &Error{File: file, Line: line, Msg: m, Err: err})
	}
	return out
}

// lines finds the line of a value in a YAML document by a path of mapping keys (string) and
// sequence indexes (int), parsing the document only when first asked (most files have no error).
type lines struct {
	data   []byte
	root   *yaml.Node
	parsed bool
}

// has reports whether the whole path exists (a key present with a null value counts).
func (l *lines) has(path ...any) bool {
	_, found := l.find(path)
	return found
}

// keyAt returns the line of the mapping key that ends path itself (not of its value: an empty
// value may be placed on a later line); 0 if absent.
func (l *lines) keyAt(path ...any) int {
	if len(path) == 0 {
		return 0
	}
	name, ok := path[len(path)-1].(string)
	if !ok {
		return 0
	}
	parent, _, found := l.node(path[:len(path)-1])
	if !found || parent.Kind != yaml.MappingNode {
		return 0
	}
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if parent.Content[i].Value == name {
			return parent.Content[i].Line
		}
	}
	return 0
}

// at returns the line of the deepest node of the path that exists; 0 if none.
func (l *lines) at(path ...any) int {
	line, _ := l.find(path)
	return line
}

// find returns the line of the deepest node of the path that exists, and whether that is the
// whole path.
func (l *lines) find(path []any) (int, bool) {
	_, line, found := l.node(path)
	return line, found
}

// node returns the deepest node of the path that exists, its line, and whether that is the
// whole path.
func (l *lines) node(path []any) (*yaml.Node, int, bool) {
	if !l.parsed {
		l.parsed = true
		var doc yaml.Node
		if yaml.Unmarshal(l.data, &doc) == nil && len(doc.Content) > 0 {
			l.root = doc.Content[0]
		}
	}
	n := l.root
	if n == nil {
		return nil, 0, false
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		if next == nil {
			return n, line, false
		}
		n, line = next, next.Line
	}
	return n, line, true
}
