package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	sheetsapi "google.golang.org/api/sheets/v4"
)

// CellLimit is the most cells a spreadsheet may hold, counted over the grids of all its tabs
// (empty cells included).
const CellLimit = 10_000_000

// maxColumns is the widest grid Sheets allows (column ZZZ).
const maxColumns = 18_278

// MetadataKey is the developer-metadata key that marks the tabs Maestro created. Its value is
// a JSON object {"export": <Params.ExportKey>, "run_time": <RFC 3339>}.
const MetadataKey = "maestro.export"

// ErrTooManyCells is matched (errors.Is) by a *CellLimitError.
var ErrTooManyCells = errors.New("export exceeds the spreadsheet cell limit")

// Column is one column of the exported table.
type Column struct {
	Name string
	// Type is the BigQuery type name (STRING, INT64, NUMERIC, TIMESTAMP, DATE, ...). It steers
	// how values are written (see README.md); empty means go by each value's Go type.
	Type string
}

// RowIterator yields a table's rows.
type RowIterator interface {
	// Next returns the next row, one value per column, or io.EOF after the last row. The slice
	// may be reused by the next call.
	Next(ctx context.Context) ([]any, error)
}

// Table is what is exported.
type Table struct {
	Columns []Column
	// RowCount is how many rows Rows yields (from the warehouse's table metadata). It sizes the
	// new tab and the cell-limit check, both before any row is read: a table that yields more
	// fails the export; one that yields fewer gets its tab shrunk to fit.
	RowCount int64
	Rows     RowIterator
}

// Params describes one export run.
type Params struct {
	SpreadsheetID string
	// ExportKey names this export among others writing to the same spreadsheet (e.g. the table
	// name plus the export's index): Keep counts only tabs with the same key.
	ExportKey string
	// RunTime names the new tab ("2026-11-25 06:00 UTC") and orders the tabs kept.
	RunTime time.Time
	// Keep is how many of this export's tabs, the new one included, survive. Defaults to 10.
	Keep  int
	Table Table
}

// Result is what an export did.
type Result struct {
	// Tab is the title of the tab written, SheetID its id.
	Tab     string
	SheetID int64
	// Rows is the number of data rows written (the header not counted).
	Rows int64
	// DeletedTabs are the titles of older tabs deleted to keep Params.Keep.
	DeletedTabs []string
	// Skipped is set when nothing was written because Keep newer tabs of this export exist
	// already (a late replay of an old run).
	Skipped bool
}

// CellLimitError is an export refused before anything was written because the spreadsheet
// would exceed CellLimit.
type CellLimitError struct {
	SpreadsheetID string
	Tab           string
	Rows, Columns int64
	// Needed is the cells the new tab needs: (Rows + 1 header) × Columns.
	Needed int64
	// Used is the cells the spreadsheet's other tabs hold; OwnOld is how many of those are in
	// this export's older tabs.
	Used, OwnOld int64
}

func (e *CellLimitError) Error() string {
	msg := fmt.Sprintf("refusing to export %d rows × %d columns to new tab %q of spreadsheet %q: "+
		"the tab needs %d cells and the spreadsheet's tabs already hold %d, over Google Sheets' limit of %d cells "+
		"per spreadsheet; nothing was written",
		e.Rows, e.Columns, e.Tab, e.SpreadsheetID, e.Needed, e.Used, CellLimit)
	if e.OwnOld > 0 {
		msg += fmt.Sprintf(" (%d of those cells are in this export's older tabs: keeping fewer tabs frees them)", e.OwnOld)
	}
	return msg
}

// Is makes errors.Is(err, ErrTooManyCells) match.
func (e *CellLimitError) Is(target error) bool { return target == ErrTooManyCells }

// Config tunes an Exporter. The zero value is usable.
type Config struct {
	// ChunkRows is the most rows (header included) sent in one write request. Defaults to 10,000.
	ChunkRows int
	// ChunkCells is the most cells sent in one write request, which bounds request size for wide
	// tables (Google advises payloads under 2 MB). Defaults to 200,000.
	ChunkCells int
	// MaxAttempts is how many times one API call is tried on 429, 5xx and transport errors.
	// Defaults to 6.
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt when the server gives no
	// Retry-After; it doubles per attempt up to MaxBackoff. Default to 1 s and 32 s.
	InitialBackoff, MaxBackoff time.Duration
	// Sleep waits between attempts. Defaults to a timer that gives up when ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c Config) withDefaults() Config {
	if c.ChunkRows <= 0 {
		c.ChunkRows = 10_000
	}
	if c.ChunkCells <= 0 {
		c.ChunkCells = 200_000
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 32 * time.Second
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
}

// Exporter writes tables to Google Sheets. Safe for concurrent use.
type Exporter struct {
	svc *sheetsapi.Service
	cfg Config
}

// New returns an Exporter that calls Sheets through svc. cfg may be nil.
func New(svc *sheetsapi.Service, cfg *Config) *Exporter {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	return &Exporter{svc: svc, cfg: c.withDefaults()}
}

// TabTitle is the title of the tab for a run at t, before it is made unique.
func TabTitle(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") + " UTC" }

type tabMark struct {
	Export  string `json:"export"`
	RunTime string `json:"run_time"`
}

// ownTab is a tab this export created earlier.
type ownTab struct {
	id      int64
	title   string
	runTime time.Time
	cells   int64
}

// Export writes p.Table to a new tab of p.SpreadsheetID, then deletes this export's tabs beyond
// p.Keep. The order of calls: spreadsheets.get; one batchUpdate adding the tab (and its marking
// metadata); values.update per chunk; one batchUpdate deleting old tabs. It refuses with a
// *CellLimitError before writing when the spreadsheet would exceed CellLimit. If writing fails
// after the tab was added, the partial tab is deleted. Running the same (ExportKey, RunTime)
// again replaces the tab the earlier attempt made.
func (e *Exporter) Export(ctx context.Context, p *Params) (*Result, error) {
	if err := validate(p); err != nil {
		return nil, err
	}
	keep := p.Keep
	if keep <= 0 {
		keep = 10
	}
	ss, err := e.spreadsheet(ctx, p.SpreadsheetID)
	if err != nil {
		return nil, err
	}
	runTime := p.RunTime.UTC()
	var (
		own, replaced []ownTab
		used          int64
		newer         int
	)
	ids, titles := map[int64]bool{}, map[string]bool{}
	for _, sh := range ss.Sheets {
		t, mine := ownTabOf(sh, p.ExportKey)
		switch {
		case mine && t.runTime.Equal(runTime):
			// An earlier attempt of this run: its tab is replaced, not kept beside the new one.
			replaced = append(replaced, t)
			continue
		case mine:
			own = append(own, t)
			if t.runTime.After(runTime) {
				newer++
			}
		}
		used += t.cells
		ids[t.id] = true
		titles[strings.ToLower(t.title)] = true
	}
	if newer >= keep {
		return &Result{Skipped: true}, nil
	}

	cols := int64(len(p.Table.Columns))
	title := uniqueTitle(TabTitle(runTime), titles)
	needed := (p.Table.RowCount + 1) * cols
	if used+needed > CellLimit {
		var ownCells int64
		for _, t := range own {
			ownCells += t.cells
		}
		return nil, &CellLimitError{SpreadsheetID: p.SpreadsheetID, Tab: title, Rows: p.Table.RowCount,
			Columns: cols, Needed: needed, Used: used, OwnOld: ownCells}
	}

	sheetID := newSheetID(p, ids)
	if err := e.addTab(ctx, p, sheetID, title, replaced); err != nil {
		return nil, err
	}
	res := &Result{Tab: title, SheetID: sheetID}
	res.Rows, err = e.writeRows(ctx, p, title)
	if err != nil {
		// A partial tab named like a finished run would mislead readers: take it away.
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := e.deleteTabs(cleanupCtx, p.SpreadsheetID, []int64{sheetID}, nil); derr != nil {
			err = errors.Join(err, fmt.Errorf("error deleting the partly written tab %q: %w", title, derr))
		}
		return nil, err
	}

	// Newest first; this run's tab is among them.
	own = append(own, ownTab{id: sheetID, title: title, runTime: runTime})
	slices.SortStableFunc(own, func(a, b ownTab) int { return b.runTime.Compare(a.runTime) })
	var drop []int64
	for _, t := range own[min(keep, len(own)):] {
		drop = append(drop, t.id)
		res.DeletedTabs = append(res.DeletedTabs, t.title)
	}
	var shrink *sheetsapi.Request
	if res.Rows < p.Table.RowCount {
		// Fewer rows than declared: give back the empty cells (and unfreeze a lone header row,
		// which Sheets refuses to leave frozen).
		grid := &sheetsapi.GridProperties{RowCount: res.Rows + 1, FrozenRowCount: min(res.Rows, 1),
			ForceSendFields: []string{"FrozenRowCount"}}
		shrink = &sheetsapi.Request{UpdateSheetProperties: &sheetsapi.UpdateSheetPropertiesRequest{
			Properties: &sheetsapi.SheetProperties{SheetId: sheetID, GridProperties: grid},
			Fields:     "gridProperties(rowCount,frozenRowCount)",
		}}
	}
	if len(drop) > 0 || shrink != nil {
		if err := e.deleteTabs(ctx, p.SpreadsheetID, drop, shrink); err != nil {
			return res, fmt.Errorf("error deleting old tabs of spreadsheet %q after writing tab %q: %w", p.SpreadsheetID, title, err)
		}
	}
	return res, nil
}

func validate(p *Params) error {
	switch {
	case p.SpreadsheetID == "":
		return errors.New("error exporting to Sheets: no spreadsheet id")
	case p.ExportKey == "":
		return errors.New("error exporting to Sheets: no export key")
	case p.RunTime.IsZero():
		return errors.New("error exporting to Sheets: no run time")
	case len(p.Table.Columns) == 0:
		return errors.New("error exporting to Sheets: the table has no columns")
	case len(p.Table.Columns) > maxColumns:
		return fmt.Errorf("error exporting to Sheets: the table has %d columns; a sheet holds at most %d", len(p.Table.Columns), maxColumns)
	case p.Table.RowCount < 0:
		return fmt.Errorf("error exporting to Sheets: negative row count %d", p.Table.RowCount)
	case p.Table.Rows == nil:
		return errors.New("error exporting to Sheets: no row iterator")
	}
	return nil
}

func (e *Exporter) spreadsheet(ctx context.Context, id string) (*sheetsapi.Spreadsheet, error) {
	var ss *sheetsapi.Spreadsheet
	err := e.call(ctx, func(ctx context.Context, _ int) error {
		var err error
		ss, err = e.svc.Spreadsheets.Get(id).
			Fields("sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),developerMetadata(metadataKey,metadataValue))").
			Context(ctx).Do()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("error reading the tabs of spreadsheet %q: %w", id, err)
	}
	return ss, nil
}

func ownTabOf(sh *sheetsapi.Sheet, exportKey string) (ownTab, bool) {
	t := ownTab{}
	if sh.Properties != nil {
		t.id, t.title = sh.Properties.SheetId, sh.Properties.Title
		if g := sh.Properties.GridProperties; g != nil {
			t.cells = g.RowCount * g.ColumnCount
		}
	}
	for _, dm := range sh.DeveloperMetadata {
		if dm.MetadataKey != MetadataKey {
			continue
		}
		var m tabMark
		if json.Unmarshal([]byte(dm.MetadataValue), &m) != nil || m.Export != exportKey {
			continue
		}
		rt, err := time.Parse(time.RFC3339Nano, m.RunTime)
		if err != nil {
			continue
		}
		t.runTime = rt.UTC()
		return t, true
	}
	return t, false
}

// uniqueTitle appends " (2)", " (3)", ... when a tab with the title exists (Sheets compares
// titles ignoring case).
func uniqueTitle(base string, taken map[string]bool) string {
	title := base
	for n := 2; taken[strings.ToLower(title)]; n++ {
		title = base + " (" + strconv.Itoa(n) + ")"
	}
	return title
}

// newSheetID derives the new tab's id from the export and run, so a retried addSheet whose
// answer was lost can be recognised, avoiding ids in use.
func newSheetID(p *Params, taken map[int64]bool) int64 {
	h := fnv.New32a()
	_, _ = io.WriteString(h, p.ExportKey+"\x00"+p.RunTime.UTC().Format(time.RFC3339Nano))
	id := int64(h.Sum32() & 0x7fffffff)
	for id == 0 || taken[id] {
		id = (id + 1) & 0x7fffffff
	}
	return id
}

func (e *Exporter) addTab(ctx context.Context, p *Params, sheetID int64, title string, replaced []ownTab) error {
	mark, _ := json.Marshal(tabMark{Export: p.ExportKey, RunTime: p.RunTime.UTC().Format(time.RFC3339Nano)})
	grid := &sheetsapi.GridProperties{RowCount: p.Table.RowCount + 1, ColumnCount: int64(len(p.Table.Columns))}
	if p.Table.RowCount > 0 {
		grid.FrozenRowCount = 1 // keep the header in view; Sheets refuses to freeze every row
	}
	var reqs []*sheetsapi.Request
	for _, t := range replaced {
		reqs = append(reqs, &sheetsapi.Request{DeleteSheet: &sheetsapi.DeleteSheetRequest{SheetId: t.id, ForceSendFields: []string{"SheetId"}}})
	}
	reqs = append(reqs,
		&sheetsapi.Request{AddSheet: &sheetsapi.AddSheetRequest{Properties: &sheetsapi.SheetProperties{
			SheetId: sheetID, Title: title, GridProperties: grid}}},
		&sheetsapi.Request{CreateDeveloperMetadata: &sheetsapi.CreateDeveloperMetadataRequest{DeveloperMetadata: &sheetsapi.DeveloperMetadata{
			MetadataKey: MetadataKey, MetadataValue: string(mark), Visibility: "DOCUMENT",
			Location: &sheetsapi.DeveloperMetadataLocation{SheetId: sheetID}}}},
	)
	err := e.call(ctx, func(ctx context.Context, attempt int) error {
		if attempt > 1 {
			// The previous attempt may have been applied with its answer lost.
			if ss, err := e.spreadsheet(ctx, p.SpreadsheetID); err == nil && hasSheet(ss, sheetID) {
				return nil
			}
		}
		_, err := e.svc.Spreadsheets.BatchUpdate(p.SpreadsheetID, &sheetsapi.BatchUpdateSpreadsheetRequest{Requests: reqs}).Context(ctx).Do()
		return err
	})
	if err != nil {
		return fmt.Errorf("error adding tab %q to spreadsheet %q: %w", title, p.SpreadsheetID, err)
	}
	return nil
}

func hasSheet(ss *sheetsapi.Spreadsheet, id int64) bool {
	for _, sh := range ss.Sheets {
		if sh.Properties != nil && sh.Properties.SheetId == id {
			return true
		}
	}
	return false
}

// deleteTabs deletes tabs (skipping any already gone on a retry) after an optional request.
func (e *Exporter) deleteTabs(ctx context.Context, spreadsheetID string, ids []int64, first *sheetsapi.Request) error {
	return e.call(ctx, func(ctx context.Context, attempt int) error {
		todo := ids
		if attempt > 1 {
			ss, err := e.spreadsheet(ctx, spreadsheetID)
			if err != nil {
				return err
			}
			todo = slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return !hasSheet(ss, id) })
		}
		var reqs []*sheetsapi.Request
		if first != nil {
			reqs = append(reqs, first)
		}
		for _, id := range todo {
			reqs = append(reqs, &sheetsapi.Request{DeleteSheet: &sheetsapi.DeleteSheetRequest{SheetId: id, ForceSendFields: []string{"SheetId"}}})
		}
		if len(reqs) == 0 {
			return nil
		}
		_, err := e.svc.Spreadsheets.BatchUpdate(spreadsheetID, &sheetsapi.BatchUpdateSpreadsheetRequest{Requests: reqs}).Context(ctx).Do()
		return err
	})
}

// writeRows writes the header and the rows in chunks, each chunk one values.update at an
// explicit range (so a retried chunk rewrites the same cells). It returns the data rows written.
func (e *Exporter) writeRows(ctx context.Context, p *Params, title string) (int64, error) {
	cols := p.Table.Columns
	chunkRows := max(1, min(e.cfg.ChunkRows, e.cfg.ChunkCells/len(cols)))
	header := make([]any, len(cols))
	for i, c := range cols {
		header[i] = c.Name
	}
	chunk := [][]any{header}
	var (
		firstRow int64 = 1 // sheet row of chunk[0], 1-based
		rows     int64
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		lastRow := firstRow + int64(len(chunk)) - 1
		rng := a1Range(title, firstRow, lastRow, len(cols))
		err := e.call(ctx, func(ctx context.Context, _ int) error {
			_, err := e.svc.Spreadsheets.Values.Update(p.SpreadsheetID, rng, &sheetsapi.ValueRange{
				Range: rng, MajorDimension: "ROWS", Values: chunk,
			}).ValueInputOption("RAW").Context(ctx).Do()
			return err
		})
		if err != nil {
			return fmt.Errorf("error writing rows %d-%d to tab %q of spreadsheet %q: %w",
				firstRow, lastRow, title, p.SpreadsheetID, err)
		}
		firstRow = lastRow + 1
		chunk = chunk[:0:0] // the request may still hold the old slice's rows
		return nil
	}
	for {
		row, err := p.Table.Rows.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rows, fmt.Errorf("error reading row %d of the table exported to spreadsheet %q: %w", rows+1, p.SpreadsheetID, err)
		}
		if rows == p.Table.RowCount {
			return rows, fmt.Errorf("error exporting to tab %q of spreadsheet %q: the table yielded more than the %d rows it declared",
				title, p.SpreadsheetID, p.Table.RowCount)
		}
		if len(row) != len(cols) {
			return rows, fmt.Errorf("error exporting row %d to spreadsheet %q: it has %d values for %d columns", rows+1, p.SpreadsheetID, len(row), len(cols))
		}
		out := make([]any, len(row))
		for i, v := range row {
			if out[i], err = cellValue(cols[i], v); err != nil {
				return rows, fmt.Errorf("error exporting row %d, column %q to spreadsheet %q: %w", rows+1, cols[i].Name, p.SpreadsheetID, err)
			}
		}
		chunk = append(chunk, out)
		rows++
		if len(chunk) >= chunkRows {
			if err := flush(); err != nil {
				return rows, err
			}
		}
	}
	return rows, flush()
}

// a1Range is "'title'!A<first>:<lastCol><last>", the title quoted as A1 notation requires.
func a1Range(title string, first, last int64, cols int) string {
	return "'" + strings.ReplaceAll(title, "'", "''") + "'!A" + strconv.FormatInt(first, 10) + ":" +
		columnLetters(cols-1) + strconv.FormatInt(last, 10)
}

// columnLetters turns a 0-based column index into A1 letters: 0 → A, 26 → AA.
func columnLetters(col int) string {
	var b []byte
	for col++; col > 0; col = (col - 1) / 26 {
		b = append([]byte{byte('A' + (col-1)%26)}, b...)
	}
	return string(b)
}
