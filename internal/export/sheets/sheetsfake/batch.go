package sheetsfake

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	sheets "google.golang.org/api/sheets/v4"
)

// batchUpdate applies spreadsheets.batchUpdate requests in order, all or nothing.
func (s *Server) batchUpdate(ss *spreadsheet, body []byte) (any, *apiError) {
	var in struct {
		Requests []map[string]json.RawMessage `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errorf(400, "Invalid JSON payload received. %v", err)
	}
	if len(in.Requests) == 0 {
		return nil, errorf(400, "Must specify at least one request.")
	}
	work := ss.clone()
	replies := make([]*sheets.Response, 0, len(in.Requests))
	for i, req := range in.Requests {
		if len(req) != 1 {
			return nil, errorf(400, "Invalid requests[%d]: exactly one kind of request must be set", i)
		}
		for kind, raw := range req {
			reply, aerr := s.apply(work, kind, raw)
			if aerr != nil {
				aerr.message = fmt.Sprintf("Invalid requests[%d].%s: %s", i, kind, aerr.message)
				return nil, aerr
			}
			replies = append(replies, reply)
		}
	}
	*ss = *work
	return &sheets.BatchUpdateSpreadsheetResponse{SpreadsheetId: ss.id, Replies: replies}, nil
}

func (s *Server) apply(ss *spreadsheet, kind string, raw json.RawMessage) (*sheets.Response, *apiError) {
	decode := func(v any) *apiError {
		if err := json.Unmarshal(raw, v); err != nil {
			return errorf(400, "invalid JSON: %v", err)
		}
		return nil
	}
	switch kind {
	case "addSheet":
		var req sheets.AddSheetRequest
		if aerr := decode(&req); aerr != nil {
			return nil, aerr
		}
		props, aerr := s.addSheet(ss, req.Properties)
		if aerr != nil {
			return nil, aerr
		}
		return &sheets.Response{AddSheet: &sheets.AddSheetResponse{Properties: props}}, nil
	case "deleteSheet":
		var req sheets.DeleteSheetRequest
		if aerr := decode(&req); aerr != nil {
			return nil, aerr
		}
		i, t := ss.tabByID(req.SheetId)
		if t == nil {
			return nil, errorf(400, "No grid with id: %d", req.SheetId)
		}
		if len(ss.tabs) == 1 {
			return nil, errorf(400, "You can't remove all the sheets in a document.")
		}
		ss.tabs = slices.Delete(ss.tabs, i, i+1)
		return &sheets.Response{}, nil
	case "updateSheetProperties":
		var req sheets.UpdateSheetPropertiesRequest
		if aerr := decode(&req); aerr != nil {
			return nil, aerr
		}
		if aerr := updateSheetProperties(ss, &req); aerr != nil {
			return nil, aerr
		}
		return &sheets.Response{}, nil
	case "createDeveloperMetadata":
		var req sheets.CreateDeveloperMetadataRequest
		if aerr := decode(&req); aerr != nil {
			return nil, aerr
		}
		dm, aerr := createDeveloperMetadata(ss, req.DeveloperMetadata)
		if aerr != nil {
			return nil, aerr
		}
		return &sheets.Response{CreateDeveloperMetadata: &sheets.CreateDeveloperMetadataResponse{DeveloperMetadata: dm}}, nil
	}
	return nil, errorf(501, "sheetsfake does not implement this request kind")
}

func (s *Server) addSheet(ss *spreadsheet, p *sheets.SheetProperties) (*sheets.SheetProperties, *apiError) {
	if p == nil {
		p = &sheets.SheetProperties{}
	}
	t := &tab{id: p.SheetId, title: p.Title, rows: defaultRows, cols: defaultColumns}
	if t.id == 0 {
		t.id = s.nextID
		s.nextID++
	} else if _, other := ss.tabByID(t.id); other != nil {
		return nil, errorf(400, "Sheet with id %d already exists.", t.id)
	}
	if t.title == "" {
		for n := len(ss.tabs) + 1; ; n++ {
			if ss.tabByTitle(fmt.Sprintf("Sheet%d", n)) == nil {
				t.title = fmt.Sprintf("Sheet%d", n)
				break
			}
		}
	} else if ss.tabByTitle(t.title) != nil {
		return nil, errorf(400, "A sheet with the name %q already exists. Please enter another name.", t.title)
	}
	if g := p.GridProperties; g != nil {
		if g.RowCount > 0 {
			t.rows = g.RowCount
		}
		if g.ColumnCount > 0 {
			t.cols = g.ColumnCount
		}
		t.frozenRows, t.frozenCols = g.FrozenRowCount, g.FrozenColumnCount
	}
	if aerr := checkFrozen(t); aerr != nil {
		return nil, aerr
	}
	index := len(ss.tabs)
	if p.Index > 0 && p.Index < int64(index) {
		index = int(p.Index)
	}
	ss.tabs = slices.Insert(ss.tabs, index, t)
	if ss.cells() > CellLimit {
		return nil, errorf(400, "This action would increase the number of cells in the workbook above the limit of %d cells.", CellLimit)
	}
	return t.properties(index), nil
}

func checkFrozen(t *tab) *apiError {
	if t.frozenRows >= t.rows && t.frozenRows > 0 {
		return errorf(400, "You can't freeze all visible rows on the sheet.")
	}
	if t.frozenCols >= t.cols && t.frozenCols > 0 {
		return errorf(400, "You can't freeze all visible columns on the sheet.")
	}
	return nil
}

// updateSheetProperties supports the fields a writer resizes or renames a tab with.
func updateSheetProperties(ss *spreadsheet, req *sheets.UpdateSheetPropertiesRequest) *apiError {
	p := req.Properties
	if p == nil {
		return errorf(400, "properties is required")
	}
	_, t := ss.tabByID(p.SheetId)
	if t == nil {
		return errorf(400, "No grid with id: %d", p.SheetId)
	}
	fields := expandMask(req.Fields)
	if len(fields) == 0 {
		return errorf(400, "At least one field must be updated, but none were specified.")
	}
	g := p.GridProperties
	if g == nil {
		g = &sheets.GridProperties{}
	}
	for _, f := range fields {
		switch f {
		case "title":
			if other := ss.tabByTitle(p.Title); other != nil && other != t {
				return errorf(400, "A sheet with the name %q already exists. Please enter another name.", p.Title)
			}
			t.title = p.Title
		case "gridProperties.rowCount":
			t.rows = g.RowCount
		case "gridProperties.columnCount":
			t.cols = g.ColumnCount
		case "gridProperties.frozenRowCount":
			t.frozenRows = g.FrozenRowCount
		case "gridProperties.frozenColumnCount":
			t.frozenCols = g.FrozenColumnCount
		default:
			return errorf(501, "sheetsfake does not implement updating %s", f)
		}
	}
	if t.rows < 1 || t.cols < 1 {
		return errorf(400, "A sheet must have at least one row and one column.")
	}
	if aerr := checkFrozen(t); aerr != nil {
		return aerr
	}
	if int64(len(t.cells)) > t.rows {
		t.cells = t.cells[:t.rows]
	}
	for r, row := range t.cells {
		if int64(len(row)) > t.cols {
			t.cells[r] = slices.Clone(row[:t.cols])
		}
	}
	if ss.cells() > CellLimit {
		return errorf(400, "This action would increase the number of cells in the workbook above the limit of %d cells.", CellLimit)
	}
	return nil
}

// expandMask turns "title,gridProperties(rowCount,columnCount)" into
// [title gridProperties.rowCount gridProperties.columnCount].
func expandMask(mask string) []string {
	var out []string
	var prefix []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, strings.Join(append(slices.Clone(prefix), strings.TrimSpace(cur.String())), "."))
			cur.Reset()
		}
	}
	for _, ch := range mask {
		switch ch {
		case '(':
			prefix = append(prefix, strings.TrimSpace(cur.String()))
			cur.Reset()
		case ')':
			flush()
			if len(prefix) > 0 {
				prefix = prefix[:len(prefix)-1]
			}
		case ',':
			flush()
		default:
			cur.WriteRune(ch)
		}
	}
	flush()
	return out
}

func createDeveloperMetadata(ss *spreadsheet, dm *sheets.DeveloperMetadata) (*sheets.DeveloperMetadata, *apiError) {
	if dm == nil || dm.MetadataKey == "" {
		return nil, errorf(400, "developerMetadata.metadataKey is required")
	}
	if dm.Visibility != "DOCUMENT" && dm.Visibility != "PROJECT" {
		return nil, errorf(400, "developerMetadata.visibility must be DOCUMENT or PROJECT")
	}
	if dm.Location == nil {
		return nil, errorf(400, "developerMetadata.location is required")
	}
	out := *dm
	out.ForceSendFields = nil
	if out.MetadataId == 0 {
		out.MetadataId = ss.nextMeta
		ss.nextMeta++
	}
	if dm.Location.Spreadsheet {
		out.Location = &sheets.DeveloperMetadataLocation{LocationType: "SPREADSHEET", Spreadsheet: true}
		ss.metadata = append(ss.metadata, &out)
		return &out, nil
	}
	if dm.Location.DimensionRange != nil {
		return nil, errorf(501, "sheetsfake does not implement metadata on rows or columns")
	}
	_, t := ss.tabByID(dm.Location.SheetId)
	if t == nil {
		return nil, errorf(400, "No grid with id: %d", dm.Location.SheetId)
	}
	out.Location = &sheets.DeveloperMetadataLocation{LocationType: "SHEET", SheetId: t.id, ForceSendFields: []string{"SheetId"}}
	t.metadata = append(t.metadata, &out)
	return &out, nil
}
