package sqlref

import "strings"

// maxPathParts bounds the parts of a path kept without allocating; longer paths are never tables.
const maxPathParts = 8

// path is a dotted name as written: each part unquoted but not lowercased, with the byte span
// of the whole path.
type path struct {
	parts      [maxPathParts]string
	n          int
	start, end int
	overflow   bool
}

func (p *path) add(part string) {
	if p.n == maxPathParts {
		p.overflow = true
		return
	}
	p.parts[p.n] = part
	p.n++
}

func isWordToken(k Kind) bool { return k == KindIdent || k == KindKeyword }

// readPath reads a dotted path at i into p: unquoted or backticked parts (a backticked part may
// hold dots), dashed project names (my-project-1.ds.t, region-us) whose pieces touch, and a
// trailing wildcard star (events_*). It returns the index after the path.
func (e *extractor) readPath(i int, p *path) (int, bool) {
	first := e.tok(i)
	if first.Kind != KindIdent && first.Kind != KindQuotedIdent && first.Kind != KindTemplate && !(first.Kind == KindKeyword && softReserved(first.Word)) {
		return i, false
	}
	*p = path{start: first.start()}
	for {
		t := e.tok(i)
		dotDone := false
		switch {
		case t.Kind == KindTemplate:
			if p.n == 0 && e.dbtMacro(e.txt(t), p) {
				p.end = t.end()
				return i + 1, true
			}
			p.add("") // a templated part is unknown
			p.end = t.end()
			i++
		case t.Kind == KindQuotedIdent && strings.ContainsAny(e.txt(t), "{$"):
			splitTemplated(UnquoteIdent(e.txt(t)), p)
			p.end = t.end()
			i++
		case t.Kind == KindQuotedIdent:
			body := UnquoteIdent(e.txt(t))
			for {
				j := strings.IndexByte(body, '.')
				if j < 0 {
					break
				}
				p.add(body[:j])
				body = body[j+1:]
			}
			p.add(body)
			p.end = t.end()
			i++
		case isWordToken(t.Kind) || (p.n > 0 && t.Kind == KindNumber):
			s, end := t.start(), t.end()
			i++
			if t.Kind == KindNumber && strings.HasSuffix(e.txt(t), ".") {
				end--
				dotDone = true
			}
			// Dashed names (my-project-123, region-us) do not lex as one token, and their digit
			// pieces can swallow the dot that follows (123.ds, 2.e2e_tests): read them from the bytes.
			if !dotDone && e.op(i, "-") && e.tok(i).start() == end && e.dashedPieceAt(i+1) {
				next, more := e.readDashed(s, p)
				if !more {
					return next, true
				}
				i = next
				continue
			}
			if !dotDone && e.op(i, "*") && e.tok(i).start() == end {
				end = e.tok(i).end()
				i++
			}
			p.add(e.src[s:end])
			p.end = end
		default:
			if p.n == 0 {
				return i, false
			}
			return i, true
		}
		if dotDone {
			if !e.pathPartAt(i) {
				return i, true
			}
			continue
		}
		if e.op(i, ".") && e.pathPartAt(i+1) {
			i++
			continue
		}
		return i, true
	}
}

// softReserved reports whether a reserved keyword cannot start or end a clause where a table
// name is expected, so that SQL using it unquoted as a name (FROM lookup, FROM hash) still reads.
func softReserved(w Word) bool {
	switch w {
	case WLOOKUP, WHASH, WPROTO, WENUM, WNEW, WDEFINE, WGROUPS, WRANGE, WTREAT, WCONTAINS, WESCAPE,
		WCUBE, WROLLUP, WFETCH, WWITHIN, WRESPECT, WIGNORE, WNULLS, WSOME, WANY, WNO, WCURRENT,
		WEXCLUDE, WGROUPING, WPRECEDING, WFOLLOWING, WUNBOUNDED, WASSERTROWSMODIFIED:
		return true
	}
	return false
}

func (e *extractor) dashedPieceAt(i int) bool {
	n := e.tok(i)
	return (isWordToken(n.Kind) || n.Kind == KindNumber) && n.start() == e.tok(i-1).end()
}

// readDashed reads unquoted path parts straight from the source bytes, starting at offset s:
// runs of letters, digits, '_' and '-', separated by dots, with an optional trailing '*'. It
// returns the index of the first token after what it read and whether a backticked part follows
// (after a dot), in which case that index is the backticked token and reading goes on from it.
func (e *extractor) readDashed(s int, p *path) (int, bool) {
	src := e.src
	pos := s
	for {
		start := pos
		for pos < len(src) && (isIdentPart(src[pos]) || src[pos] == '-') {
			pos++
		}
		for pos > start && src[pos-1] == '-' {
			pos--
		}
		if pos < len(src) && src[pos] == '*' {
			pos++
		}
		p.add(src[start:pos])
		p.end = pos
		if pos+1 < len(src) && src[pos] == '.' {
			if src[pos+1] == '`' {
				return e.tokenAt(pos + 1), true
			}
			if isIdentPart(src[pos+1]) {
				pos++
				continue
			}
		}
		return e.tokenAt(pos), false
	}
}

// tokenAt returns the index of the first token starting at or after off.
func (e *extractor) tokenAt(off int) int {
	lo, hi := 0, len(e.toks)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if e.toks[mid].start() < off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (e *extractor) pathPartAt(i int) bool {
	k := e.tok(i).Kind
	return k == KindIdent || k == KindQuotedIdent || k == KindKeyword || k == KindTemplate
}

// splitTemplated splits a backticked path holding Jinja expressions (or Python format fields) on
// the dots outside them (`{{ params.project }}.ds.t`, `{source_table}`); a part with one in it is
// unknown and added empty.
func splitTemplated(body string, p *path) {
	start, templ := 0, false
	for i := 0; i < len(body); i++ {
		switch {
		case body[i] == '{':
			templ = true
			if j := strings.IndexByte(body[i+1:], '}'); j >= 0 {
				i += 1 + j
			} else {
				i = len(body) - 1
			}
		case body[i] == '$' && i+1 < len(body) && (body[i+1] == '{' || isIdentPart(body[i+1])):
			templ = true
		case body[i] == '.':
			if templ {
				p.add("")
			} else {
				p.add(body[start:i])
			}
			start, templ = i+1, false
		}
	}
	if templ {
		p.add("")
	} else {
		p.add(body[start:])
	}
}

// dbtMacro reads the dbt macros {{ ref('model') }} (also ref('package', 'model') and a version
// argument) and {{ source('source', 'table') }} into p as table and dataset.table, since those
// name the relation even though the project and dataset are filled in at compile time.
func (e *extractor) dbtMacro(text string, p *path) bool {
	body, ok := strings.CutPrefix(text, "{{")
	if !ok {
		return false
	}
	body, ok = strings.CutSuffix(body, "}}")
	if !ok {
		return false
	}
	body = strings.Trim(body, "- \t\r\n")
	var name string
	switch {
	case strings.HasPrefix(body, "ref("):
		name, body = "ref", body[4:]
	case strings.HasPrefix(body, "source("):
		name, body = "source", body[7:]
	default:
		return false
	}
	body, ok = strings.CutSuffix(body, ")")
	if !ok {
		return false
	}
	var args [2]string
	n := 0
	for body != "" {
		body = strings.TrimLeft(body, " \t\r\n,")
		if body == "" || (body[0] != '\'' && body[0] != '"') {
			break // keyword arguments (v=2) come last
		}
		end := strings.IndexByte(body[1:], body[0])
		if end < 0 {
			return false
		}
		if n == len(args) {
			return false
		}
		args[n] = body[1 : end+1]
		n++
		body = body[end+2:]
	}
	switch {
	case name == "ref" && n >= 1:
		p.add(args[n-1])
	case name == "source" && n == 2:
		p.add(args[0])
		p.add(args[1])
	default:
		return false
	}
	return true
}

// isAlias reports whether name is a visible range variable (not introduced by the current item).
func (e *extractor) isAlias(name string) bool {
	for k := len(e.names) - 1; k >= 0; k-- {
		n := &e.names[k]
		// In its own FROM clause a range variable is visible only to the items after it.
		if n.cte || (n.from == e.curFrom && n.from >= 0 && n.item >= e.curItem) {
			continue
		}
		if strings.EqualFold(n.name, name) {
			return true
		}
	}
	return false
}

func (e *extractor) isCTE(name string) bool {
	for k := len(e.names) - 1; k >= 0; k-- {
		n := &e.names[k]
		if n.cte && strings.EqualFold(n.name, name) {
			return true
		}
	}
	return false
}

func (e *extractor) isTemp(name string) bool {
	for _, t := range e.temps {
		if strings.EqualFold(t, name) {
			return true
		}
	}
	return false
}

// record resolves p and, if it names a permanent table, adds it as a read or write. inFrom marks
// a FROM item or TABLE argument, where CTE names and range variables shadow tables.
func (e *extractor) record(p *path, write, inFrom bool) (TableName, bool) {
	if p.overflow || p.n == 0 {
		return TableName{}, false
	}
	parts := p.parts[:p.n]
	if inFrom {
		if p.n >= 2 && e.isAlias(parts[0]) {
			return TableName{}, false // an array path on a range variable
		}
		if p.n == 1 && e.isCTE(parts[0]) {
			return TableName{}, false
		}
	}
	if p.n == 1 && e.isTemp(parts[0]) {
		return TableName{}, false
	}
	if p.n >= 2 && strings.EqualFold(parts[0], "_session") {
		return TableName{}, false
	}
	var name TableName
	info := -1
	for k := 0; k+1 < len(parts); k++ {
		if strings.EqualFold(parts[k], "information_schema") {
			info = k
			break
		}
	}
	if info >= 0 {
		if info+2 != len(parts) || info > 2 {
			return TableName{}, false
		}
		name.Table = "information_schema." + strings.ToLower(parts[info+1])
		if info >= 1 {
			name.Dataset = strings.ToLower(parts[info-1])
		}
		if info == 2 {
			name.Project = strings.ToLower(parts[0])
		}
	} else {
		switch len(parts) {
		case 1:
			name.Table = strings.ToLower(parts[0])
		case 2:
			name.Dataset, name.Table = strings.ToLower(parts[0]), strings.ToLower(parts[1])
		case 3:
			name.Project, name.Dataset, name.Table = strings.ToLower(parts[0]), strings.ToLower(parts[1]), strings.ToLower(parts[2])
		default:
			return TableName{}, false
		}
	}
	if name.Table == "" {
		return TableName{}, false
	}
	if name.Dataset == "" && e.bareDataset != "" {
		name.Dataset = strings.ToLower(e.bareDataset)
		if e.bareProject != "" {
			name.Project = strings.ToLower(e.bareProject)
		}
	}
	if name.Dataset == "" {
		name.Dataset = e.opts.DefaultDataset
	}
	if name.Project == "" {
		name.Project = e.opts.DefaultProject
	}
	e.refs = append(e.refs, Reference{Name: name, Start: p.start, End: p.end, Write: write})
	if write {
		e.writes = append(e.writes, name)
	} else if !e.wasCreated(name) {
		e.reads = append(e.reads, name)
	}
	return name, true
}

func (e *extractor) wasCreated(n TableName) bool {
	for _, c := range e.created {
		if c == n {
			return true
		}
	}
	return false
}

// legacyPath reads a legacy SQL table reference [project:dataset.table] (a domain-scoped project
// keeps its colon: [example.com:proj:ds.t]) or [dataset.table] at the '[' at i into p. A table
// decorator (@-3600000-, $20240101) is dropped.
func (e *extractor) legacyPath(i int, p *path) bool {
	t := e.tok(i)
	if t.Match == 0 || int(t.Match) >= len(e.toks)-1 {
		return false
	}
	body := e.src[t.end():e.tok(int(t.Match)).start()]
	for k := 0; k < len(body); k++ {
		c := body[k]
		if !isIdentPart(c) && c != '-' && c != '.' && c != ':' && c != '@' && c != '$' && c != '*' {
			return false
		}
	}
	if k := strings.IndexAny(body, "@$"); k >= 0 {
		body = body[:k]
	}
	*p = path{start: t.start(), end: e.tok(int(t.Match)).end()}
	project := ""
	if k := strings.LastIndexByte(body, ':'); k >= 0 {
		project, body = body[:k], body[k+1:]
	}
	ds, table, ok := strings.Cut(body, ".")
	if !ok || ds == "" || table == "" || strings.Contains(table, ".") && project != "" {
		return false
	}
	if project != "" {
		p.add(project)
	}
	p.add(ds)
	p.add(table)
	return true
}
