package sheetsfake

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	sheets "google.golang.org/api/sheets/v4"
)

// resolve finds the tab a range names (the first tab when it names none).
func (ss *spreadsheet) resolve(text string) (a1Range, *tab, *apiError) {
	rng, ok := parseA1(text)
	if !ok {
		return rng, nil, errorf(400, "Unable to parse range: %s", text)
	}
	if !rng.hasSheet {
		return rng, ss.tabs[0], nil
	}
	t := ss.tabByTitle(rng.sheet)
	if t == nil {
		return rng, nil, errorf(400, "Unable to parse range: %s", text)
	}
	return rng, t, nil
}

func (ss *spreadsheet) valuesGet(text string, query url.Values) (any, *apiError) {
	rng, t, aerr := ss.resolve(text)
	if aerr != nil {
		return nil, aerr
	}
	r2, c2 := rng.r2, rng.c2
	if r2 < 0 || r2 >= t.rows {
		r2 = t.rows - 1
	}
	if c2 < 0 || c2 >= t.cols {
		c2 = t.cols - 1
	}
	if rng.anchor {
		r2, c2 = rng.r1, rng.c1
	}
	values := trimmed(t.cells, rng.r1, rng.c1, r2, c2)
	render := query.Get("valueRenderOption")
	for _, row := range values {
		for i, v := range row {
			row[i] = rendered(v, render)
		}
	}
	return &sheets.ValueRange{Range: formatRange(t.title, rng.r1, rng.c1, r2, c2), MajorDimension: "ROWS", Values: values}, nil
}

// rendered approximates FORMATTED_VALUE (the default): every value as the text Sheets would
// show with the default number format.
func rendered(v any, option string) any {
	if option == "UNFORMATTED_VALUE" || option == "FORMULA" {
		if v == nil {
			return ""
		}
		return v
	}
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "TRUE"
		}
		return "FALSE"
	}
	return v
}

func (ss *spreadsheet) valuesUpdate(text string, query url.Values, body []byte) (any, *apiError) {
	input, aerr := valueInputOption(query.Get("valueInputOption"))
	if aerr != nil {
		return nil, aerr
	}
	var vr sheets.ValueRange
	if err := json.Unmarshal(body, &vr); err != nil {
		return nil, errorf(400, "Invalid JSON payload received. %v", err)
	}
	if vr.Range != "" && vr.Range != text {
		return nil, errorf(400, "Requested range [%s] and range in body [%s] do not match", text, vr.Range)
	}
	for _, dry := range []bool{true, false} {
		resp, aerr := ss.write(text, &vr, input, dry, false)
		if aerr != nil || !dry {
			return resp, aerr
		}
	}
	return nil, nil
}

func (ss *spreadsheet) valuesBatchUpdate(body []byte) (any, *apiError) {
	var in sheets.BatchUpdateValuesRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errorf(400, "Invalid JSON payload received. %v", err)
	}
	input, aerr := valueInputOption(in.ValueInputOption)
	if aerr != nil {
		return nil, aerr
	}
	out := &sheets.BatchUpdateValuesResponse{SpreadsheetId: ss.id}
	// Validate every range first so a bad one leaves the spreadsheet untouched.
	for _, dry := range []bool{true, false} {
		for _, vr := range in.Data {
			resp, aerr := ss.write(vr.Range, vr, input, dry, false)
			if aerr != nil {
				return nil, aerr
			}
			if !dry {
				out.Responses = append(out.Responses, resp)
				out.TotalUpdatedRows += resp.UpdatedRows
				out.TotalUpdatedColumns += resp.UpdatedColumns
				out.TotalUpdatedCells += resp.UpdatedCells
			}
		}
	}
	out.TotalUpdatedSheets = int64(len(in.Data))
	return out, nil
}

func (ss *spreadsheet) valuesAppend(text string, query url.Values, body []byte) (any, *apiError) {
	input, aerr := valueInputOption(query.Get("valueInputOption"))
	if aerr != nil {
		return nil, aerr
	}
	var vr sheets.ValueRange
	if err := json.Unmarshal(body, &vr); err != nil {
		return nil, errorf(400, "Invalid JSON payload received. %v", err)
	}
	rng, t, aerr := ss.resolve(text)
	if aerr != nil {
		return nil, aerr
	}
	// The "table" is simplified to: everything down to the last row holding any value.
	last := int64(len(trimmed(t.cells, 0, 0, t.rows-1, t.cols-1))) - 1
	start := max(last+1, rng.r1)
	anchor := formatRange(t.title, start, rng.c1, start, rng.c1)
	for _, dry := range []bool{true, false} {
		resp, aerr := ss.write(anchor, &vr, input, dry, true)
		if aerr != nil {
			return nil, aerr
		}
		if !dry {
			out := &sheets.AppendValuesResponse{SpreadsheetId: ss.id, Updates: resp}
			if last >= 0 {
				out.TableRange = formatRange(t.title, 0, rng.c1, last, t.cols-1)
			}
			return out, nil
		}
	}
	return nil, nil
}

func valueInputOption(v string) (string, *apiError) {
	switch v {
	case "RAW", "USER_ENTERED":
		return v, nil
	case "":
		return "", errorf(400, "'valueInputOption' is required but not specified")
	}
	return "", errorf(400, "Invalid value at 'value_input_option' (type.googleapis.com/google.apps.sheets.v4.ValueInputOption), %q", v)
}

// write puts vr's values into the range text names. With dry it only validates. grow lets the
// write extend the grid downwards (as append does) instead of failing at its edge.
func (ss *spreadsheet) write(text string, vr *sheets.ValueRange, input string, dry, grow bool) (*sheets.UpdateValuesResponse, *apiError) {
	rng, t, aerr := ss.resolve(text)
	if aerr != nil {
		return nil, aerr
	}
	values := vr.Values
	switch vr.MajorDimension {
	case "", "ROWS", "DIMENSION_UNSPECIFIED":
	case "COLUMNS":
		values = transpose(values)
	default:
		return nil, errorf(400, "Invalid majorDimension: %s", vr.MajorDimension)
	}
	resp := &sheets.UpdateValuesResponse{SpreadsheetId: ss.id}
	if len(values) == 0 {
		resp.UpdatedRange = text
		return resp, nil
	}
	var width int64
	for _, row := range values {
		width = max(width, int64(len(row)))
	}
	height := int64(len(values))
	lastRow, lastCol := rng.r1+height-1, rng.c1+max(width, 1)-1
	written := formatRange(t.title, rng.r1, rng.c1, lastRow, lastCol)
	if rng.r2 >= 0 && lastRow > rng.r2 {
		return nil, errorf(400, "Requested writing within range [%s], but tried writing to row [%d]", text, lastRow+1)
	}
	if rng.c2 >= 0 && lastCol > rng.c2 {
		return nil, errorf(400, "Requested writing within range [%s], but tried writing to column [%s]", text, columnName(lastCol))
	}
	rows := t.rows
	if grow && lastRow >= rows {
		rows = lastRow + 1
		if ss.cells()+(rows-t.rows)*t.cols > CellLimit {
			return nil, errorf(400, "This action would increase the number of cells in the workbook above the limit of %d cells.", CellLimit)
		}
	}
	if lastRow >= rows || lastCol >= t.cols {
		return nil, errorf(400, "Range (%s) exceeds grid limits. Max rows: %d, max columns: %d", written, t.rows, t.cols)
	}
	for _, row := range values {
		for _, v := range row {
			if s, ok := v.(string); ok && utf8.RuneCountInString(s) > maxCellChars {
				return nil, errorf(400, "Your input contains more than the maximum of %d characters in a single cell.", maxCellChars)
			}
			switch v.(type) {
			case nil, string, float64, bool:
			default:
				return nil, errorf(400, "Invalid values: unsupported value %v", v)
			}
		}
	}
	if dry {
		return resp, nil
	}
	t.rows = rows
	var cells int64
	for i, row := range values {
		r := rng.r1 + int64(i)
		for int64(len(t.cells)) <= r {
			t.cells = append(t.cells, nil)
		}
		for j, v := range row {
			if v == nil { // null leaves the cell as it is
				continue
			}
			c := rng.c1 + int64(j)
			for int64(len(t.cells[r])) <= c {
				t.cells[r] = append(t.cells[r], nil)
			}
			t.cells[r][c] = stored(v, input)
			cells++
		}
	}
	resp.UpdatedRange = written
	resp.UpdatedRows = height
	resp.UpdatedColumns = width
	resp.UpdatedCells = cells
	return resp, nil
}

// stored is what a cell holds after writing v: "" clears it; USER_ENTERED parses text as
// Sheets would for plain numbers and booleans (not dates, currencies or formulas).
func stored(v any, input string) any {
	s, ok := v.(string)
	if !ok {
		return v
	}
	if s == "" {
		return nil
	}
	if input == "USER_ENTERED" {
		if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
			return f
		}
		switch strings.ToUpper(s) {
		case "TRUE":
			return true
		case "FALSE":
			return false
		}
	}
	return s
}

func transpose(cols [][]any) [][]any {
	var rows [][]any
	for c, col := range cols {
		for r, v := range col {
			for len(rows) <= r {
				rows = append(rows, nil)
			}
			for len(rows[r]) < c {
				rows[r] = append(rows[r], nil)
			}
			rows[r] = append(rows[r], v)
		}
	}
	return rows
}
