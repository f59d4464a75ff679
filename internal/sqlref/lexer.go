package sqlref

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is the kind of a Token.
type Kind uint8

// Token kinds. Comments and whitespace never become tokens.
const (
	KindEOF         Kind = iota // end of input
	KindIdent                   // unquoted identifier, including non-reserved keywords (see Token.Word)
	KindQuotedIdent             // backtick-quoted identifier; Text keeps the backticks
	KindKeyword                 // reserved GoogleSQL keyword
	KindString                  // string literal, any quoting, r/R prefix allowed; Text is raw
	KindBytes                   // bytes literal (b/B prefix, with or without r); Text is raw
	KindNumber                  // integer, decimal, exponent or 0x hex literal
	KindParam                   // @name query parameter or ? positional parameter
	KindSysVar                  // @@name system variable
	KindOp                      // operator or punctuation
	KindTemplate                // a Jinja {{ expression }}, with any name characters glued to it (events_{{ x }})
)

var kindNames = [...]string{"EOF", "Ident", "QuotedIdent", "Keyword", "String", "Bytes", "Number", "Param", "SysVar", "Op", "Template"}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// String returns the upper-case keyword, or "" for WordNone.
func (w Word) String() string {
	if int(w) < len(wordNames) {
		return wordNames[w]
	}
	return ""
}

// Reserved reports whether w is a reserved GoogleSQL keyword (one that needs backticks to be an identifier).
func (w Word) Reserved() bool { return w != WordNone && w <= numReserved }

// Pos is a position in the source: a byte offset and the 1-based line and column (in bytes).
type Pos struct {
	Offset int
	Line   int
	Column int
}

// Token is one lexical token. Text is a slice of the source (never a copy).
type Token struct {
	Kind Kind
	// Word classifies keywords and the non-reserved words the extractor needs, case-insensitively;
	// WordNone for everything else: quoted identifiers and words right after a dot are never keywords.
	Word Word
	Text string
	Pos  Pos
	End  int // byte offset just past the token
}

// Is reports whether the token is the operator or punctuation op.
func (t Token) Is(op string) bool { return t.Kind == KindOp && t.Text == op }

// Error is a lexical or syntax error at a position in the source.
type Error struct {
	Line   int
	Column int
	Offset int
	Text   string // the offending text (truncated to a line)
	Msg    string
}

// Error renders "line L, column C: msg near TEXT".
func (e *Error) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("line %d, column %d: %s near %q", e.Line, e.Column, e.Msg, e.Text)
}

// Lexer produces tokens one at a time without allocating. The zero value is not usable; use NewLexer.
type Lexer struct {
	src       string
	off       int
	line      int
	lineStart int // offset of the first byte of the current line
	prev      Kind
	prevOp    byte // first byte of the previous token when it was an operator
	prevEnd   int
}

// NewLexer returns a Lexer over src.
func NewLexer(src string) *Lexer {
	l := &Lexer{}
	l.Reset(src)
	return l
}

// Reset makes l read src from the start, so one Lexer can be reused.
func (l *Lexer) Reset(src string) {
	*l = Lexer{src: src, line: 1, prevEnd: -1}
	l.prev = KindEOF
}

// Lex splits src into tokens (without a final EOF token).
func Lex(src string) ([]Token, error) {
	return AppendTokens(make([]Token, 0, len(src)/5+4), src)
}

// AppendTokens appends the tokens of src to dst, so callers can reuse a buffer.
func AppendTokens(dst []Token, src string) ([]Token, error) {
	var l Lexer
	l.Reset(src)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, len(dst)/2+16)
		}
		dst = dst[:len(dst)+1]
		t := &dst[len(dst)-1]
		if err := l.next(t); err != nil {
			return dst[:len(dst)-1], err
		}
		if t.Kind == KindEOF {
			return dst[:len(dst)-1], nil
		}
	}
}

// rawTok is the extractor's compact token: no pointers (so filling a slice of them needs no GC
// write barriers) and no line/column (computed from Start only when an error is reported).
type rawTok struct {
	Kind  Kind
	Word  Word
	Op    byte  // an operator's first byte (0 otherwise), so checks need not slice the source
	Op2   byte  // a two-byte operator's second byte, else 0
	Match int32 // for an opening bracket, the index of its closer (or of the final EOF token)
	Start int32
	End   int32
}

// appendRaw lexes src into dst as compact tokens, linking each opening bracket to its closer
// (any closer closes the innermost opener; an unclosed opener points at the EOF token appended
// last). stack is scratch space, returned for reuse.
//
// The common tokens (plain words and punctuation between ASCII spaces) are read inline here
// without line accounting; everything else goes through the general Lexer path. Error
// positions are recomputed from the byte offset, so skipping line accounting is safe.
func appendRaw(dst []rawTok, stack []int32, src string) ([]rawTok, []int32, error) {
	var l Lexer
	l.Reset(src)
	stack = stack[:0]
	off := 0
	n := len(src)
	for {
		for off < n && charClass[src[off]]&classBlank != 0 {
			off++
		}
		if off < n {
			c := src[off]
			if charClass[c]&classIdentStart != 0 && c < 0x80 && (c|0x20 != 'r' && c|0x20 != 'b' || l.stringPrefix(off) == 0) {
				i := off + 1
				for i < n {
					b := src[i]
					if charClass[b]&(classIdentStart|classDigit) == 0 || b >= 0x80 {
						break
					}
					i++
				}
				if i >= n || (src[i] < 0x80 && src[i] != '{' && src[i] != '$') {
					k, w := KindIdent, WordNone
					if i-off <= maxWordLen && !(l.prev == KindOp && l.prevOp == '.') {
						if w = lookupWord(src[off:i]); w.Reserved() {
							k = KindKeyword
						}
					}
					dst = append(dst, rawTok{Kind: k, Word: w, Start: int32(off), End: int32(i)})
					l.prev, l.prevEnd, l.prevOp = k, i, c
					off = i
					continue
				}
			} else {
				switch c {
				case ',', ';', ')', '(', '+', '*', ']', '[':
					switch c {
					case '(', '[':
						stack = append(stack, int32(len(dst)))
					case ')', ']':
						if s := len(stack); s > 0 {
							dst[stack[s-1]].Match = int32(len(dst))
							stack = stack[:s-1]
						}
					}
					dst = append(dst, rawTok{Kind: KindOp, Op: c, Start: int32(off), End: int32(off + 1)})
					l.prev, l.prevEnd, l.prevOp = KindOp, off+1, c
					off++
					continue
				case '\'', '"':
					l.off = off
					k, _, end, err := l.lexString(off, off)
					if err != nil {
						return dst, stack, fixPosition(src, err)
					}
					dst = append(dst, rawTok{Kind: k, Start: int32(off), End: int32(end)})
					off = end
					continue
				case '`':
					i := off + 1
					for i < n && src[i] != '`' && src[i] != '\\' {
						i++
					}
					if i < n && src[i] == '`' {
						// A quoted identifier without escapes; others take the general path.
						i++
						dst = append(dst, rawTok{Kind: KindQuotedIdent, Start: int32(off), End: int32(i)})
						l.prev, l.prevEnd, l.prevOp = KindQuotedIdent, i, c
						off = i
						continue
					}
				case '=':
					if off+1 < n && src[off+1] != '>' {
						dst = append(dst, rawTok{Kind: KindOp, Op: c, Start: int32(off), End: int32(off + 1)})
						l.prev, l.prevEnd, l.prevOp = KindOp, off+1, c
						off++
						continue
					}
				case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
					end := l.numberEnd(off)
					if end < n && src[end] < 0x80 && charClass[src[end]]&classIdentStart == 0 && src[end] != '-' {
						// A plain number; digits glued to a name or a dash (2e2e, 123-ds) take the general path.
						dst = append(dst, rawTok{Kind: KindNumber, Start: int32(off), End: int32(end)})
						l.prev, l.prevEnd, l.prevOp = KindNumber, end, c
						off = end
						continue
					}
				case '.':
					if off+1 < n && !isDigit(src[off+1]) {
						dst = append(dst, rawTok{Kind: KindOp, Op: c, Start: int32(off), End: int32(off + 1)})
						l.prev, l.prevEnd, l.prevOp = KindOp, off+1, c
						off++
						continue
					}
				}
			}
		}
		l.off = off
		if err := l.skipSpace(); err != nil {
			return dst, stack, fixPosition(src, err)
		}
		start := l.off
		k, w, end, err := l.scan()
		if err != nil {
			return dst, stack, fixPosition(src, err)
		}
		off = end
		if k == KindEOF {
			eof := int32(len(dst))
			for _, o := range stack {
				dst[o].Match = eof
			}
			dst = append(dst, rawTok{Kind: KindEOF, Start: int32(start), End: int32(start)})
			return dst, stack, nil
		}
		if k == KindOp && end-start == 1 {
			switch src[start] {
			case '(', '[', '{':
				stack = append(stack, int32(len(dst)))
			case ')', ']', '}':
				if n := len(stack); n > 0 {
					dst[stack[n-1]].Match = int32(len(dst))
					stack = stack[:n-1]
				}
			}
		}
		t := rawTok{Kind: k, Word: w, Start: int32(start), End: int32(end)}
		if k == KindOp {
			t.Op = src[start]
			if end-start == 2 {
				t.Op2 = src[start+1]
			}
		}
		dst = append(dst, t)
	}
}

// fixPosition recomputes an error's line and column from its offset (appendRaw does not count lines).
func fixPosition(src string, err error) error {
	if e, ok := err.(*Error); ok {
		e.Line, e.Column = lineCol(src, e.Offset)
	}
	return err
}

func (l *Lexer) pos(off int) Pos {
	return Pos{Offset: off, Line: l.line, Column: off - l.lineStart + 1}
}

func (l *Lexer) errorAt(p Pos, end int, msg string) *Error {
	text := l.src[p.Offset:min(end, len(l.src))]
	if i := strings.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	if len(text) > 40 {
		text = text[:40]
	}
	return &Error{Line: p.Line, Column: p.Column, Offset: p.Offset, Text: text, Msg: msg}
}

// skipSpace skips whitespace and comments, keeping line accounting right.
func (l *Lexer) skipSpace() error {
	src := l.src
	for l.off < len(src) {
		c := src[l.off]
		switch {
		case c == '\n':
			l.off++
			l.line++
			l.lineStart = l.off
		case charClass[c]&classSpace != 0:
			l.off++
		case c == '#' || (c == '-' && l.off+1 < len(src) && src[l.off+1] == '-'):
			for l.off < len(src) && src[l.off] != '\n' {
				l.off++
			}
		case c == '/' && l.off+1 < len(src) && src[l.off+1] == '*':
			start := l.pos(l.off)
			i := strings.Index(src[l.off+2:], "*/")
			if i < 0 {
				return l.errorAt(start, l.off+2, "unterminated comment")
			}
			end := l.off + 2 + i + 2
			l.advanceLines(end)
		case c == '{' && l.off+1 < len(src) && (src[l.off+1] == '%' || src[l.off+1] == '#'):
			// Jinja statement tags ({% if %}, {% for %}) and comments ({# #}) are not SQL: skipping
			// the tags keeps the SQL of every branch and loop body.
			start := l.pos(l.off)
			closer := "%}"
			if src[l.off+1] == '#' {
				closer = "#}"
			}
			i := strings.Index(src[l.off+2:], closer)
			if i < 0 {
				return l.errorAt(start, l.off+2, "unterminated template tag")
			}
			l.advanceLines(l.off + 2 + i + 2)
		case c >= 0x80:
			n := unicodeSpaceLen(src, l.off)
			if n == 0 {
				return nil
			}
			l.off += n
		default:
			return nil
		}
	}
	return nil
}

// unicodeSpaceLen returns the length of a byte-order mark, no-break space or other Unicode space
// at src[i:] (files copied from editors and web pages carry them), or 0.
func unicodeSpaceLen(src string, i int) int {
	rest := src[i:]
	switch {
	case strings.HasPrefix(rest, "\uFEFF"), strings.HasPrefix(rest, "\u200B"), strings.HasPrefix(rest, "\u3000"):
		return 3
	case strings.HasPrefix(rest, "\u00A0"):
		return 2
	case len(rest) >= 3 && rest[0] == 0xE2 && rest[1] == 0x80 && rest[2] >= 0x80 && rest[2] <= 0x8A: // U+2000..U+200A
		return 3
	}
	return 0
}

// advanceLines moves to end, counting newlines passed over.
func (l *Lexer) advanceLines(end int) {
	for i := l.off; i < end; i++ {
		if l.src[i] == '\n' {
			l.line++
			l.lineStart = i + 1
		}
	}
	l.off = end
}

// Character classes, looked up by byte so the hot loops test one table entry.
const (
	classIdentStart = 1 << iota // a-z A-Z _ and every byte of a UTF-8 sequence
	classDigit
	classSpace
	classBlank // classSpace or a newline
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80:
			t[c] = classIdentStart
		case c >= '0' && c <= '9':
			t[c] = classDigit
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			t[c] = classSpace | classBlank
		case c == '\n':
			t[c] = classBlank
		}
	}
	return t
}()

func isIdentStart(c byte) bool { return charClass[c]&classIdentStart != 0 }

func isIdentPart(c byte) bool { return charClass[c]&(classIdentStart|classDigit) != 0 }

func isDigit(c byte) bool { return charClass[c]&classDigit != 0 }

// Next returns the next token, a KindEOF token at the end, or an *Error.
func (l *Lexer) Next() (Token, error) {
	var t Token
	err := l.next(&t)
	return t, err
}

// next fills *t in place (tokens are large enough that copying them shows in profiles).
func (l *Lexer) next(t *Token) error {
	if err := l.skipSpace(); err != nil {
		return err
	}
	p := l.pos(l.off)
	k, w, end, err := l.scan()
	if err != nil {
		return err
	}
	t.Kind = k
	t.Word = w
	t.Text = l.src[p.Offset:end]
	t.Pos = p
	t.End = end
	return nil
}

// scan reads the token at l.off (spaces already skipped) and returns its kind, word and end
// offset. Returning scalars keeps the hot loop free of pointer writes.
func (l *Lexer) scan() (Kind, Word, int, error) {
	src := l.src
	start := l.off
	if start >= len(src) {
		return KindEOF, WordNone, start, nil
	}
	c := src[start]
	kind, word, end := KindOp, WordNone, start+1
	switch {
	case isIdentStart(c):
		// A string prefix: r, b, rb, br in any case, directly followed by a quote.
		if (c|0x20 == 'r' || c|0x20 == 'b') && start+1 < len(src) {
			if q := l.stringPrefix(start); q > 0 {
				return l.lexString(start, q)
			}
		}
		i := start + 1
		for i < len(src) {
			b := src[i]
			if !isIdentPart(b) || b >= 0x80 && unicodeSpaceLen(src, i) > 0 {
				break
			}
			i++
		}
		kind, end = KindIdent, i
		if l.templateAt(i) {
			// events_{{ suffix }}: a name with a templated piece is one opaque token.
			j, err := l.templateEnd(i)
			if err != nil {
				return 0, 0, 0, err
			}
			kind, end = KindTemplate, j
		} else if i-start <= maxWordLen && !(l.prev == KindOp && l.prevOp == '.') {
			if w := lookupWord(src[start:i]); w != WordNone {
				word = w
				if w.Reserved() {
					kind = KindKeyword
				}
			}
		}
	case isDigit(c) || (c == '.' && start+1 < len(src) && isDigit(src[start+1]) && !l.afterPathPart(start)):
		kind, end = KindNumber, l.numberEnd(start)
	case c == '\'' || c == '"':
		return l.lexString(start, start)
	case c == '`':
		i := start + 1
		for {
			if i >= len(src) {
				return 0, 0, 0, l.errorAt(l.pos(start), i, "unterminated quoted identifier")
			}
			b := src[i]
			if b == '\\' {
				i += 2
				continue
			}
			if b == '`' {
				i++
				break
			}
			i++
		}
		kind, end = KindQuotedIdent, i
		l.advanceLines(i)
	case (c == '{' || c == '$') && l.templateAt(start):
		j, err := l.templateEnd(start)
		if err != nil {
			return 0, 0, 0, err
		}
		kind, end = KindTemplate, j
	case c == '@':
		i := start + 1
		k := KindParam
		if i < len(src) && src[i] == '@' {
			i++
			k = KindSysVar
		}
		j := i
		if j < len(src) && src[j] == '`' {
			for j++; j < len(src) && src[j] != '`'; j++ {
			}
			if j < len(src) {
				j++
			}
		} else {
			for j < len(src) && (isIdentPart(src[j]) || (k == KindSysVar && src[j] == '.' && j+1 < len(src) && isIdentStart(src[j+1]))) {
				j++
			}
		}
		if j > i {
			kind, end = k, j
		}
		// A lone @ (query hint @{...}) is punctuation.
	default:
		n := opLen(src, start)
		if n == 0 {
			return 0, 0, 0, l.errorAt(l.pos(start), start+1, fmt.Sprintf("unexpected character %q", rune(c)))
		}
		if c == '?' {
			kind = KindParam
		}
		end = start + n
	}
	l.off = end
	l.prev, l.prevEnd, l.prevOp = kind, end, c
	return kind, word, end, nil
}

// templateEnd returns the end of the Jinja expression {{ ... }} at i together with any name
// characters and further expressions glued to it ({{ a }}_{{ b }}_daily), counting lines.
func (l *Lexer) templateEnd(i int) (int, error) {
	src := l.src
	for {
		if i+1 < len(src) && src[i] == '{' && src[i+1] == '{' {
			j := strings.Index(src[i+2:], "}}")
			if j < 0 {
				return 0, l.errorAt(l.pos(i), i+2, "unterminated template expression")
			}
			l.advanceLines(i + 2 + j + 2)
			i = l.off
			continue
		}
		if i+1 < len(src) && src[i] == '$' {
			if src[i+1] == '{' {
				// ${name}, ${col['name']} (shell, Mako): to the brace that balances it.
				depth, j := 0, i+1
				for ; j < len(src); j++ {
					if src[j] == '{' {
						depth++
					} else if src[j] == '}' {
						depth--
						if depth == 0 {
							break
						}
					}
				}
				if j >= len(src) {
					return 0, l.errorAt(l.pos(i), i+2, "unterminated template expression")
				}
				l.advanceLines(j + 1)
				i = l.off
				continue
			}
			if isIdentPart(src[i+1]) {
				i++ // $name, $1: the name characters are taken below
				continue
			}
		}
		if i < len(src) && isIdentPart(src[i]) && !(src[i] >= 0x80 && unicodeSpaceLen(src, i) > 0) {
			i++
			continue
		}
		return i, nil
	}
}

// templateAt reports whether a template expression starts at i: {{, ${ or $ before a name
// character ($1, $TABLE, as shell scripts and BTEQ conversions write them).
func (l *Lexer) templateAt(i int) bool {
	src := l.src
	if i+1 >= len(src) {
		return false
	}
	switch src[i] {
	case '{':
		return src[i+1] == '{'
	case '$':
		return src[i+1] == '{' || isIdentPart(src[i+1])
	}
	return false
}

// afterPathPart reports whether a '.' at off directly follows an identifier, ')' or ']', in which
// case it is a path dot (t.1 is not a number) rather than the start of .5.
func (l *Lexer) afterPathPart(off int) bool {
	if l.prevEnd != off {
		return false
	}
	switch l.prev {
	case KindIdent, KindQuotedIdent, KindKeyword, KindTemplate:
		return true
	case KindOp:
		return l.prevOp == ')' || l.prevOp == ']'
	}
	return false
}

// opLen returns the length of the operator at src[i:], or 0 if there is none.
func opLen(src string, i int) int {
	c := src[i]
	var d byte
	if i+1 < len(src) {
		d = src[i+1]
	}
	switch c {
	case '<':
		if d == '=' || d == '>' || d == '<' {
			return 2
		}
		return 1
	case '>':
		if d == '=' || d == '>' {
			return 2
		}
		return 1
	case '!':
		if d == '=' {
			return 2
		}
		return 0
	case '|':
		if d == '|' || d == '>' {
			return 2
		}
		return 1
	case '=':
		if d == '>' {
			return 2
		}
		return 1
	case '-':
		if d == '>' {
			return 2
		}
		return 1
	case '.', ',', ';', '(', ')', '[', ']', '{', '}', '+', '*', '/', '&', '^', '~', ':', '?', '%':
		return 1
	}
	return 0
}

// stringPrefix returns the offset of the opening quote if src[i:] starts a prefixed literal
// (r'..', b"..", rb'..', BR"..."), else 0.
func (l *Lexer) stringPrefix(i int) int {
	src := l.src
	j := i
	for k := 0; k < 2 && j < len(src); k++ {
		c := src[j] | 0x20
		if c != 'r' && c != 'b' {
			break
		}
		j++
	}
	if j == i || j >= len(src) || (src[j] != '\'' && src[j] != '"') {
		return 0
	}
	if j-i == 2 && (src[i]|0x20) == (src[i+1]|0x20) {
		return 0 // rr'..' and bb'..' are not prefixes
	}
	return j
}

// lexString reads a string or bytes literal whose opening quote is at q (prefix from start).
func (l *Lexer) lexString(start, q int) (Kind, Word, int, error) {
	src := l.src
	kind := KindString
	for i := start; i < q; i++ {
		if src[i]|0x20 == 'b' {
			kind = KindBytes
		}
	}
	quote := src[q]
	triple := q+2 < len(src) && src[q+1] == quote && src[q+2] == quote
	i := q + 1
	if triple {
		i = q + 3
	}
	for {
		if i >= len(src) {
			return 0, 0, 0, l.errorAt(l.pos(start), i, "unterminated string literal")
		}
		c := src[i]
		switch {
		case c == '\\':
			i += 2
			continue
		case c == '\n' && !triple:
			return 0, 0, 0, l.errorAt(l.pos(start), i, "unterminated string literal")
		case c == quote:
			if !triple {
				i++
				goto done
			}
			if i+2 < len(src) && src[i+1] == quote && src[i+2] == quote {
				i += 3
				goto done
			}
		}
		i++
	}
done:
	l.advanceLines(i)
	l.prev, l.prevEnd, l.prevOp = kind, i, 0
	return kind, WordNone, i, nil
}

// numberEnd returns the end of the number literal starting at i.
func (l *Lexer) numberEnd(i int) int {
	src := l.src
	if src[i] == '0' && i+1 < len(src) && (src[i+1]|0x20) == 'x' {
		i += 2
		for i < len(src) && (isDigit(src[i]) || (src[i]|0x20) >= 'a' && (src[i]|0x20) <= 'f') {
			i++
		}
		return i
	}
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	if i < len(src) && src[i] == '.' {
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i]|0x20) == 'e' {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			i = j
		}
	}
	return i
}

// UnquoteIdent returns the identifier a token's text names: backticks removed and escapes inside
// them resolved; unquoted text is returned as is. It allocates only when there are escapes.
func UnquoteIdent(text string) string {
	if len(text) < 2 || text[0] != '`' || text[len(text)-1] != '`' {
		return text
	}
	body := text[1 : len(text)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' || i+1 >= len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		default:
			b.WriteByte(body[i])
		}
	}
	return b.String()
}
