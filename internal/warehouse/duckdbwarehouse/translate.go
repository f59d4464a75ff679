package duckdbwarehouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// translation is a job's SQL rewritten for DuckDB, with the tables it reads.
type translation struct {
	sql   string
	reads []sqlref.TableName
}

// translate rewrites GoogleSQL for DuckDB, expanding wildcard tables to the tables that exist.
func (w *Warehouse) translate(ctx context.Context, src string, opts sqlref.Options) (translation, error) {
	return translate(src, opts, func(n sqlref.TableName) ([]sqlref.TableName, error) {
		return w.matchingTables(ctx, n)
	})
}

// translate rewrites src from the lexer's tokens and the extractor's reference spans: table paths
// become "project.dataset"."table", other backticked names double-quoted ones, string literals
// single-quoted, # comments -- comments, and the BigQuery functions whose DuckDB form differs in
// shape are rebuilt (functions that differ only in name are macros, see macros.go). Everything
// else is copied byte for byte, so DuckDB's error positions still point at the user's lines.
// match lists the tables a wildcard path covers.
func translate(src string, opts sqlref.Options, match func(sqlref.TableName) ([]sqlref.TableName, error)) (translation, error) {
	toks, err := sqlref.Lex(src)
	if err != nil {
		return translation{}, err
	}
	res, err := sqlref.Extract(src, opts)
	if err != nil {
		return translation{}, err
	}
	// A trailing ; would end the statement the job wraps the query in; the text after the last
	// token kept is then left out too (it holds the ; and comments only).
	tail := true
	for len(toks) > 0 && toks[len(toks)-1].Is(";") {
		toks, tail = toks[:len(toks)-1], false
	}
	t := &translator{src: src, toks: toks, refAt: map[int]int{}, match: match}
	at := make(map[int]int, len(toks)) // byte offset → index of the token starting there
	for k, tok := range toks {
		at[tok.Pos.Offset] = k
	}
	for i, ref := range res.References {
		if !ref.Name.IsWildcard() {
			t.reads = appendUnique(t.reads, ref.Name)
		}
		// The reference covers the tokens from the one starting at ref.Start up to ref.End.
		if k, ok := at[ref.Start]; ok {
			t.refAt[k] = i
		}
	}
	t.refs = res.References
	var b strings.Builder
	b.Grow(len(src) + len(src)/4)
	if err := t.span(&b, 0, len(toks)); err != nil {
		return translation{}, err
	}
	if len(toks) > 0 && tail {
		b.WriteString(gap(src[toks[len(toks)-1].End:]))
	}
	return translation{sql: b.String(), reads: t.reads}, nil
}

type translator struct {
	src   string
	toks  []sqlref.Token
	refs  []sqlref.Reference
	refAt map[int]int // token index → index of the reference starting there
	reads []sqlref.TableName
	match func(sqlref.TableName) ([]sqlref.TableName, error)
}

func appendUnique(list []sqlref.TableName, n sqlref.TableName) []sqlref.TableName {
	for _, x := range list {
		if x == n {
			return list
		}
	}
	return append(list, n)
}

// gap returns the text between two tokens (whitespace and comments) with # comments, which
// DuckDB does not know, turned into -- comments. The lexer guarantees a gap holds no literal,
// so a # in it starts a comment unless it is inside a comment already.
func gap(s string) string {
	if !strings.Contains(s, "#") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '#':
			b.WriteString("--")
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				b.WriteString(s[i+1:])
				return b.String()
			}
			b.WriteString(s[i+1 : i+j])
			i += j - 1
		case s[i] == '-' && i+1 < len(s) && s[i+1] == '-':
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(s[i : i+j])
			i += j - 1
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '*':
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(s[i : i+2+j+2])
			i += 2 + j + 1
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// span writes the translation of tokens [from, to), with the gaps between them (not before the first).
func (t *translator) span(b *strings.Builder, from, to int) error {
	for i := from; i < to; {
		if i > from {
			b.WriteString(gap(t.src[t.toks[i-1].End:t.toks[i].Pos.Offset]))
		} else if i == 0 {
			b.WriteString(gap(t.src[:t.toks[0].Pos.Offset]))
		}
		next, err := t.token(b, i, to)
		if err != nil {
			return err
		}
		i = next
	}
	return nil
}

// token writes the translation of the construct starting at token i (never past limit) and
// returns the index after it.
func (t *translator) token(b *strings.Builder, i, limit int) (int, error) {
	tok := t.toks[i]
	if r, ok := t.refAt[i]; ok {
		return t.reference(b, i, limit, t.refs[r])
	}
	switch tok.Kind {
	case sqlref.KindQuotedIdent:
		b.WriteString(quoteIdent(sqlref.UnquoteIdent(tok.Text)))
		return i + 1, nil
	case sqlref.KindString:
		s, err := unquoteString(tok.Text)
		if err != nil {
			return 0, &warehouse.JobError{Reason: "invalidQuery", Message: fmt.Sprintf("line %d, column %d: %v", tok.Pos.Line, tok.Pos.Column, err)}
		}
		b.WriteString(quoteString(s))
		return i + 1, nil
	case sqlref.KindBytes:
		s, err := unquoteString(tok.Text)
		if err != nil {
			return 0, &warehouse.JobError{Reason: "invalidQuery", Message: fmt.Sprintf("line %d, column %d: %v", tok.Pos.Line, tok.Pos.Column, err)}
		}
		b.WriteString(quoteBlob(s))
		return i + 1, nil
	case sqlref.KindNumber:
		// GoogleSQL's 1.5 is a FLOAT64; DuckDB's a DECIMAL.
		if strings.ContainsAny(tok.Text, ".eE") && !strings.HasPrefix(tok.Text, "0x") && !strings.HasPrefix(tok.Text, "0X") {
			b.WriteString("CAST(" + tok.Text + " AS DOUBLE)")
			return i + 1, nil
		}
	case sqlref.KindOp:
		// SELECT * EXCEPT (a, b) is DuckDB's * EXCLUDE (a, b).
		if tok.Text == "*" && i+2 < limit && t.toks[i+1].Word == sqlref.WEXCEPT && t.toks[i+2].Is("(") {
			b.WriteString("*")
			b.WriteString(t.src[tok.End:t.toks[i+1].Pos.Offset])
			b.WriteString("EXCLUDE")
			return i + 2, nil
		}
	case sqlref.KindIdent, sqlref.KindKeyword:
		if tok.Word == sqlref.WINTERVAL {
			if n, ok, err := t.interval(b, i, limit); ok || err != nil {
				return n, err
			}
		}
		// TIMESTAMP '...' is an instant in GoogleSQL; DuckDB's literal would be a zoneless TIMESTAMP.
		if strings.EqualFold(tok.Text, "TIMESTAMP") && i+1 < limit && t.toks[i+1].Kind == sqlref.KindString &&
			(i == 0 || !t.toks[i-1].Is(".")) {
			b.WriteString("CAST(")
			n, err := t.token(b, i+1, limit)
			if err != nil {
				return 0, err
			}
			b.WriteString(" AS TIMESTAMPTZ)")
			return n, nil
		}
		if i+1 < limit && t.toks[i+1].Is("(") && (i == 0 || !t.toks[i-1].Is(".")) {
			if n, ok, err := t.function(b, i, limit); ok || err != nil {
				return n, err
			}
		}
	}
	b.WriteString(tok.Text)
	return i + 1, nil
}

// reference writes a table path as DuckDB's; a wildcard path becomes a UNION ALL BY NAME of the
// tables it covers, each with its _TABLE_SUFFIX.
func (t *translator) reference(b *strings.Builder, i, limit int, ref sqlref.Reference) (int, error) {
	end := i
	for end < limit && t.toks[end].End <= ref.End {
		end++
	}
	if !ref.Name.IsWildcard() {
		b.WriteString(quotePath(ref.Name))
		return end, nil
	}
	tables, err := t.match(ref.Name)
	if err != nil {
		return 0, err
	}
	if len(tables) == 0 {
		return 0, &warehouse.JobError{Reason: "notFound",
			Message: fmt.Sprintf("Table %s does not match any table", ref.Name.String())}
	}
	prefix := strings.TrimSuffix(ref.Name.Table, "*")
	b.WriteString("(")
	for k, tb := range tables {
		t.reads = appendUnique(t.reads, tb)
		if k > 0 {
			b.WriteString(" UNION ALL BY NAME ")
		}
		b.WriteString("SELECT *, " + quoteString(tb.Table[len(prefix):]) + " AS _TABLE_SUFFIX FROM " + quotePath(tb))
	}
	b.WriteString(")")
	return end, nil
}

// datePartWords are the parts an INTERVAL ends with.
var datePartWords = map[string]bool{
	"YEAR": true, "QUARTER": true, "MONTH": true, "WEEK": true, "DAY": true, "HOUR": true,
	"MINUTE": true, "SECOND": true, "MILLISECOND": true, "MICROSECOND": true,
}

// interval parenthesises the count of INTERVAL expr PART when it is more than one literal:
// DuckDB parses INTERVAL (expr) DAY but not INTERVAL MOD(x, 7) DAY.
func (t *translator) interval(b *strings.Builder, i, limit int) (int, bool, error) {
	depth := 0
	for k := i + 1; k < limit; k++ {
		tok := t.toks[k]
		switch {
		case tok.Is("(") || tok.Is("["):
			depth++
		case tok.Is(")") || tok.Is("]"):
			depth--
			if depth < 0 {
				return 0, false, nil
			}
		case depth == 0 && (tok.Kind == sqlref.KindIdent || tok.Kind == sqlref.KindKeyword) &&
			datePartWords[strings.ToUpper(tok.Text)] && !(k+1 < limit && t.toks[k+1].Is("(")):
			if k == i+1 || (k == i+2 && (t.toks[i+1].Kind == sqlref.KindNumber || t.toks[i+1].Kind == sqlref.KindString)) {
				return 0, false, nil
			}
			expr, err := t.arg([2]int{i + 1, k})
			if err != nil {
				return 0, true, err
			}
			b.WriteString(t.toks[i].Text + " (" + strings.TrimSpace(expr) + ") " + tok.Text)
			return k + 1, true, nil
		}
	}
	return 0, false, nil
}

// closeParen returns the index of the ")" matching the "(" at open, or -1.
func (t *translator) closeParen(open, limit int) int {
	depth := 0
	for k := open; k < limit; k++ {
		switch {
		case t.toks[k].Is("(") || t.toks[k].Is("["):
			depth++
		case t.toks[k].Is(")") || t.toks[k].Is("]"):
			depth--
			if depth == 0 {
				return k
			}
		}
	}
	return -1
}

// args splits the tokens between ( at open and ) at close into top-level comma-separated ranges.
func (t *translator) args(open, close int) [][2]int {
	var out [][2]int
	depth, start := 0, open+1
	for k := open + 1; k < close; k++ {
		tok := t.toks[k]
		switch {
		case tok.Is("(") || tok.Is("[") || tok.Word == sqlref.WCASE:
			depth++
		case tok.Is(")") || tok.Is("]") || tok.Word == sqlref.WEND:
			depth--
		case tok.Is(",") && depth == 0:
			out = append(out, [2]int{start, k})
			start = k + 1
		}
	}
	if start < close {
		out = append(out, [2]int{start, close})
	}
	return out
}

func (t *translator) arg(r [2]int) (string, error) {
	var b strings.Builder
	if err := t.span(&b, r[0], r[1]); err != nil {
		return "", err
	}
	return b.String(), nil
}

// datePart returns the lowercased date part an argument names (DAY, MONTH, WEEK(MONDAY)...), or "".
func (t *translator) datePart(r [2]int) string {
	if r[1] <= r[0] {
		return ""
	}
	tok := t.toks[r[0]]
	if tok.Kind != sqlref.KindIdent && tok.Kind != sqlref.KindKeyword {
		return ""
	}
	part := strings.ToLower(tok.Text)
	switch part {
	case "dayofweek", "dayofyear":
		return part
	case "isoweek":
		return "week"
	case "isoyear":
		return "isoyear"
	}
	return part
}

// function rewrites the calls whose DuckDB form differs in shape or in a name a macro cannot
// take. It reports false to leave the call as written.
func (t *translator) function(b *strings.Builder, i, limit int) (int, bool, error) {
	name := strings.ToUpper(t.toks[i].Text)
	open := i + 1
	close := t.closeParen(open, limit)
	if close < 0 {
		return 0, false, nil
	}
	args := t.args(open, close)
	texts := func() ([]string, error) {
		out := make([]string, len(args))
		for k, r := range args {
			s, err := t.arg(r)
			if err != nil {
				return nil, err
			}
			out[k] = strings.TrimSpace(s)
		}
		return out, nil
	}
	switch name {
	case "SAFE_CAST", "CAST":
		as, depth := -1, 0
		for k := open + 1; k < close && as < 0; k++ {
			switch tok := t.toks[k]; {
			case tok.Is("(") || tok.Is("[") || tok.Word == sqlref.WCASE:
				depth++
			case tok.Is(")") || tok.Is("]") || tok.Word == sqlref.WEND:
				depth--
			case tok.Word == sqlref.WAS && depth == 0:
				as = k
			}
		}
		if as < 0 {
			return 0, false, nil
		}
		expr, err := t.arg([2]int{open + 1, as})
		if err != nil {
			return 0, true, err
		}
		fn := "CAST"
		if name == "SAFE_CAST" {
			fn = "TRY_CAST"
		}
		b.WriteString(fn + "(" + strings.TrimSpace(expr) + " AS " + t.typeName(as+1, close) + ")")
		return close + 1, true, nil
	case "DATE_TRUNC", "DATETIME_TRUNC", "TIMESTAMP_TRUNC":
		if len(args) < 2 {
			return 0, false, nil
		}
		a, err := texts()
		if err != nil {
			return 0, true, err
		}
		call := "date_trunc(" + quoteString(t.datePart(args[1])) + ", " + a[0] + ")"
		if name == "DATE_TRUNC" {
			call = "CAST(" + call + " AS DATE)"
		}
		b.WriteString(call)
		return close + 1, true, nil
	case "DATE_DIFF", "DATETIME_DIFF", "TIMESTAMP_DIFF":
		if len(args) != 3 {
			return 0, false, nil
		}
		a, err := texts()
		if err != nil {
			return 0, true, err
		}
		b.WriteString("date_diff(" + quoteString(t.datePart(args[2])) + ", " + a[1] + ", " + a[0] + ")")
		return close + 1, true, nil
	case "DATE_ADD", "DATE_SUB", "DATETIME_ADD", "DATETIME_SUB", "TIMESTAMP_ADD", "TIMESTAMP_SUB":
		if len(args) != 2 {
			return 0, false, nil
		}
		a, err := texts()
		if err != nil {
			return 0, true, err
		}
		op := " + "
		if strings.HasSuffix(name, "_SUB") {
			op = " - "
		}
		expr := "(" + a[0] + op + a[1] + ")"
		if strings.HasPrefix(name, "DATE_") {
			expr = "CAST" + strings.TrimSuffix(expr, ")") + " AS DATE)"
		}
		b.WriteString(expr)
		return close + 1, true, nil
	case "DATE", "DATETIME", "TIMESTAMP":
		a, err := texts()
		if err != nil {
			return 0, true, err
		}
		switch {
		case name == "DATE" && len(a) == 3:
			b.WriteString("make_date(" + strings.Join(a, ", ") + ")")
		case len(a) == 1:
			typ := map[string]string{"DATE": "DATE", "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMPTZ"}[name]
			b.WriteString("CAST(" + a[0] + " AS " + typ + ")")
		default:
			return 0, false, nil
		}
		return close + 1, true, nil
	case "EXTRACT":
		// BigQuery counts DAYOFWEEK from 1 (Sunday), DuckDB from 0.
		if open+2 < close && strings.EqualFold(t.toks[open+1].Text, "DAYOFWEEK") && t.toks[open+2].Word == sqlref.WFROM {
			from, err := t.arg([2]int{open + 3, close})
			if err != nil {
				return 0, true, err
			}
			b.WriteString("(EXTRACT(DAYOFWEEK FROM " + strings.TrimSpace(from) + ") + 1)")
			return close + 1, true, nil
		}
		return 0, false, nil
	case "CURRENT_TIMESTAMP", "CURRENT_DATETIME", "CURRENT_TIME":
		if len(args) != 0 {
			return 0, false, nil // a time zone argument: left for DuckDB to reject
		}
		b.WriteString(map[string]string{
			"CURRENT_TIMESTAMP": "current_timestamp",
			"CURRENT_DATETIME":  "CAST(current_timestamp AS TIMESTAMP)",
			"CURRENT_TIME":      "CAST(current_timestamp AS TIME)",
		}[name])
		return close + 1, true, nil
	case "GENERATE_ARRAY", "GENERATE_DATE_ARRAY", "GENERATE_TIMESTAMP_ARRAY":
		b.WriteString("generate_series")
		return i + 1, true, nil
	case "FORMAT":
		b.WriteString("printf")
		return i + 1, true, nil
	case "UNNEST":
		return t.unnest(b, i, close, limit)
	}
	return 0, false, nil
}

// unnest gives an aliased UNNEST in a FROM clause a column of the alias's name: BigQuery's
// UNNEST(a) AS x makes x the element, DuckDB's makes x a table whose column is "unnest".
func (t *translator) unnest(b *strings.Builder, i, close, limit int) (int, bool, error) {
	if i == 0 {
		return 0, false, nil
	}
	prev := t.toks[i-1]
	if prev.Word != sqlref.WFROM && prev.Word != sqlref.WJOIN && !(prev.Is(",") && t.inFrom(i-1)) {
		return 0, false, nil
	}
	k := close + 1
	if k < limit && t.toks[k].Word == sqlref.WAS {
		k++
	}
	if k >= limit || !(t.toks[k].Kind == sqlref.KindQuotedIdent || t.toks[k].Kind == sqlref.KindIdent) {
		return 0, false, nil
	}
	var inner strings.Builder
	if err := t.span(&inner, i+1, close+1); err != nil {
		return 0, true, err
	}
	alias := quoteIdent(sqlref.UnquoteIdent(t.toks[k].Text))
	b.WriteString("UNNEST" + inner.String() + " AS " + alias + "(" + alias + ")")
	return k + 1, true, nil
}

// inFrom reports whether the comma at k separates items of a FROM clause: the nearest clause
// keyword before it at the same parenthesis depth is FROM.
func (t *translator) inFrom(k int) bool {
	depth := 0
	for j := k - 1; j >= 0; j-- {
		tok := t.toks[j]
		switch {
		case tok.Is(")") || tok.Is("]"):
			depth++
		case tok.Is("(") || tok.Is("["):
			if depth == 0 {
				return false
			}
			depth--
		case depth == 0 && tok.Kind == sqlref.KindKeyword:
			switch tok.Word {
			case sqlref.WFROM:
				return true
			case sqlref.WSELECT, sqlref.WWHERE, sqlref.WGROUP, sqlref.WORDER, sqlref.WHAVING, sqlref.WWINDOW,
				sqlref.WQUALIFY, sqlref.WLIMIT, sqlref.WBY:
				return false
			}
		}
	}
	return false
}

// typeName translates a GoogleSQL type (tokens [from, to)) to DuckDB's.
func (t *translator) typeName(from, to int) string {
	if from >= to {
		return ""
	}
	tok := t.toks[from]
	up := strings.ToUpper(tok.Text)
	if up == "ARRAY" && from+1 < to && t.toks[from+1].Is("<") && t.toks[to-1].Is(">") {
		return t.typeName(from+2, to-1) + "[]"
	}
	if to-from == 1 {
		switch up {
		case "INT64", "INT", "INTEGER", "SMALLINT", "BIGINT", "TINYINT", "BYTEINT":
			return "BIGINT"
		case "FLOAT64":
			return "DOUBLE"
		case "STRING":
			return "VARCHAR"
		case "BOOL", "BOOLEAN":
			return "BOOLEAN"
		case "NUMERIC", "DECIMAL", "BIGNUMERIC", "BIGDECIMAL":
			return "DECIMAL(38, 9)"
		case "BYTES":
			return "BLOB"
		case "DATETIME":
			return "TIMESTAMP"
		case "TIMESTAMP":
			return "TIMESTAMPTZ"
		}
	}
	var b strings.Builder
	_ = t.span(&b, from, to)
	return b.String()
}

// unquoteString returns the value of a GoogleSQL string or bytes literal: any of ' " ”' """,
// with an r (raw) and/or b prefix.
func unquoteString(text string) (string, error) {
	raw := false
	i := 0
	for i < len(text) && text[i] != '\'' && text[i] != '"' {
		if text[i]|0x20 == 'r' {
			raw = true
		}
		i++
	}
	body := text[i:]
	q := 1
	if len(body) >= 6 && (strings.HasPrefix(body, `'''`) || strings.HasPrefix(body, `"""`)) {
		q = 3
	}
	if len(body) < 2*q {
		return "", fmt.Errorf("malformed string literal %s", text)
	}
	body = body[q : len(body)-q]
	if raw || !strings.Contains(body, `\`) {
		return body, nil
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(body) {
			return "", fmt.Errorf("string literal %s ends with a backslash", text)
		}
		switch c := body[i]; c {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'x', 'X':
			if i+2 >= len(body) {
				return "", fmt.Errorf("bad \\x escape in %s", text)
			}
			n, err := strconv.ParseUint(body[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad \\x escape in %s", text)
			}
			b.WriteByte(byte(n))
			i += 2
		case 'u', 'U':
			width := 4
			if c == 'U' {
				width = 8
			}
			if i+1+width > len(body) {
				return "", fmt.Errorf("bad \\%c escape in %s", c, text)
			}
			n, err := strconv.ParseUint(body[i+1:i+1+width], 16, 32)
			if err != nil || !utf8.ValidRune(rune(n)) {
				return "", fmt.Errorf("bad \\%c escape in %s", c, text)
			}
			b.WriteRune(rune(n))
			i += width
		case '0', '1', '2', '3':
			if i+3 > len(body) {
				return "", fmt.Errorf("bad octal escape in %s", text)
			}
			n, err := strconv.ParseUint(body[i:i+3], 8, 8)
			if err != nil {
				return "", fmt.Errorf("bad octal escape in %s", text)
			}
			b.WriteByte(byte(n))
			i += 2
		default: // \\ \' \" \` \? and anything else stand for themselves
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// quoteString renders s as a DuckDB string literal (standard SQL: only ' is doubled).
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// quoteBlob renders bytes as a DuckDB BLOB literal, non-printable bytes as \xHH.
func quoteBlob(s string) string {
	var b strings.Builder
	b.WriteString("'")
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			b.WriteString("''")
		case c == '\\' || c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02X`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("'::BLOB")
	return b.String()
}
