package webui

import (
	"errors"
	"html/template"
	"strings"

	"github.com/maestro-sql/maestro/internal/sqlref"
)

// tokenClass is the CSS class of each token kind; the same lexer that finds a table's
// dependencies colours its SQL, so the page shows the SQL as Maestro reads it.
var tokenClass = map[sqlref.Kind]string{
	sqlref.KindKeyword:     "k",
	sqlref.KindQuotedIdent: "q",
	sqlref.KindString:      "s",
	sqlref.KindBytes:       "s",
	sqlref.KindNumber:      "n",
	sqlref.KindParam:       "p",
	sqlref.KindSysVar:      "p",
	sqlref.KindTemplate:    "t",
	sqlref.KindOp:          "o",
}

// highlightSQL renders SQL as HTML spans by token kind. What lies between tokens is spaces
// and comments (the lexer drops both), so a gap with anything but spaces is a comment. From a
// lexical error on, the text is shown plain and marked.
func highlightSQL(src string) template.HTML {
	var b strings.Builder
	b.Grow(len(src) * 2)
	l := sqlref.NewLexer(src)
	prev := 0
	gap := func(end int) {
		g := src[prev:end]
		if strings.TrimSpace(g) == "" {
			b.WriteString(template.HTMLEscapeString(g))
			return
		}
		// Spaces around comments stay outside the span, so its colour covers the comment only.
		lead := len(g) - len(strings.TrimLeft(g, " \t\r\n"))
		tail := len(strings.TrimRight(g, " \t\r"))
		b.WriteString(template.HTMLEscapeString(g[:lead]))
		b.WriteString(`<span class="c">`)
		b.WriteString(template.HTMLEscapeString(g[lead:tail]))
		b.WriteString(`</span>`)
		b.WriteString(template.HTMLEscapeString(g[tail:]))
	}
	for {
		t, err := l.Next()
		if err != nil {
			at := prev
			if se, ok := errors.AsType[*sqlref.Error](err); ok && se.Offset >= prev && se.Offset <= len(src) {
				at = se.Offset
			}
			gap(at)
			b.WriteString(`<span class="err">`)
			b.WriteString(template.HTMLEscapeString(src[at:]))
			b.WriteString(`</span>`)
			break
		}
		if t.Kind == sqlref.KindEOF {
			gap(len(src))
			break
		}
		gap(t.Pos.Offset)
		text := template.HTMLEscapeString(t.Text)
		if c := tokenClass[t.Kind]; c != "" && !(t.Kind == sqlref.KindOp && len(t.Text) == 1 && strings.Contains(",.;()", t.Text)) {
			b.WriteString(`<span class="` + c + `">` + text + `</span>`)
		} else {
			b.WriteString(text)
		}
		prev = t.End
	}
	return template.HTML(b.String())
}

// highlightDiff renders a unified diff one block per line, marking added, removed and hunk
// lines (each line its own block, so a background spans the line and lines never run together).
func highlightDiff(diff string) template.HTML {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(diff, "\n"), "\n") {
		class := "dl"
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			class += " dh"
		case strings.HasPrefix(line, "+"):
			class += " da"
		case strings.HasPrefix(line, "-"):
			class += " dd"
		case strings.HasPrefix(line, "@@"):
			class += " dk"
		}
		b.WriteString(`<span class="` + class + `">` + template.HTMLEscapeString(line) + `</span>`)
	}
	return template.HTML(b.String())
}
