package sqlref

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Extract returns the permanent tables sql (one statement or a whole script) reads and writes,
// following the contract in README.md. Errors are *Error values with the line and column of the
// text that could not be read or of the statement that was not recognised.
func Extract(sql string, opts Options) (*Result, error) {
	var x Extractor
	return x.Extract(sql, opts)
}

// Extractor runs Extract while reusing its buffers between calls, which saves allocations when
// many files are read in a row. The zero value is ready to use; it is not safe for concurrent use.
type Extractor struct {
	e extractor
}

// Extract is Extract with x's reusable buffers.
func (x *Extractor) Extract(sql string, opts Options) (*Result, error) {
	e := &x.e
	e.reset(sql, opts)
	if len(sql) >= math.MaxInt32 {
		return nil, &Error{Line: 1, Column: 1, Msg: "SQL text larger than 2 GiB"}
	}
	if need := len(sql)/4 + 16; cap(e.toks) < need {
		// About one token per four bytes of SQL: one allocation instead of repeated growth.
		e.toks = make([]rawTok, 0, need)
	}
	var err error
	e.toks, e.stack, err = appendRaw(e.toks[:0], e.stack, sql)
	if err != nil {
		return nil, err
	}
	e.script()
	if e.err != nil {
		return nil, e.err
	}
	return e.result(), nil
}

// scopeName is a name visible in the current scope: a CTE (or table parameter), or a range
// variable (alias) of a FROM clause. item is the token index of the FROM item that introduced an
// alias, so an item never sees its own alias.
type scopeName struct {
	name string
	cte  bool
	from int // token index of the FROM clause that introduced an alias
	item int
}

type extractor struct {
	src   string
	opts  Options
	toks  []rawTok
	stack []int32 // scratch for appendRaw's bracket matching
	err   error

	names   []scopeName // visible CTEs and aliases, innermost last
	temps   []string    // temp tables of the script, lowercased
	newTemp []string    // temp tables the current statement creates (visible from the next one)
	created []TableName // tables permanently created by earlier statements
	stmtNew []TableName // tables permanently created by the current statement
	refs    []Reference
	reads   []TableName
	writes  []TableName
	curItem int // token index of the FROM item being emitted, -1 outside
	curFrom int // token index of the FROM clause being read

	lastTarget string // last name part of the DML target just read, its implicit alias
	depth      int    // current nesting of expr and query

	selects    []selectFrame // SELECTs being read, innermost last
	pushOnEmit bool          // fromClause(emit) also records range variables as it goes

	// bareDataset and bareProject, when set by SET @@dataset_id / @@dataset_project_id, resolve
	// single-part table names in the statements after.
	bareDataset, bareProject string
}

func (e *extractor) reset(sql string, opts Options) {
	e.src, e.opts, e.err = sql, opts, nil
	e.names = e.names[:0]
	e.temps = e.temps[:0]
	e.newTemp = e.newTemp[:0]
	e.created = e.created[:0]
	e.stmtNew = e.stmtNew[:0]
	e.refs = e.refs[:0]
	e.reads = e.reads[:0]
	e.writes = e.writes[:0]
	e.curItem = -1
	e.curFrom = -1
	e.depth = 0
	e.selects = e.selects[:0]
	e.pushOnEmit = false
	e.lastTarget = ""
	e.bareDataset, e.bareProject = "", ""
}

func (e *extractor) result() *Result {
	r := &Result{}
	r.Reads = sortUnique(e.reads)
	r.Writes = sortUnique(e.writes)
	if !slices.IsSortedFunc(e.refs, func(a, b Reference) int { return a.Start - b.Start }) {
		slices.SortStableFunc(e.refs, func(a, b Reference) int { return a.Start - b.Start })
	}
	if len(e.refs) > 0 {
		// e.refs is reused between calls; the caller gets its own exact-size copy.
		r.References = slices.Clone(e.refs)
	}
	return r
}

func sortUnique(list []TableName) []TableName {
	if len(list) == 0 {
		return nil
	}
	out := slices.Clone(list)
	slices.SortFunc(out, func(a, b TableName) int {
		switch {
		case a.Less(b):
			return -1
		case b.Less(a):
			return 1
		}
		return 0
	})
	return slices.Compact(out)
}

// ---- token helpers ----

func (e *extractor) tok(i int) *rawTok {
	toks := e.toks
	// One unsigned compare covers both ends and lets the compiler drop the index check.
	if uint(i) >= uint(len(toks)) {
		i = len(toks) - 1
	}
	return &toks[i]
}

// kw reports whether token i is the reserved keyword w.
func (e *extractor) kw(i int, w Word) bool {
	t := e.tok(i)
	return t.Kind == KindKeyword && t.Word == w
}

// word reports whether token i is the non-reserved word w (used as a keyword here).
func (e *extractor) word(i int, w Word) bool {
	t := e.tok(i)
	return t.Kind == KindIdent && t.Word == w
}

// op reports whether token i is the operator op (one or two bytes).
func (e *extractor) op(i int, op string) bool {
	t := e.tok(i)
	if t.Kind != KindOp || t.Op != op[0] {
		return false
	}
	if len(op) == 1 {
		return t.Op2 == 0
	}
	return t.Op2 == op[1]
}

// txt is the source text of a token.
func (e *extractor) txt(t *rawTok) string { return e.src[t.Start:t.End] }

// start and end are a token's byte offsets as ints.
func (t *rawTok) start() int { return int(t.Start) }
func (t *rawTok) end() int   { return int(t.End) }

// lineCol computes the 1-based line and column of off; only errors need it, so tokens do not
// carry positions.
func lineCol(src string, off int) (int, int) {
	line, lineStart := 1, 0
	for i := 0; i < off && i < len(src); i++ {
		if src[i] == '\n' {
			line++
			lineStart = i + 1
		}
	}
	return line, off - lineStart + 1
}

func (e *extractor) eof(i int) bool { return e.tok(i).Kind == KindEOF }

func (e *extractor) isName(i int) bool {
	k := e.tok(i).Kind
	return k == KindIdent || k == KindQuotedIdent || k == KindTemplate
}

func (e *extractor) fail(i int, format string, args ...any) {
	if e.err != nil {
		return
	}
	t := e.tok(i)
	text := e.txt(t)
	if t.Kind == KindEOF {
		text = ""
	}
	line, col := lineCol(e.src, t.start())
	e.err = &Error{Line: line, Column: col, Offset: t.start(), Text: text, Msg: fmt.Sprintf(format, args...)}
}

// skipBalanced skips from an opening bracket at i to just past its matching closer.
func (e *extractor) skipBalanced(i int) int {
	t := e.tok(i)
	if t.Kind != KindOp || t.Match == 0 {
		return i + 1
	}
	if int(t.Match) >= len(e.toks)-1 {
		return len(e.toks) - 1
	}
	return int(t.Match) + 1
}

// skipStatement skips to the ';' ending the statement (not consumed) or EOF.
func (e *extractor) skipStatement(i int) int {
	for !e.eof(i) && !e.op(i, ";") {
		if e.op(i, "(") || e.op(i, "[") {
			i = e.skipBalanced(i)
			continue
		}
		i++
	}
	return i
}

// ---- scripts and statements ----

func (e *extractor) script() {
	i := 0
	for !e.eof(i) && e.err == nil {
		if e.op(i, ";") {
			i++
			continue
		}
		mark := len(e.names)
		next := e.statement(i)
		e.names = e.names[:mark]
		e.created = append(e.created, e.stmtNew...)
		e.stmtNew = e.stmtNew[:0]
		e.temps = append(e.temps, e.newTemp...)
		e.newTemp = e.newTemp[:0]
		if next <= i { // no progress: never loop forever on odd input
			next = i + 1
		}
		i = next
	}
}

// statement reads one statement (or the head of a scripting block) at i and returns where the
// next one starts.
func (e *extractor) statement(i int) int {
	t := e.tok(i)
	if t.Kind == KindOp {
		if e.txt(t) == "(" {
			return e.expr(i, modeStatement)
		}
		e.fail(i, "unexpected %q at the start of a statement", e.txt(t))
		return i
	}
	if t.Kind == KindKeyword {
		switch t.Word {
		case WSELECT, WWITH, WFROM:
			return e.expr(e.query(i), modeStatement)
		case WCREATE:
			return e.create(i)
		case WMERGE:
			return e.merge(i)
		case WSET:
			e.setSystemVariable(i + 1)
			next := e.expr(i+1, modeStatement)
			e.dynamicTemps(i+1, next)
			return next
		case WIF:
			return e.condition(i + 1)
		case WELSE:
			return i + 1
		case WEND:
			return e.end(i)
		case WFOR:
			// FOR x IN (query) DO
			return e.condition(i + 1)
		case WWHEN:
			// A branch of a CASE statement.
			return e.condition(i + 1)
		case WCASE:
			return e.condition(i + 1)
		}
		e.fail(i, "unrecognised statement starting with %s", strings.ToUpper(e.txt(t)))
		return i
	}
	if t.Kind == KindIdent && e.op(i+1, ":") && t.Word == WordNone || (t.Kind == KindIdent && e.op(i+1, ":") && (e.word(i+2, WBEGIN) || e.word(i+2, WLOOP) || e.word(i+2, WWHILE) || e.word(i+2, WREPEAT) || e.kw(i+2, WFOR))) {
		return i + 2 // a label
	}
	if t.Kind == KindTemplate {
		// A Jinja expression standing for a whole statement or a header comment ({{ header }},
		// {{ min_row_count(1) }}): nothing to read.
		return i + 1
	}
	if t.Kind != KindIdent {
		e.fail(i, "unexpected %s at the start of a statement", t.Kind)
		return i
	}
	switch t.Word {
	case WINSERT:
		j := i + 1
		if e.kw(j, WINTO) {
			j++
		}
		j = e.target(j, true)
		return e.expr(j, modeStatement)
	case WUPDATE:
		j := e.target(i+1, true)
		j = e.targetAlias(j)
		return e.expr(j, modeStatement)
	case WDELETE:
		j := i + 1
		if e.kw(j, WFROM) {
			j++
		}
		j = e.target(j, true)
		j = e.targetAlias(j)
		return e.expr(j, modeStatement)
	case WTRUNCATE:
		j := i + 1
		if e.word(j, WTABLE) {
			j++
		}
		return e.expr(e.target(j, true), modeStatement)
	case WDROP:
		return e.drop(i)
	case WALTER:
		j := i + 1
		if e.word(j, WTABLE) {
			j++
			if e.kw(j, WIF) && e.kw(j+1, WEXISTS) {
				j += 2
			}
			j = e.target(j, true)
		}
		return e.skipStatement(j)
	case WUNDROP, WGRANT, WREVOKE, WCOMMIT, WROLLBACK, WBREAK, WLEAVE, WCONTINUE, WITERATE,
		WDESCRIBE, WSHOW, WUSE, WRENAME:
		return e.skipStatement(i + 1)
	case WDECLARE, WEXECUTE:
		next := e.expr(i+1, modeStatement)
		e.dynamicTemps(i+1, next)
		return next
	case WRETURN, WRAISE, WASSERT, WCALL, WEXPLAIN:
		return e.expr(i+1, modeStatement)
	case WBEGIN:
		if e.word(i+1, WTRANSACTION) {
			return e.skipStatement(i + 1)
		}
		return i + 1
	case WEXCEPTION:
		// EXCEPTION WHEN ERROR THEN
		j := i + 1
		for !e.eof(j) && !e.kw(j, WTHEN) && !e.op(j, ";") {
			j++
		}
		if e.kw(j, WTHEN) {
			j++
		}
		return j
	case WELSEIF, WELSIF, WWHILE, WUNTIL:
		return e.condition(i + 1)
	case WLOOP, WREPEAT:
		return i + 1
	case WEXPORT:
		if e.word(i+1, WDATA) {
			return e.expr(i+2, modeStatement)
		}
		return e.skipStatement(i + 1)
	case WLOAD:
		return e.load(i)
	}
	e.fail(i, "unrecognised statement starting with %s", strings.ToUpper(e.txt(t)))
	return i
}

// setSystemVariable follows SET @@dataset_id = '...' and SET @@dataset_project_id = '...', which
// change where the script's later unqualified table names resolve.
func (e *extractor) setSystemVariable(i int) {
	t := e.tok(i)
	if t.Kind != KindSysVar || !e.op(i+1, "=") || e.tok(i+2).Kind != KindString {
		return
	}
	value := strings.Trim(strings.TrimLeft(e.txt(e.tok(i+2)), "rR"), `'"`)
	switch strings.ToLower(e.txt(t)) {
	case "@@dataset_id":
		e.bareDataset = value
	case "@@dataset_project_id":
		e.bareProject = value
	}
}

// condition reads a scripting condition up to and including THEN or DO (IF, ELSEIF, WHILE,
// WHEN, FOR x IN (...) DO), or up to END (UNTIL ... END REPEAT).
func (e *extractor) condition(i int) int {
	j := e.expr(i, modeCondition)
	if e.kw(j, WTHEN) || e.word(j, WDO) {
		j++
	}
	return j
}

// end reads END [IF|LOOP|WHILE|FOR|REPEAT|CASE] [label].
func (e *extractor) end(i int) int {
	j := i + 1
	if e.kw(j, WIF) || e.word(j, WLOOP) || e.word(j, WWHILE) || e.kw(j, WFOR) || e.word(j, WREPEAT) || e.kw(j, WCASE) {
		j++
	}
	if e.tok(j).Kind == KindIdent && (e.op(j+1, ";") || e.eof(j+1)) {
		j++
	}
	return j
}

func (e *extractor) merge(i int) int {
	j := i + 1
	if e.kw(j, WINTO) {
		j++
	}
	j = e.target(j, true)
	j = e.targetAlias(j)
	if e.kw(j, WUSING) {
		j = e.fromClauseScoped(j + 1)
	}
	return e.expr(j, modeStatement)
}

func (e *extractor) drop(i int) int {
	j := i + 1
	if e.word(j, WEXTERNAL) || e.word(j, WMATERIALIZED) || e.word(j, WSNAPSHOT) || e.word(j, WTEMP) || e.word(j, WTEMPORARY) {
		j++
	}
	if !e.word(j, WTABLE) && !e.word(j, WVIEW) || e.word(j+1, WFUNCTION) {
		return e.skipStatement(j)
	}
	j++
	if e.kw(j, WIF) && e.kw(j+1, WEXISTS) {
		j += 2
	}
	return e.skipStatement(e.target(j, true))
}

func (e *extractor) load(i int) int {
	j := i + 1
	if !e.word(j, WDATA) {
		e.fail(i, "unrecognised statement starting with LOAD (expected LOAD DATA)")
		return i
	}
	j++
	if e.word(j, WOVERWRITE) || e.kw(j, WINTO) {
		j++
	}
	temp := false
	if e.word(j, WTEMP) || e.word(j, WTEMPORARY) {
		temp = true
		j++
		if e.word(j, WTABLE) {
			j++
		}
	}
	if temp {
		j = e.declareTemp(j)
	} else {
		j = e.target(j, true)
	}
	return e.skipStatement(j)
}

func (e *extractor) create(i int) int {
	j := i + 1
	if e.kw(j, WOR) && e.word(j+1, WREPLACE) {
		j += 2
	}
	temp := false
	if e.word(j, WTEMP) || e.word(j, WTEMPORARY) {
		temp = true
		j++
	}
	ifNotExists := func(j int) int {
		if e.kw(j, WIF) && e.kw(j+1, WNOT) && e.kw(j+2, WEXISTS) {
			return j + 3
		}
		return j
	}
	switch {
	case e.word(j, WTABLE) && e.word(j+1, WFUNCTION):
		j = ifNotExists(j + 2)
		j = e.skipPath(j)
		if e.op(j, "(") {
			j = e.params(j)
		}
		return e.expr(j, modeStatement)
	case e.word(j, WTABLE):
		j = ifNotExists(j + 1)
		if temp {
			j = e.declareTemp(j)
		} else {
			j = e.createdTarget(j)
		}
		return e.tableTail(j)
	case e.word(j, WSNAPSHOT) && e.word(j+1, WTABLE), e.word(j, WEXTERNAL) && e.word(j+1, WTABLE):
		j = ifNotExists(j + 2)
		j = e.createdTarget(j)
		return e.tableTail(j)
	case e.word(j, WVIEW), e.word(j, WMATERIALIZED) && e.word(j+1, WVIEW):
		if e.word(j, WMATERIALIZED) {
			j++
		}
		j = ifNotExists(j + 1)
		if temp {
			j = e.skipPath(j)
		} else {
			j = e.createdTarget(j)
		}
		return e.expr(j, modeStatement)
	case e.word(j, WFUNCTION), e.word(j, WAGGREGATE) && e.word(j+1, WFUNCTION):
		if e.word(j, WAGGREGATE) {
			j++
		}
		j = ifNotExists(j + 1)
		j = e.skipPath(j)
		if e.op(j, "(") {
			j = e.skipBalanced(j)
		}
		return e.expr(j, modeStatement)
	case e.word(j, WPROCEDURE):
		j = ifNotExists(j + 1)
		j = e.skipPath(j)
		if e.op(j, "(") {
			j = e.skipBalanced(j)
		}
		// The body (BEGIN ... END) is read as ordinary script statements.
		for !e.eof(j) && !e.word(j, WBEGIN) && !e.op(j, ";") {
			if e.op(j, "(") {
				j = e.skipBalanced(j)
				continue
			}
			j++
		}
		return j
	case e.word(j, WMODEL):
		j = ifNotExists(j + 1)
		j = e.skipPath(j)
		return e.expr(j, modeStatement)
	case e.word(j, WEXTERNAL) && e.word(j+1, WSCHEMA), e.word(j, WSCHEMA), e.word(j, WDATABASE), e.word(j, WCAPACITY), e.word(j, WRESERVATION),
		e.word(j, WASSIGNMENT), e.word(j, WSEARCH), e.word(j, WVECTOR), e.word(j, WINDEX),
		e.word(j, WROW), e.word(j, WPRIVILEGE), e.word(j, WCONNECTION):
		return e.skipStatement(j)
	}
	e.fail(i, "unrecognised CREATE statement: CREATE %s is not a known object kind", strings.ToUpper(e.txt(e.tok(j))))
	return i
}

// tableTail reads what follows CREATE TABLE name: an optional column list, then LIKE/COPY/CLONE
// source, then options and AS query.
func (e *extractor) tableTail(j int) int {
	if e.op(j, "(") && !e.startsQuery(j) {
		j = e.skipBalanced(j)
	}
	if e.kw(j, WLIKE) || e.word(j, WCOPY) || e.word(j, WCLONE) {
		j = e.tableRef(j+1, false)
	}
	return e.expr(j, modeStatement)
}

// params reads a table function's parameter list and makes the parameter names shadow tables
// in the body (a TABLE<...> parameter is used as FROM param).
func (e *extractor) params(i int) int {
	end := e.skipBalanced(i)
	depth := 0
	for j := i; j < end; j++ {
		t := e.tok(j)
		if t.Kind == KindOp {
			switch e.txt(t) {
			case "(", "<", "[":
				depth++
				if depth == 1 && e.isName(j+1) {
					e.names = append(e.names, scopeName{name: UnquoteIdent(e.txt(e.tok(j + 1))), cte: true, from: -1, item: -1})
				}
			case ")", ">", "]":
				depth--
			case ">>":
				depth -= 2
			case ",":
				if depth == 1 && e.isName(j+1) {
					e.names = append(e.names, scopeName{name: UnquoteIdent(e.txt(e.tok(j + 1))), cte: true, from: -1, item: -1})
				}
			}
		}
	}
	return end
}

// declareTemp reads a temp table's name and remembers it.
func (e *extractor) declareTemp(j int) int {
	var p path
	next, ok := e.readPath(j, &p)
	if !ok {
		return j
	}
	e.newTemp = append(e.newTemp, p.parts[p.n-1])
	return next
}

// skipPath skips a dotted name (function, model, procedure).
func (e *extractor) skipPath(j int) int {
	var p path
	next, ok := e.readPath(j, &p)
	if !ok {
		return j
	}
	return next
}

// target reads a DML/DDL target table name at j and records it as written (write=true).
func (e *extractor) target(j int, write bool) int {
	var p path
	next, ok := e.readPath(j, &p)
	if !ok {
		e.lastTarget = ""
		return j
	}
	e.lastTarget = p.parts[p.n-1]
	e.record(&p, write, false)
	return next
}

// created reads the name of a table a CREATE makes permanently: written, and not a read for
// later statements of the script.
func (e *extractor) createdTarget(j int) int {
	var p path
	next, ok := e.readPath(j, &p)
	if !ok {
		return j
	}
	if n, ok := e.record(&p, true, false); ok {
		e.stmtNew = append(e.stmtNew, n)
	}
	return next
}

// targetAlias reads the optional [AS] alias after an UPDATE/DELETE/MERGE target; without one
// the target's last name part is its range variable (DELETE ds.t WHERE ... FROM t.items).
func (e *extractor) targetAlias(j int) int {
	if e.kw(j, WAS) {
		j++
	}
	if e.isName(j) && canBeAlias(e.tok(j).Word) {
		e.names = append(e.names, scopeName{name: UnquoteIdent(e.txt(e.tok(j))), from: -1, item: -1})
		return j + 1
	}
	if e.lastTarget != "" {
		e.names = append(e.names, scopeName{name: e.lastTarget, from: -1, item: -1})
	}
	return j
}

// maxDepth bounds how deeply expressions and queries may nest, so hostile input cannot make the
// recursive walk use unbounded stack.
const maxDepth = 2000

// enter counts one level of nesting at token i and reports (after recording an error) when the
// input nests too deeply.
func (e *extractor) enter(i int) bool {
	e.depth++
	if e.depth > maxDepth {
		e.fail(i, "expression nests more than %d levels deep", maxDepth)
		return true
	}
	return false
}

func (e *extractor) leave() { e.depth-- }

// ---- queries ----

// startsQuery reports whether the '(' at i opens a query (possibly behind more parentheses).
func (e *extractor) startsQuery(i int) bool {
	// The lookahead is capped so that a long run of '(' stays linear to read.
	for n := 0; e.op(i, "(") && n < 64; n++ {
		i++
	}
	return e.kw(i, WSELECT) || e.kw(i, WFROM) || (e.kw(i, WWITH) && e.startsWith(i))
}

// startsWith reports whether the WITH at i begins a WITH clause (not WITH OFFSET/CONNECTION/...).
func (e *extractor) startsWith(i int) bool {
	if e.kw(i+1, WRECURSIVE) {
		return true
	}
	if e.isName(i+1) && (e.kw(i+2, WAS) || e.op(i+2, "(")) {
		return true
	}
	// A Jinja macro standing for CTE definitions: WITH {{ m() }}, c AS (...) or, when the
	// macro brings its own comma, WITH {{ m() }} c AS (...).
	j := i + 1
	for e.tok(j).Kind == KindTemplate {
		j++
	}
	if j == i+1 {
		return false
	}
	return e.op(j, ",") && e.isName(j+1) || e.isName(j) && e.kw(j+1, WAS) && e.op(j+2, "(")
}

// query reads a query expression at i: [WITH ...] operands joined by set operators, ORDER BY,
// LIMIT and pipe operators. It stops at ')', ';' or the end.
func (e *extractor) query(i int) int {
	if e.enter(i) {
		return len(e.toks) - 1
	}
	defer e.leave()
	mark := len(e.names)
	if e.kw(i, WWITH) {
		i = e.with(i + 1)
		// Tolerated though BigQuery rejects it: WITH c AS (...) INSERT/UPDATE/DELETE/MERGE ...
		if e.word(i, WINSERT) || e.word(i, WUPDATE) || e.word(i, WDELETE) || e.kw(i, WMERGE) {
			i = e.statement(i)
			e.names = e.names[:mark]
			return i
		}
	}
	for e.err == nil {
		switch {
		case e.kw(i, WSELECT):
			i = e.selectBody(i)
		case e.op(i, "("):
			if e.startsQuery(i) {
				i = e.query(i + 1)
				if e.op(i, ")") {
					i++
				}
			} else {
				i = e.expr(i, modeQueryTail)
			}
		case e.kw(i, WFROM):
			i = e.fromClauseScoped(i + 1)
		}
		j, ok := e.setOp(i)
		if !ok {
			break
		}
		i = j
	}
	// ORDER BY, LIMIT and the pipe operators.
	for e.err == nil {
		i = e.expr(i, modeQueryTail)
		if !e.op(i, "|>") {
			break
		}
		i = e.pipe(i + 1)
	}
	e.names = e.names[:mark]
	return i
}

// setOp reads a set operator at i (UNION ALL, EXCEPT DISTINCT, LEFT OUTER UNION ALL BY NAME, ...).
func (e *extractor) setOp(i int) (int, bool) {
	j := i
	if e.kw(j, WLEFT) || e.kw(j, WFULL) || e.kw(j, WINNER) {
		j++
		if e.kw(j, WOUTER) {
			j++
		}
	}
	if !e.kw(j, WUNION) && !e.kw(j, WINTERSECT) && !e.kw(j, WEXCEPT) {
		return i, false
	}
	if e.kw(j, WEXCEPT) && e.op(j+1, "(") {
		return i, false
	}
	j++
	if e.kw(j, WALL) || e.kw(j, WDISTINCT) {
		j++
	}
	if e.word(j, WCORRESPONDING) || (e.kw(j, WBY) && e.word(j+1, WNAME)) {
		if e.kw(j, WBY) {
			j += 2
		} else {
			j++
		}
		if e.kw(j, WBY) {
			j++
		}
		if e.kw(j, WON) && e.op(j+1, "(") {
			j = e.skipBalanced(j + 1)
		} else if e.op(j, "(") && !e.startsQuery(j) {
			j = e.skipBalanced(j)
		}
	}
	return j, true
}

// pipe reads one pipe operator after |>.
func (e *extractor) pipe(i int) int {
	if e.kw(i, WAS) && e.isName(i+1) {
		e.names = append(e.names, scopeName{name: UnquoteIdent(e.txt(e.tok(i + 1))), from: -1, item: -1})
		return i + 2
	}
	// |> UNION ALL (query), (query): the operands are queries, possibly with pipes of their own.
	if j, ok := e.setOp(i); ok {
		for e.err == nil && e.op(j, "(") && e.startsQuery(j) {
			j = e.query(j + 1)
			if e.op(j, ")") {
				j++
			}
			if !e.op(j, ",") {
				break
			}
			j++
		}
		return j
	}
	if e.isJoinStart(i) {
		j := i
		for !e.eof(j) && !e.kw(j, WJOIN) {
			j++
		}
		return e.fromClauseScoped(j + 1)
	}
	return i
}

// with reads the CTE list after WITH and leaves the names visible.
func (e *extractor) with(i int) int {
	recursive := false
	if e.kw(i, WRECURSIVE) {
		recursive = true
		i++
	}
	for e.err == nil && e.isName(i) {
		if e.tok(i).Kind == KindTemplate && !e.kw(i+1, WAS) && !e.op(i+1, "(") {
			// A Jinja macro that expands to CTE definitions: WITH {{ macro() }}, c AS (...), or
			// to definitions with their trailing comma: WITH a AS (...), {{ macro }} c AS (...).
			i++
			for e.tok(i).Kind == KindTemplate {
				i++
			}
			if e.isName(i) && (e.kw(i+1, WAS) || e.op(i+1, "(")) {
				continue
			}
			if !e.op(i, ",") {
				break
			}
			i++
			continue
		}
		name := UnquoteIdent(e.txt(e.tok(i)))
		i++
		if e.op(i, "(") {
			i = e.skipBalanced(i)
		}
		if !e.kw(i, WAS) {
			e.fail(i, "expected AS in the definition of CTE %s", name)
			return i
		}
		i++
		if recursive {
			e.names = append(e.names, scopeName{name: name, cte: true, from: -1, item: -1})
		}
		if e.op(i, "(") {
			i = e.query(i + 1)
			if e.op(i, ")") {
				i++
			}
		}
		if !recursive {
			e.names = append(e.names, scopeName{name: name, cte: true, from: -1, item: -1})
		}
		// A Jinja expression after a CTE may stand for its comma ({{ "," if not loop.last }}).
		templ := false
		for e.tok(i).Kind == KindTemplate {
			i++
			templ = true
		}
		if e.op(i, ",") {
			i++
			continue
		}
		if templ && e.isName(i) && (e.kw(i+1, WAS) || e.op(i+1, "(")) {
			continue
		}
		// No comma, but another definition follows: the text of a template's {% if %} and
		// {% else %} branches, each a CTE list of its own, run together once the tags are
		// skipped. No query can start with "name AS (", so this is never plain SQL.
		if e.isName(i) && e.kw(i+1, WAS) && e.op(i+2, "(") {
			continue
		}
		break
	}
	return i
}

// selectBody reads SELECT ... up to a set operator, ')', ';' or the end. The FROM clause's range
// variables are collected first so that subqueries in the select list can see them.
func (e *extractor) selectBody(i int) int {
	mark := len(e.names)
	e.selects = append(e.selects, selectFrame{list: i + 1})
	i = e.expr(i+1, modeSelect)
	e.selects = e.selects[:len(e.selects)-1]
	e.names = e.names[:mark]
	return i
}

// selectFrame tracks a SELECT being read: where its list starts, whether its FROM clause's range
// variables were collected ahead (only needed when the list holds a subquery, which may use them),
// and whether its FROM clause has been reached.
type selectFrame struct {
	list    int
	scanned bool
	inFrom  bool
}

// learnRangeVars collects the range variables of the current SELECT's FROM clause before a
// subquery in its select list is read, once per SELECT.
func (e *extractor) learnRangeVars() {
	n := len(e.selects)
	if n == 0 {
		return
	}
	f := &e.selects[n-1]
	if f.scanned || f.inFrom {
		return
	}
	f.scanned = true
	if from := e.findFrom(f.list); from >= 0 {
		e.fromClause(from+1, false)
	}
}

// findFrom finds the FROM of the SELECT whose list starts at i, or -1.
func (e *extractor) findFrom(i int) int {
	for !e.eof(i) {
		t := e.tok(i)
		switch t.Kind {
		case KindOp:
			switch e.txt(t) {
			case "(", "[":
				i = e.skipBalanced(i)
				continue
			case ")", "]", ";", "|>":
				return -1
			}
		case KindKeyword:
			switch t.Word {
			case WFROM:
				if !e.isDistinctFrom(i) {
					return i
				}
			case WUNION, WINTERSECT, WWHERE, WGROUP, WHAVING, WQUALIFY, WWINDOW, WORDER, WLIMIT, WSELECT:
				// A bare SELECT cannot sit in a select list; stopping there keeps odd input linear.
				return -1
			case WEXCEPT:
				if !e.op(i+1, "(") {
					return -1
				}
			}
		}
		i++
	}
	return -1
}

func (e *extractor) isDistinctFrom(i int) bool {
	return i >= 2 && e.kw(i-1, WDISTINCT) && (e.kw(i-2, WIS) || e.kw(i-2, WNOT))
}

// ---- FROM clauses ----

// fromClauseScoped collects the range variables of the FROM clause at i, then reads it.
func (e *extractor) fromClauseScoped(i int) int {
	e.fromClause(i, false)
	saved := e.pushOnEmit
	e.pushOnEmit = false
	i = e.fromClause(i, true)
	e.pushOnEmit = saved
	return i
}

func (e *extractor) isJoinStart(i int) bool {
	t := e.tok(i)
	if t.Kind != KindKeyword {
		return false
	}
	switch t.Word {
	case WJOIN, WCROSS, WNATURAL, WINNER:
		return true
	case WLEFT, WRIGHT, WFULL:
		// LEFT UNION ALL is a set operator, not a join.
		j := i + 1
		if e.kw(j, WOUTER) {
			j++
		}
		return e.kw(j, WJOIN)
	}
	return false
}

// fromClause reads FROM items joined by commas and JOINs. With emit false it only collects
// range variables (aliases); with emit true it records tables and reads nested queries.
func (e *extractor) fromClause(i int, emit bool) int {
	saved := e.curFrom
	e.curFrom = i
	defer func() { e.curFrom = saved }()
	for e.err == nil {
		i = e.fromItem(i, emit)
		if e.kw(i, WON) {
			if emit {
				i = e.expr(i+1, modeJoinCond)
			} else {
				i = e.skipExpr(i+1, modeJoinCond)
			}
		} else if e.kw(i, WUSING) && e.op(i+1, "(") {
			i = e.skipBalanced(i + 1)
		}
		if e.op(i, ",") {
			i++
			continue
		}
		if e.isJoinStart(i) {
			for !e.eof(i) && !e.kw(i, WJOIN) {
				i++
			}
			i++
			continue
		}
		return i
	}
	return i
}

// fromItem reads one FROM item with its alias and suffixes (FOR SYSTEM_TIME AS OF, TABLESAMPLE,
// WITH OFFSET, PIVOT, UNPIVOT).
func (e *extractor) fromItem(i int, emit bool) int {
	start := i
	implicit := ""
	switch {
	case e.op(i, "("):
		if e.startsQuery(i) {
			if emit {
				i = e.query(i + 1)
				if e.op(i, ")") {
					i++
				}
			} else {
				i = e.skipBalanced(i)
			}
		} else {
			i = e.fromClause(i+1, emit)
			if e.op(i, ")") {
				i++
			}
		}
	case e.kw(i, WUNNEST) && e.op(i+1, "("):
		if emit {
			i = e.group(i + 1)
		} else {
			i = e.skipBalanced(i + 1)
		}
	case e.op(i, "["):
		// Legacy SQL: [project:dataset.table], [dataset.table].
		var p path
		next := e.skipBalanced(i)
		if e.legacyPath(i, &p) {
			if emit {
				saved := e.curItem
				e.curItem = start
				e.record(&p, false, false)
				e.curItem = saved
			}
			implicit = p.parts[p.n-1]
		}
		i = next
	default:
		var p path
		next, ok := e.readPath(i, &p)
		if !ok {
			return i
		}
		if e.op(next, "(") {
			// A table-valued function: its arguments may hold TABLE t and subqueries.
			if emit {
				i = e.group(next)
			} else {
				i = e.skipBalanced(next)
			}
		} else {
			if emit {
				saved := e.curItem
				e.curItem = start
				e.record(&p, false, true)
				e.curItem = saved
			}
			implicit = p.parts[p.n-1]
			i = next
		}
	}
	alias := ""
	for e.err == nil {
		switch {
		case e.kw(i, WFOR) && (e.word(i+1, WSYSTEMTIME) || e.word(i+1, WSYSTEM)):
			j := i + 2
			if e.word(i+1, WSYSTEM) && e.isName(j) {
				j++
			}
			if e.kw(j, WAS) && e.kw(j+1, WOF) {
				j += 2
			}
			if emit {
				i = e.expr(j, modeJoinCond)
			} else {
				i = e.skipExpr(j, modeJoinCond)
			}
			continue
		case e.kw(i, WTABLESAMPLE):
			j := i + 1
			if e.isName(j) {
				j++
			}
			if e.op(j, "(") {
				j = e.skipBalanced(j)
			}
			i = j
			continue
		case e.kw(i, WWITH) && e.word(i+1, WOFFSET):
			i += 2
			if e.kw(i, WAS) {
				i++
			}
			if e.isName(i) {
				if !emit || e.pushOnEmit {
					e.names = append(e.names, scopeName{name: UnquoteIdent(e.txt(e.tok(i))), from: e.curFrom, item: start})
				}
				i++
			}
			continue
		case (e.word(i, WPIVOT) || e.word(i, WUNPIVOT)) && (e.op(i+1, "(") || e.isName(i+1) && e.op(i+3, "(")):
			j := i + 1
			if !e.op(j, "(") {
				j += 2 // INCLUDE NULLS / EXCLUDE NULLS
			}
			if emit {
				i = e.group(j)
			} else {
				i = e.skipBalanced(j)
			}
			continue
		case e.kw(i, WAS) && e.isName(i+1):
			alias = e.txt(e.tok(i + 1))
			i += 2
			continue
		case e.isName(i) && alias == "" && canBeAlias(e.tok(i).Word):
			alias = e.txt(e.tok(i))
			i++
			continue
		}
		break
	}
	if !emit || e.pushOnEmit {
		if alias != "" {
			e.names = append(e.names, scopeName{name: UnquoteIdent(alias), from: e.curFrom, item: start})
		} else if implicit != "" {
			e.names = append(e.names, scopeName{name: implicit, from: e.curFrom, item: start})
		}
	}
	return i
}

// canBeAlias reports whether a non-reserved word right after a table can be its alias without AS
// (FROM ds.t data, MERGE ds.t target): every word except those that start the next clause or
// statement (PIVOT, OPTIONS, a scripting keyword after a missing semicolon).
func canBeAlias(w Word) bool {
	switch w {
	case WPIVOT, WUNPIVOT, WOPTIONS, WCLONE, WCOPY, WELSEIF, WELSIF, WEXCEPTION, WLOOP, WREPEAT,
		WUNTIL, WWHILE, WDO, WBEGIN, WDECLARE, WINSERT, WUPDATE, WDELETE, WCALL, WEXECUTE, WRETURN,
		WRAISE, WASSERT, WBREAK, WLEAVE, WCONTINUE, WITERATE, WCOMMIT, WROLLBACK, WTRUNCATE, WDROP,
		WALTER, WGRANT, WREVOKE, WEXPORT, WLOAD, WVALUES:
		return false
	}
	return true
}

// ---- expressions ----

type mode uint8

const (
	modeStatement mode = iota // to ';' or the end; FROM starts a FROM clause (UPDATE ... FROM)
	modeParen                 // inside brackets, to the closer
	modeSelect                // a SELECT body: also stops at set operators and |>
	modeQueryTail             // ORDER BY / LIMIT after a query: stops at ')' ';' |>
	modeJoinCond              // ON condition: also stops at joins, ',', clause keywords
	modeCondition             // scripting condition: stops at THEN, DO, END, WHEN
	modeCase                  // inside CASE: stops at (and consumes) END
)

// skipExpr is expr without recording anything (for the alias-collecting pass).
func (e *extractor) skipExpr(i int, m mode) int {
	for !e.eof(i) {
		if e.stops(i, m) {
			return i
		}
		if e.op(i, "(") || e.op(i, "[") {
			i = e.skipBalanced(i)
			continue
		}
		if e.kw(i, WCASE) {
			i = e.skipCase(i + 1)
			continue
		}
		i++
	}
	return i
}

func (e *extractor) skipCase(i int) int {
	for !e.eof(i) && !e.op(i, ";") {
		switch {
		case e.kw(i, WEND):
			return i + 1
		case e.kw(i, WCASE):
			i = e.skipCase(i + 1)
			continue
		case e.op(i, "(") || e.op(i, "["):
			i = e.skipBalanced(i)
			continue
		}
		i++
	}
	return i
}

// stops reports whether token i ends an expression in mode m.
func (e *extractor) stops(i int, m mode) bool {
	t := e.tok(i)
	switch t.Kind {
	case KindEOF:
		return true
	case KindOp:
		if t.Op2 == 0 {
			switch t.Op {
			case ';', ')', ']', '}':
				return true
			case ',':
				return m == modeJoinCond
			}
		} else if t.Op == '|' && t.Op2 == '>' {
			return m != modeStatement && m != modeParen && m != modeCase
		}
	case KindKeyword:
		switch m {
		case modeSelect:
			switch t.Word {
			case WUNION, WINTERSECT:
				return true
			case WEXCEPT:
				return !e.op(i+1, "(")
			}
		case modeQueryTail:
			switch t.Word {
			case WUNION, WINTERSECT, WEXCEPT:
				return true
			}
		case modeJoinCond:
			switch t.Word {
			case WJOIN, WCROSS, WNATURAL, WINNER, WLEFT, WRIGHT, WFULL, WWHERE, WGROUP, WHAVING,
				WQUALIFY, WWINDOW, WORDER, WLIMIT, WUNION, WINTERSECT, WEXCEPT, WAS, WON, WUSING, WWHEN,
				WSELECT, WFOR, WTABLESAMPLE:
				return true
			case WWITH:
				return e.word(i+1, WOFFSET)
			}
		case modeCondition:
			switch t.Word {
			case WTHEN, WEND, WWHEN:
				return true
			}
		case modeCase:
			return t.Word == WEND
		}
	case KindIdent:
		switch m {
		case modeCondition:
			return t.Word == WDO
		case modeJoinCond:
			return t.Word == WPIVOT || t.Word == WUNPIVOT
		}
	}
	return false
}

// expr scans an expression (or any run of clauses) in mode m, reading every subquery and FROM
// clause inside, and returns the index of the token that stopped it (not consumed), except in
// modeCase where the END is consumed.
func (e *extractor) expr(i int, m mode) int {
	if e.enter(i) {
		return len(e.toks) - 1
	}
	defer e.leave()
	for e.err == nil {
		t := e.tok(i)
		// Fast path: most tokens (names, literals) neither stop an expression nor open anything.
		switch t.Kind {
		case KindEOF:
			return i
		case KindIdent:
			if t.Word == WordNone {
				i++
				continue
			}
		case KindQuotedIdent, KindString, KindBytes, KindNumber, KindParam, KindSysVar, KindTemplate:
			i++
			continue
		case KindOp:
			switch t.Op {
			case ';', ')', ']', '}', '|', ',', '(', '[', '{':
			default:
				i++
				continue
			}
		}
		if e.stops(i, m) {
			if m == modeCase && e.kw(i, WEND) {
				return i + 1
			}
			return i
		}
		switch t.Kind {
		case KindOp:
			if t.Op2 != 0 {
				break
			}
			switch t.Op {
			case '(', '[', '{':
				if t.Op == '(' && e.startsQuery(i) {
					e.learnRangeVars()
					i = e.query(i + 1)
				} else {
					i = e.expr(i+1, modeParen)
				}
				if e.op(i, ")") || e.op(i, "]") || e.op(i, "}") {
					i++
				}
				continue
			case ')', ']', '}':
				// An unbalanced closer at statement level: skip it rather than stall.
				i++
				continue
			}
		case KindKeyword:
			switch t.Word {
			case WSELECT:
				e.learnRangeVars()
				i = e.query(i)
				continue
			case WWITH:
				if e.startsWith(i) {
					e.learnRangeVars()
					i = e.query(i)
					continue
				}
			case WFROM:
				if m != modeParen && m != modeCase && !e.isDistinctFrom(i) {
					if m == modeSelect && len(e.selects) > 0 {
						// Range variables are collected as items are read, unless a subquery in
						// the select list made learnRangeVars collect them already.
						f := &e.selects[len(e.selects)-1]
						f.inFrom = true
						saved := e.pushOnEmit
						e.pushOnEmit = !f.scanned
						i = e.fromClause(i+1, true)
						e.pushOnEmit = saved
					} else {
						i = e.fromClauseScoped(i + 1)
					}
					continue
				}
			case WCASE:
				i = e.expr(i+1, modeCase)
				continue
			}
		case KindIdent:
			// TABLE t as a table-valued function argument: ML.PREDICT(MODEL m, TABLE t), APPENDS(TABLE t, ...).
			if t.Word == WTABLE && (e.op(i-1, "(") || e.op(i-1, ",")) && e.isName(i+1) {
				var p path
				if next, ok := e.readPath(i+1, &p); ok && (e.op(next, ",") || e.op(next, ")")) && !(p.n == 1 && isTypeName(p.parts[0])) {
					e.record(&p, false, true)
					i = next
					continue
				}
			}
		}
		i++
	}
	return i
}

// isTypeName reports whether name is a GoogleSQL type, so that a column named table in a
// STRUCT<..., table STRING> or column list is not taken for a TABLE argument.
func isTypeName(name string) bool {
	switch strings.ToLower(name) {
	case "string", "bytes", "int64", "int", "integer", "smallint", "bigint", "tinyint", "byteint",
		"float64", "float", "numeric", "bignumeric", "decimal", "bigdecimal", "bool", "boolean",
		"date", "datetime", "time", "timestamp", "interval", "json", "geography", "array", "struct", "range":
		return true
	}
	return false
}

// group reads a bracketed group at i (its contents as an expression) and returns the index
// after its closer.
func (e *extractor) group(i int) int {
	i = e.expr(i+1, modeParen)
	if e.op(i, ")") || e.op(i, "]") || e.op(i, "}") {
		i++
	}
	return i
}

// tableRef reads a table path at j as a read (LIKE/COPY/CLONE sources) with FOR SYSTEM_TIME.
func (e *extractor) tableRef(j int, write bool) int {
	var p path
	next, ok := e.readPath(j, &p)
	if !ok {
		return j
	}
	e.record(&p, write, false)
	return next
}

// dynamicTemps remembers the temp tables that SQL held in the string literals of tokens [i, end)
// creates when it is run with EXECUTE IMMEDIATE (directly, or kept in a variable by DECLARE or
// SET first): scripts often build a temp table that way and read it with plain SQL afterwards.
func (e *extractor) dynamicTemps(i, end int) {
	for ; i < end && i < len(e.toks); i++ {
		if t := e.tok(i); t.Kind == KindString {
			e.newTemp = appendCreatedTemps(e.newTemp, e.txt(t))
		}
	}
}

// appendCreatedTemps appends the names in "TEMP[ORARY] TABLE [IF NOT EXISTS] name" phrases of a
// piece of SQL text. A name that is qualified or built by formatting (tmp_%s) is skipped.
func appendCreatedTemps(dst []string, text string) []string {
	for k := 0; k < len(text); {
		at := indexFold(text[k:], "temp")
		if at < 0 {
			break
		}
		j := k + at
		k = j + 4
		if j > 0 && isNameByte(text[j-1]) {
			continue
		}
		j += 4
		if hasPrefixFold(text[j:], "orary") {
			j += 5
		}
		j, ok := skipWordFold(text, j, "table")
		if !ok {
			continue
		}
		if j2, ok := skipWordFold(text, j, "if"); ok {
			if j2, ok = skipWordFold(text, j2, "not"); ok {
				if j2, ok = skipWordFold(text, j2, "exists"); ok {
					j = j2
				}
			}
		}
		j = skipSpace(text, j)
		var name string
		if j < len(text) && text[j] == '`' {
			end := strings.IndexByte(text[j+1:], '`')
			if end < 0 {
				continue
			}
			name = text[j+1 : j+1+end]
			j += end + 2
		} else {
			start := j
			for j < len(text) && isNameByte(text[j]) {
				j++
			}
			name = text[start:j]
		}
		if name == "" || strings.ContainsAny(name, ".%{}$ \t\n") {
			continue
		}
		if j < len(text) && (text[j] == '.' || text[j] == '%' || text[j] == '{' || text[j] == '$' || text[j] == '`') {
			continue
		}
		dst = append(dst, strings.ToLower(name))
	}
	return dst
}

func isNameByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func skipSpace(s string, j int) int {
	for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
		j++
	}
	return j
}

// skipWordFold skips white space (at least one byte) and then word, which must end there.
func skipWordFold(s string, j int, word string) (int, bool) {
	k := skipSpace(s, j)
	if k == j || !hasPrefixFold(s[k:], word) {
		return j, false
	}
	k += len(word)
	if k < len(s) && isNameByte(s[k]) {
		return j, false
	}
	return k, true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// indexFold is strings.Index ignoring ASCII case, for a lowercase needle.
func indexFold(s, needle string) int {
	for k := 0; k+len(needle) <= len(s); k++ {
		if hasPrefixFold(s[k:], needle) {
			return k
		}
	}
	return -1
}
