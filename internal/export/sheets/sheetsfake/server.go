package sheetsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	sheets "google.golang.org/api/sheets/v4"
)

// CellLimit is the number of cells a spreadsheet may hold, counted over every tab's grid.
const CellLimit = 10_000_000

// maxCellChars is the longest text one cell may hold.
const maxCellChars = 50_000

// Default grid of a tab added without gridProperties, as Sheets creates it.
const (
	defaultRows    = 1000
	defaultColumns = 26
)

// Request is one HTTP request the server received, in the order received.
type Request struct {
	Method string
	// Path is the path as sent, percent-escaped: /v4/spreadsheets/ID/values/%27My%20tab%27%21A1:C3.
	Path string
	// Query holds the query parameters (the client also sends alt and prettyPrint).
	Query url.Values
	Body  []byte
	// Status is the HTTP status the server answered with.
	Status int
}

// String renders the request as "METHOD /path", which is how tests usually compare them.
func (r Request) String() string { return r.Method + " " + r.Path }

// Fault makes matching requests fail instead of being served. A request matches when its method
// equals Method (any when empty) and its escaped path contains PathContains (any when empty).
type Fault struct {
	Method       string
	PathContains string
	// Status is the HTTP status to answer, e.g. 429 or 503.
	Status int
	// Message is the error message. Defaults to the status text.
	Message string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Times is how many requests the fault applies to. Defaults to 1.
	Times int
	// AfterServing serves the request first and then answers with the error, as when the
	// answer is lost on the way back: a client that retries a change finds it made.
	AfterServing bool
}

// Tab describes a tab to create with AddSpreadsheet, or one read back with Tabs.
type Tab struct {
	// SheetID is the tab's id. AddSpreadsheet assigns one when zero (except for the first tab,
	// which gets 0, as in a new spreadsheet).
	SheetID int64
	Title   string
	// Rows and Columns size the grid. Default to 1000 × 26.
	Rows, Columns int64
	// FrozenRows is the number of frozen rows at the top.
	FrozenRows int64
	// Metadata is the tab's developer metadata (ids and locations are assigned).
	Metadata []*sheets.DeveloperMetadata
}

// Server is the fake Sheets API. Its zero value is not usable; call New. Safe for concurrent use.
type Server struct {
	mu           sync.Mutex
	spreadsheets map[string]*spreadsheet
	requests     []Request
	faults       []*Fault
	nextID       int64
}

type spreadsheet struct {
	id       string
	title    string
	tabs     []*tab
	metadata []*sheets.DeveloperMetadata // spreadsheet-level
	nextMeta int64
}

type tab struct {
	id                     int64
	title                  string
	rows, cols             int64
	frozenRows, frozenCols int64
	cells                  [][]any // cells[row][col]; nil is an empty cell
	metadata               []*sheets.DeveloperMetadata
}

// New returns an empty server.
func New() *Server {
	return &Server{spreadsheets: map[string]*spreadsheet{}, nextID: 1_000_001}
}

// AddSpreadsheet creates (or replaces) a spreadsheet with the given tabs, in order. A
// spreadsheet always has at least one tab: with none given it gets "Sheet1".
func (s *Server) AddSpreadsheet(id string, tabs ...Tab) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(tabs) == 0 {
		tabs = []Tab{{Title: "Sheet1"}}
	}
	ss := &spreadsheet{id: id, title: id, nextMeta: 1}
	for i, t := range tabs {
		id := t.SheetID
		if id == 0 && i > 0 {
			id = s.nextID
			s.nextID++
		}
		rows, cols := t.Rows, t.Columns
		if rows == 0 {
			rows = defaultRows
		}
		if cols == 0 {
			cols = defaultColumns
		}
		tb := &tab{id: id, title: t.Title, rows: rows, cols: cols, frozenRows: t.FrozenRows}
		for _, dm := range t.Metadata {
			m := *dm
			m.MetadataId = ss.nextMeta
			ss.nextMeta++
			m.Location = &sheets.DeveloperMetadataLocation{LocationType: "SHEET", SheetId: id, ForceSendFields: []string{"SheetId"}}
			tb.metadata = append(tb.metadata, &m)
		}
		ss.tabs = append(ss.tabs, tb)
	}
	s.spreadsheets[id] = ss
}

// Fail adds a fault. Faults are tried in the order added; the first that matches applies.
func (s *Server) Fail(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times == 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// Requests returns a copy of the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ResetRequests forgets the requests received so far.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Tabs returns the tabs of a spreadsheet in order, or nil when it does not exist.
func (s *Server) Tabs(spreadsheetID string) []Tab {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.spreadsheets[spreadsheetID]
	if ss == nil {
		return nil
	}
	out := make([]Tab, 0, len(ss.tabs))
	for _, t := range ss.tabs {
		out = append(out, Tab{SheetID: t.id, Title: t.title, Rows: t.rows, Columns: t.cols,
			FrozenRows: t.frozenRows, Metadata: slices.Clone(t.metadata)})
	}
	return out
}

// Values returns the cells of a tab as stored: float64 for numbers, string, bool, and nil for
// empty cells, with trailing empty rows and cells trimmed. ok is false when there is no such tab.
func (s *Server) Values(spreadsheetID, title string) (values [][]any, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.spreadsheets[spreadsheetID]
	if ss == nil {
		return nil, false
	}
	t := ss.tabByTitle(title)
	if t == nil {
		return nil, false
	}
	return trimmed(t.cells, 0, 0, t.rows-1, t.cols-1), true
}

// ServeHTTP answers one Sheets API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Body: body}
	status, resp, header := s.serve(r.Method, rec.Path, rec.Query, body)
	rec.Status = status
	s.requests = append(s.requests, rec)
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

// apiError is an error answer, rendered the way Google APIs render them.
type apiError struct {
	code    int
	message string
}

func errorf(code int, format string, args ...any) *apiError {
	return &apiError{code: code, message: fmt.Sprintf(format, args...)}
}

var statusNames = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
	502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

func (e *apiError) body() any {
	status := statusNames[e.code]
	if status == "" {
		status = "UNKNOWN"
	}
	return map[string]any{"error": map[string]any{"code": e.code, "message": e.message, "status": status}}
}

func (s *Server) serve(method, path string, query url.Values, body []byte) (int, any, http.Header) {
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == method) && strings.Contains(path, f.PathContains) {
			if f.Times--; f.Times <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			msg := f.Message
			if msg == "" {
				msg = http.StatusText(f.Status)
			}
			h := http.Header{}
			if f.RetryAfter != "" {
				h.Set("Retry-After", f.RetryAfter)
			}
			if f.AfterServing {
				_, _ = s.route(method, path, query, body)
			}
			return f.Status, errorf(f.Status, "%s", msg).body(), h
		}
	}
	resp, aerr := s.route(method, path, query, body)
	if aerr != nil {
		return aerr.code, aerr.body(), nil
	}
	return http.StatusOK, resp, nil
}

func (s *Server) route(method, path string, query url.Values, body []byte) (any, *apiError) {
	rest, ok := strings.CutPrefix(path, "/v4/spreadsheets/")
	if !ok {
		return nil, errorf(404, "sheetsfake: no API at %s", path)
	}
	idPart, valuesPart, hasValues := strings.Cut(rest, "/")
	if !hasValues {
		id, verb, _ := strings.Cut(idPart, ":")
		ss, aerr := s.lookup(id)
		if aerr != nil {
			return nil, aerr
		}
		switch {
		case verb == "" && method == http.MethodGet:
			return ss.resource(), nil
		case verb == "batchUpdate" && method == http.MethodPost:
			return s.batchUpdate(ss, body)
		}
		return nil, errorf(501, "sheetsfake: %s %s is not implemented", method, path)
	}
	ss, aerr := s.lookup(idPart)
	if aerr != nil {
		return nil, aerr
	}
	if valuesPart == "values:batchUpdate" && method == http.MethodPost {
		return ss.valuesBatchUpdate(body)
	}
	escRange, ok := strings.CutPrefix(valuesPart, "values/")
	if !ok {
		return nil, errorf(501, "sheetsfake: %s %s is not implemented", method, path)
	}
	verb := ""
	for _, v := range []string{":append", ":clear"} {
		if strings.HasSuffix(escRange, v) {
			escRange, verb = strings.TrimSuffix(escRange, v), v
		}
	}
	rangeText, err := url.PathUnescape(escRange)
	if err != nil {
		return nil, errorf(400, "Unable to parse range: %s", escRange)
	}
	switch {
	case verb == "" && method == http.MethodGet:
		return ss.valuesGet(rangeText, query)
	case verb == "" && method == http.MethodPut:
		return ss.valuesUpdate(rangeText, query, body)
	case verb == ":append" && method == http.MethodPost:
		return ss.valuesAppend(rangeText, query, body)
	}
	return nil, errorf(501, "sheetsfake: %s %s is not implemented", method, path)
}

func (s *Server) lookup(id string) (*spreadsheet, *apiError) {
	id, err := url.PathUnescape(id)
	if err != nil {
		return nil, errorf(400, "invalid spreadsheet id")
	}
	ss := s.spreadsheets[id]
	if ss == nil {
		return nil, errorf(404, "Requested entity was not found.")
	}
	return ss, nil
}

func (ss *spreadsheet) tabByTitle(title string) *tab {
	for _, t := range ss.tabs {
		if strings.EqualFold(t.title, title) {
			return t
		}
	}
	return nil
}

func (ss *spreadsheet) tabByID(id int64) (int, *tab) {
	for i, t := range ss.tabs {
		if t.id == id {
			return i, t
		}
	}
	return -1, nil
}

func (ss *spreadsheet) cells() int64 {
	var n int64
	for _, t := range ss.tabs {
		n += t.rows * t.cols
	}
	return n
}

func (t *tab) properties(index int) *sheets.SheetProperties {
	return &sheets.SheetProperties{
		SheetId: t.id, Title: t.title, Index: int64(index), SheetType: "GRID",
		GridProperties: &sheets.GridProperties{RowCount: t.rows, ColumnCount: t.cols,
			FrozenRowCount: t.frozenRows, FrozenColumnCount: t.frozenCols},
		// Sheets sends id and index 0 (the first tab usually has both); the client's structs
		// would drop them.
		ForceSendFields: []string{"SheetId", "Index"},
	}
}

// resource is the spreadsheets.get answer. It ignores the fields mask and never includes grid
// data: callers that want cells use values.get.
func (ss *spreadsheet) resource() *sheets.Spreadsheet {
	out := &sheets.Spreadsheet{
		SpreadsheetId:     ss.id,
		Properties:        &sheets.SpreadsheetProperties{Title: ss.title},
		DeveloperMetadata: ss.metadata,
		SpreadsheetUrl:    "https://docs.google.com/spreadsheets/d/" + ss.id + "/edit",
	}
	for i, t := range ss.tabs {
		out.Sheets = append(out.Sheets, &sheets.Sheet{Properties: t.properties(i), DeveloperMetadata: t.metadata})
	}
	return out
}

// clone copies the structure a batchUpdate may change, so a failing request leaves the original
// untouched (Sheets applies a batch atomically). Cell rows are shared: batch requests replace
// them, never write into them.
func (ss *spreadsheet) clone() *spreadsheet {
	c := *ss
	c.metadata = slices.Clone(ss.metadata)
	c.tabs = make([]*tab, len(ss.tabs))
	for i, t := range ss.tabs {
		tc := *t
		tc.cells = slices.Clone(t.cells)
		tc.metadata = slices.Clone(t.metadata)
		c.tabs[i] = &tc
	}
	return &c
}

func trimmed(cells [][]any, r1, c1, r2, c2 int64) [][]any {
	var out [][]any
	for r := r1; r <= r2 && r < int64(len(cells)); r++ {
		var row []any
		for c := c1; c <= c2 && c < int64(len(cells[r])); c++ {
			row = append(row, cells[r][c])
		}
		for len(row) > 0 && row[len(row)-1] == nil {
			row = row[:len(row)-1]
		}
		out = append(out, row)
	}
	for len(out) > 0 && len(out[len(out)-1]) == 0 {
		out = out[:len(out)-1]
	}
	return out
}
