package service

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// TableJSON is a table as the API shows it: its definition, flattened, with its revision.
type TableJSON struct {
	spec.Table
	Revision  int       `json:"revision"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedBy string    `json:"updated_by"`
	UpdatedAt time.Time `json:"updated_at"`
	// Graph is where the table stands in the dependency graph (single tables only, not lists).
	Graph *TableGraphJSON `json:"graph,omitempty"`
	// Estimate is the saved SQL's dry-run estimate (answers of POST and PUT, when the server
	// has a warehouse that dry-runs and the table is a query).
	Estimate *cost.Estimate `json:"estimate,omitempty"`
}

type TableGraphJSON struct {
	// Upstream are the tables it reads that Maestro builds; Downstream the tables reading it.
	Upstream   []string `json:"upstream"`
	Downstream []string `json:"downstream"`
	// ExternalSources are tables it reads that Maestro does not build.
	ExternalSources []string `json:"external_sources"`
}

type TableListJSON struct {
	Tables []TableJSON `json:"tables"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

func newTableJSON(rec *store.TableRecord) TableJSON {
	return TableJSON{Table: rec.Table, Revision: rec.Revision, CreatedBy: rec.CreatedBy, CreatedAt: rec.CreatedAt,
		UpdatedBy: rec.UpdatedBy, UpdatedAt: rec.UpdatedAt}
}

// etag is a table revision as an entity tag.
func etag(revision int) string { return `"` + strconv.Itoa(revision) + `"` }

// ifMatch checks the If-Match header against the current revision: 428 when it is missing,
// 412 when it names another revision. It writes the problem and returns false then.
func ifMatch(w http.ResponseWriter, r *http.Request, what string, revision int) bool {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		writeProblem(w, http.StatusPreconditionRequired, "send If-Match with the ETag of "+what+" as you read it ("+etag(revision)+" now), so that nobody's change is overwritten unseen",
			FieldError{Field: "If-Match", Reason: "required"})
		return false
	}
	if h == "*" {
		return true
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag(revision) {
			return true
		}
	}
	writeProblem(w, http.StatusPreconditionFailed, what+" changed since you read it: it is at revision "+strconv.Itoa(revision)+"; read it again and redo your change",
		FieldError{Field: "If-Match", Reason: "does not match " + etag(revision)})
	return false
}

func (a *api) listTables(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := limitParam(w, q.Get("limit"))
	if !ok {
		return
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		// A cursor is a table name this API encoded; anything else is refused rather than
		// used as a position.
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err == nil && !tableNameRE.Match(b) {
			err = errors.New("not a table name")
		}
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "the cursor is not one this API gave", FieldError{Field: "cursor", Reason: "not valid"})
			return
		}
		after = string(b)
	}
	recs, err := a.tablesForList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	if page, ok := a.cachedPage(recs, r.URL.RawQuery); ok {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(page)
		return
	}
	owner, group, dataset, kind := q.Get("owner"), q.Get("group"), strings.ToLower(q.Get("dataset")), q.Get("kind")
	out := TableListJSON{Tables: []TableJSON{}}
	for _, rec := range recs {
		t := &rec.Table
		if t.Name <= after ||
			owner != "" && !strings.EqualFold(t.Owner, owner) ||
			group != "" && !strings.EqualFold(t.Group, group) ||
			dataset != "" && !strings.HasPrefix(t.Name, dataset+".") ||
			kind != "" && kindOf(t) != kind {
			continue
		}
		if len(out.Tables) == limit {
			out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(out.Tables[limit-1].Name))
			break
		}
		out.Tables = append(out.Tables, newTableJSON(rec))
	}
	page, err := json.Marshal(out)
	if err != nil {
		a.storeFailed(w, r, err, "encoding the table list", "")
		return
	}
	page = append(page, '\n')
	a.keepPage(recs, r.URL.RawQuery, page)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(page)
}

// limitParam reads a page size: 100 when absent, 1 to 1000.
func limitParam(w http.ResponseWriter, s string) (int, bool) {
	if s == "" {
		return 100, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		writeProblem(w, http.StatusBadRequest, "limit must be a whole number from 1 to 1000", FieldError{Field: "limit", Reason: "not 1 to 1000"})
		return 0, false
	}
	return n, true
}

func kindOf(t *spec.Table) string {
	if t.Kind == "" {
		return "query"
	}
	return t.Kind
}

func tableName(r *http.Request) string { return strings.ToLower(r.PathValue("name")) }

func (a *api) getTable(w http.ResponseWriter, r *http.Request) {
	name := tableName(r)
	recs, err := a.st.TableList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	i := slices.IndexFunc(recs, func(rec *store.TableRecord) bool { return rec.Table.Name == name })
	if i < 0 {
		writeProblem(w, http.StatusNotFound, "no table "+name)
		return
	}
	out := newTableJSON(recs[i])
	p := a.projectOf(recs, nil, "")
	if g, _ := project.Graph(p); g != nil {
		out.Graph = graphOf(g, p, name)
	}
	w.Header().Set("ETag", etag(recs[i].Revision))
	writeJSON(w, out)
}

// projectOf is the stored tables as a project under this server's defaults, with changed
// replacing (or joining) its stored namesake and without the table named drop.
func (a *api) projectOf(recs []*store.TableRecord, changed *spec.Table, drop string) *spec.Project {
	p := &spec.Project{DefaultProject: a.cfg.DefaultProject, DefaultDataset: a.cfg.DefaultDataset}
	for _, rec := range recs {
		if rec.Table.Name == drop || changed != nil && rec.Table.Name == changed.Name {
			continue
		}
		p.Tables = append(p.Tables, rec.Table)
	}
	if changed != nil {
		p.Tables = append(p.Tables, *changed)
	}
	return p
}

func graphOf(g *dag.Graph, p *spec.Project, name string) *TableGraphJSON {
	key := g.Key(project.TableName(p, name))
	return &TableGraphJSON{Upstream: nonNil(g.Upstream(key)), Downstream: nonNil(g.Downstream(key)), ExternalSources: nonNil(g.External(key))}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *api) createTable(w http.ResponseWriter, r *http.Request) {
	var t spec.Table
	if !checkMessage(w, r) || !decodeBody(w, r, defaultMaxBody, &t) {
		return
	}
	p := principalOf(r.Context())
	t.Name = strings.ToLower(strings.TrimSpace(t.Name))
	if t.Group == "" && p != nil && p.Role == access.Editor {
		t.Group = p.User.Group
	}
	if t.Owner == "" && p != nil {
		t.Owner = p.User.Email
	}
	if !canWriteTable(w, r, t.Name, t.Group) {
		return
	}
	a.saveTable(w, r, &t, nil)
}

func (a *api) updateTable(w http.ResponseWriter, r *http.Request) {
	name := tableName(r)
	var t spec.Table
	if !checkMessage(w, r) || !decodeBody(w, r, defaultMaxBody, &t) {
		return
	}
	cur, err := a.st.TableGet(r.Context(), name)
	if err != nil {
		a.storeFailed(w, r, err, "reading table "+name, "no table "+name)
		return
	}
	if !canWriteTable(w, r, name, cur.Table.Group, t.Group) || !ifMatch(w, r, "table "+name, cur.Revision) {
		return
	}
	if t.Name != "" && !strings.EqualFold(strings.TrimSpace(t.Name), name) {
		writeProblem(w, http.StatusUnprocessableEntity, "the body names another table than the path",
			FieldError{Field: "name", Reason: "must be " + name + " (renaming is creating the new table and deleting the old)"})
		return
	}
	t.Name = name
	if t.Owner == "" {
		t.Owner = cur.Table.Owner
	}
	a.saveTable(w, r, &t, cur)
}

// validateDraft fills in t's defaults and checks its fields against the stored schedules and
// connections (validateTable). It has answered when ok is false (the store failed).
func (a *api) validateDraft(w http.ResponseWriter, r *http.Request, t *spec.Table) (errs []FieldError, ok bool) {
	if t.Kind == "" {
		t.Kind = "query"
	}
	// A definition saved through the API has no file; errors name the table instead.
	t.File = ""
	schedules, err := a.st.ScheduleList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing schedules", "")
		return nil, false
	}
	conns, err := a.st.ConnectionList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing connections", "")
		return nil, false
	}
	return validateTable(t, schedules, conns), true
}

// saveTable validates t against the project's rules and the other tables (parse, cycles,
// schedules and connections it names) and saves it: created when cur is nil, else as the
// revision after cur's.
func (a *api) saveTable(w http.ResponseWriter, r *http.Request, t *spec.Table, cur *store.TableRecord) {
	ctx := r.Context()
	errs, ok := a.validateDraft(w, r, t)
	if !ok {
		return
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "table "+t.Name+" is not valid", errs...)
		return
	}
	recs, err := a.st.TableList(ctx)
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	if cur == nil && slices.ContainsFunc(recs, func(rec *store.TableRecord) bool { return rec.Table.Name == t.Name }) {
		writeProblem(w, http.StatusConflict, "table "+t.Name+" exists: change it with PUT "+APIPrefix+"/tables/"+t.Name)
		return
	}
	p := a.projectOf(recs, t, "")
	g, err := project.Graph(p)
	if err != nil {
		writeProblem(w, http.StatusUnprocessableEntity, "table "+t.Name+" cannot be saved: "+err.Error(), graphErrors(t.Name, err)...)
		return
	}
	params := &store.TablePutParams{Table: *t, User: userName(ctx), Message: saveMessage(r)}
	status := http.StatusOK
	if cur == nil {
		params.Create, status = true, http.StatusCreated
	} else {
		params.IfRevision = cur.Revision
	}
	rec, err := a.st.TablePut(ctx, params)
	a.tablesChanged()
	switch {
	case errors.Is(err, store.ErrConflict) && cur != nil:
		writeProblem(w, http.StatusPreconditionFailed, "table "+t.Name+" changed while this change was checked; read it again and redo your change")
		return
	case errors.Is(err, store.ErrConflict):
		writeProblem(w, http.StatusConflict, "table "+t.Name+" was created meanwhile")
		return
	case err != nil:
		a.storeFailed(w, r, err, "saving table "+t.Name, "")
		return
	}
	a.log.Info("table saved", zap.String("table", t.Name), zap.Int("revision", rec.Revision), zap.String("user", params.User))
	out := newTableJSON(rec)
	out.Graph = graphOf(g, p, t.Name)
	// Saved first, estimated after: a dry run that fails or is slow does not refuse a change
	// the parser accepted.
	est, err := cost.EstimateTable(ctx, a.cfg.DryRun, a.cfg.DefaultProject, a.cfg.DefaultDataset, a.cfg.Pricing, t)
	if err != nil {
		a.log.Warn("estimating a saved table", zap.String("table", t.Name), zap.Error(err))
	}
	out.Estimate = est
	w.Header().Set("ETag", etag(rec.Revision))
	if cur == nil {
		w.Header().Set("Location", APIPrefix+"/tables/"+t.Name)
	}
	writeJSONStatus(w, status, out)
}

// maxMessage bounds a revision's message: a commit message, not a document.
const maxMessage = 2000

// saveMessage is the revision message a save asked for (?message=), or a default saying where
// the change came from. The length is checked by checkMessage before anything is saved.
func saveMessage(r *http.Request) string {
	if m := strings.TrimSpace(r.URL.Query().Get("message")); m != "" {
		return m
	}
	return "saved through the API"
}

// checkMessage refuses a message too long to be one (400), before anything is checked or saved.
func checkMessage(w http.ResponseWriter, r *http.Request) bool {
	if m := r.URL.Query().Get("message"); len(m) > maxMessage || !utf8.ValidString(m) {
		writeProblem(w, http.StatusBadRequest, fmt.Sprintf("the message must be UTF-8 text of at most %d bytes", maxMessage),
			FieldError{Field: "message", Reason: "too long or not UTF-8"})
		return false
	}
	return true
}

// graphErrors turns what project.Graph refused into field errors: this table's SQL that does
// not parse, a cycle through it, or other tables it would break (named).
func graphErrors(name string, err error) []FieldError {
	var cycles *dag.CycleError
	if errors.As(err, &cycles) {
		var out []FieldError
		for _, c := range cycles.Cycles {
			out = append(out, FieldError{Field: "sql", Reason: "would create a dependency " + dag.FormatCycle(c)})
		}
		return out
	}
	var out []FieldError
	for _, e := range flatten(err) {
		var pe *project.Error
		if !errors.As(e, &pe) {
			continue
		}
		msg := pe.Msg
		if pe.Line > 0 {
			msg = fmt.Sprintf("line %d, column %d: %s", pe.Line, pe.Column, pe.Msg)
		}
		if pe.File == name {
			out = append(out, FieldError{Field: "sql", Reason: msg, Line: pe.Line, Column: pe.Column})
		} else {
			out = append(out, FieldError{Field: "sql", Reason: "table " + pe.File + " would no longer parse: " + msg})
		}
	}
	if len(out) == 0 {
		out = append(out, FieldError{Field: "sql", Reason: err.Error()})
	}
	return out
}

// flatten lists the leaves of a tree of joined and wrapped errors.
func flatten(err error) []error {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, c := range e.Unwrap() {
			out = append(out, flatten(c)...)
		}
		return out
	case *project.Error:
		return []error{e}
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			return flatten(inner)
		}
	}
	return []error{err}
}

var (
	tableNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_\-]*$`)
	identRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validateTable checks a definition the way a project folder's is checked: the fields a
// folder's sidecar would be refused for.
func validateTable(t *spec.Table, schedules []*store.ScheduleRecord, conns []spec.Connection) []FieldError {
	var errs []FieldError
	add := func(field, reason string, args ...any) {
		errs = append(errs, FieldError{Field: field, Reason: fmt.Sprintf(reason, args...)})
	}
	conn := map[string]spec.Connection{}
	for _, c := range conns {
		conn[c.Name] = c
	}
	if !tableNameRE.MatchString(t.Name) {
		add("name", "must be dataset.table (letters, digits and underscores)")
	}
	switch t.Kind {
	case "query":
		if strings.TrimSpace(t.SQL) == "" {
			add("sql", "a query table needs its SELECT")
		}
		if t.Import != nil {
			add("import", "only an import table has import settings")
		}
		if t.External != nil {
			add("external", "only an external table has external settings")
		}
	case "import":
		if strings.TrimSpace(t.SQL) == "" {
			add("sql", "an import table needs the query run in its source database")
		}
		switch {
		case t.Import == nil:
			add("import", "an import table needs import.connection")
		case t.Import.Connection == "":
			add("import.connection", "required")
		default:
			if _, ok := conn[t.Import.Connection]; !ok {
				add("import.connection", "unknown connection %q", t.Import.Connection)
			}
			if t.Import.Watermark != "" && !identRE.MatchString(t.Import.Watermark) {
				add("import.watermark", "must be a column name")
			}
			if s := t.Import.OnSchemaChange; s != "" && s != spec.SchemaChangeFail && s != spec.SchemaChangeFullRefresh {
				add("import.on_schema_change", "must be %s or %s", spec.SchemaChangeFail, spec.SchemaChangeFullRefresh)
			}
		}
		if t.External != nil {
			add("external", "only an external table has external settings")
		}
	case "external":
		switch {
		case t.External == nil:
			add("external", "an external table needs external.format and external.timeout")
		default:
			if f := t.External.Format; f != "csv" && f != "json" {
				add("external.format", "must be csv or json")
			}
			if t.External.Timeout <= 0 {
				add("external.timeout", "must be positive (nanoseconds)")
			}
		}
		if t.Import != nil {
			add("import", "only an import table has import settings")
		}
	default:
		add("kind", "must be query, import or external")
	}
	known := map[string]bool{}
	for _, s := range schedules {
		known[s.Schedule.Name] = true
	}
	for i, s := range t.Schedules {
		if !known[s] {
			add(fmt.Sprintf("schedules[%d]", i), "unknown schedule %q", s)
		}
	}
	if d := t.Disposition; d != "" && d != spec.DispositionTruncate && d != spec.DispositionAppend {
		add("disposition", "must be truncate or append")
	}
	if t.Retries < 0 {
		add("retries", "must not be negative")
	}
	if t.RetryBackoff < 0 {
		add("retry_backoff", "must not be negative")
	}
	for i, c := range t.ClusterBy {
		if !identRE.MatchString(c) {
			add(fmt.Sprintf("cluster_by[%d]", i), "must be a column name")
		}
	}
	checkRange := func(field string, vals []int, lo, hi int) {
		for i, v := range vals {
			if v < lo || v > hi {
				add(fmt.Sprintf("conditions.%s[%d]", field, i), "must be %d to %d", lo, hi)
			}
		}
	}
	checkRange("months", t.Conditions.Months, 1, 12)
	checkRange("weekdays", t.Conditions.Weekdays, 0, 6)
	checkRange("days", t.Conditions.Days, 1, 31)
	checkRange("hours", t.Conditions.Hours, 0, 23)
	for i, e := range t.Exports {
		f := fmt.Sprintf("exports[%d]", i)
		kinds := 0
		if e.Path != "" {
			kinds++
			if e.Format != "csv" && e.Format != "json" && e.Format != "parquet" {
				add(f+".format", "must be csv, json or parquet")
			}
		}
		if e.Sheet != nil {
			kinds++
			if e.Sheet.SpreadsheetID == "" {
				add(f+".sheet.spreadsheet_id", "required")
			}
			if ref := e.Sheet.CredentialsRef; ref != "" && !hasAnyPrefix(ref, secretRefPrefixes) {
				add(f+".sheet.credentials_ref", "must reference the key (env:, file: or secretmanager:), never hold it")
			}
		}
		if e.Postgres != nil {
			kinds++
			if c, ok := conn[e.Postgres.Connection]; !ok || c.Driver != "postgres" {
				add(f+".postgres.connection", "must name a postgres connection")
			}
			if e.Postgres.Table == "" {
				add(f+".postgres.table", "required")
			}
		}
		if kinds != 1 {
			add(f, "needs exactly one of path (a file), sheet or postgres")
		}
		if e.Callback != nil {
			if !strings.HasPrefix(e.Callback.URL, "https://") && !strings.HasPrefix(e.Callback.URL, "http://") {
				add(f+".callback.url", "must be an http(s) URL")
			} else if err := callback.CheckSavedURL(e.Callback.URL); err != nil {
				add(f+".callback.url", "%s", strings.TrimPrefix(err.Error(), "callback address refused: "))
			}
			if !hasAnyPrefix(e.Callback.SecretRef, secretRefPrefixes) {
				add(f+".callback.secret_ref", "must reference the signing key (env:, file: or secretmanager:), never hold it")
			}
		}
	}
	return errs
}

func (a *api) deleteTable(w http.ResponseWriter, r *http.Request) {
	name := tableName(r)
	ctx := r.Context()
	cur, err := a.st.TableGet(ctx, name)
	if err != nil {
		a.storeFailed(w, r, err, "reading table "+name, "no table "+name)
		return
	}
	if !canWriteTable(w, r, name, cur.Table.Group) || !ifMatch(w, r, "table "+name, cur.Revision) {
		return
	}
	recs, err := a.st.TableList(ctx)
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	p := a.projectOf(recs, nil, "")
	if g, _ := project.Graph(p); g != nil {
		if down := g.Downstream(g.Key(project.TableName(p, name))); len(down) > 0 {
			writeProblem(w, http.StatusConflict, "table "+name+" is read by "+strings.Join(down, ", ")+": change or delete them first",
				FieldError{Field: "name", Reason: "read by " + strings.Join(down, ", ")})
			return
		}
	}
	// The revision was checked above; a change that lands between that check and this delete
	// is the one race left (the store's delete takes no revision).
	err = a.st.TableDelete(ctx, name, userName(ctx))
	a.tablesChanged()
	if err != nil {
		a.storeFailed(w, r, err, "deleting table "+name, "no table "+name)
		return
	}
	a.log.Info("table deleted", zap.String("table", name), zap.String("user", userName(ctx)))
	w.WriteHeader(http.StatusNoContent)
}

// graphJSON is the whole dependency graph.
type graphJSON struct {
	Nodes []graphNodeJSON `json:"nodes"`
	// Layers are the tables in run order: each layer reads only earlier ones.
	Layers [][]string `json:"layers"`
	// ExternalSources are tables read that Maestro does not build.
	ExternalSources []string `json:"external_sources"`
	// Cycles, if any, each listed in data-flow order (the graph then cannot run).
	Cycles [][]string `json:"cycles,omitempty"`
	// DefaultProject and DefaultDataset are what names in the SQL resolve against, as a
	// project's maestro.yaml says them (maestro apply checks a folder's against them).
	DefaultProject string `json:"default_project"`
	DefaultDataset string `json:"default_dataset"`
}

type graphNodeJSON struct {
	Name            string   `json:"name"`
	Upstream        []string `json:"upstream"`
	ExternalSources []string `json:"external_sources,omitempty"`
}

func (a *api) getGraph(w http.ResponseWriter, r *http.Request) {
	recs, err := a.st.TableList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	g, err := project.Graph(a.projectOf(recs, nil, ""))
	if g == nil {
		a.log.Error("building the graph of the stored tables", zap.Error(err))
		writeProblem(w, http.StatusInternalServerError, "the stored tables do not make a graph: "+err.Error())
		return
	}
	out := graphJSON{Nodes: []graphNodeJSON{}, Layers: g.Layers(), ExternalSources: nonNil(g.Externals()), Cycles: g.Cycles(),
		DefaultProject: a.cfg.DefaultProject, DefaultDataset: a.cfg.DefaultDataset}
	if out.Layers == nil {
		out.Layers = [][]string{}
	}
	for _, k := range g.Nodes() {
		out.Nodes = append(out.Nodes, graphNodeJSON{Name: k, Upstream: nonNil(g.Upstream(k)), ExternalSources: g.External(k)})
	}
	writeJSON(w, out)
}
