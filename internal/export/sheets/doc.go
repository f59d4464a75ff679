// Package sheets exports a table to a Google Sheet: each run writes a new tab named by the run's
// time, Maestro's older tabs beyond a count are deleted, and an export that would push the
// spreadsheet over Sheets' 10,000,000-cell limit is refused before anything is written. It calls
// Sheets through the official client (google.golang.org/api/sheets/v4); tests run it against
// sheetsfake, a local server that answers the Sheets v4 REST API. README.md describes the calls
// made, how tabs are marked and how values are converted.
package sheets
