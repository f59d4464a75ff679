// Package sheetsfake is a local Google Sheets: an http.Handler that answers the Sheets v4 REST API
// for the calls a spreadsheet writer makes, keeping spreadsheets in memory. Tests point the
// official client (google.golang.org/api/sheets/v4) at it:
//
//	fake := sheetsfake.New()
//	fake.AddSpreadsheet("sheet-id", sheetsfake.Tab{Title: "Sheet1"})
//	hs := httptest.NewServer(fake)
//	svc, _ := sheets.NewService(ctx, option.WithEndpoint(hs.URL), option.WithoutAuthentication())
//
// It answers spreadsheets.get, spreadsheets.batchUpdate (addSheet, deleteSheet,
// updateSheetProperties, createDeveloperMetadata; atomically, as Sheets applies them),
// spreadsheets.values.get, .update, .append and .batchUpdate, with the error bodies Sheets sends
// ({"error": {"code", "message", "status"}}). It enforces the rules a writer can trip over: the
// 10,000,000-cell limit per spreadsheet (counted over every tab's grid, empty cells included),
// writes outside a tab's grid, duplicate tab names (case-insensitive), deleting the last tab,
// freezing every row. Anything else gets 501 with a message naming what is missing. README.md
// lists what it does not model.
//
// Tests read back what it received with Server.Requests, the cells with Server.Values and the tabs
// with Server.Tabs, and make calls fail with Server.Fail (429 with Retry-After, 5xx, ...).
package sheetsfake
