package sheets_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	sheetsapi "google.golang.org/api/sheets/v4"

	"github.com/maestro-sql/maestro/internal/export/sheets"
	"github.com/maestro-sql/maestro/internal/export/sheets/sheetsfake"
)

var runTime = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

type sliceRows struct {
	rows [][]any
	i    int
}

func (s *sliceRows) Next(context.Context) ([]any, error) {
	if s.i == len(s.rows) {
		return nil, io.EOF
	}
	s.i++
	return s.rows[s.i-1], nil
}

type testBundle struct {
	fake     *sheetsfake.Server
	exporter *sheets.Exporter
	mu       sync.Mutex
	sleeps   []time.Duration
}

func (b *testBundle) slept() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), b.sleeps...)
}

func setup(t *testing.T, chunkRows int) *testBundle {
	t.Helper()
	b := &testBundle{fake: sheetsfake.New()}
	hs := httptest.NewServer(b.fake)
	t.Cleanup(hs.Close)
	svc, err := sheetsapi.NewService(context.Background(), option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	b.exporter = sheets.New(svc, &sheets.Config{ChunkRows: chunkRows, Sleep: func(_ context.Context, d time.Duration) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.sleeps = append(b.sleeps, d)
		return nil
	}})
	return b
}

// mark is the developer metadata Maestro puts on its tabs.
func mark(export string, at time.Time) []*sheetsapi.DeveloperMetadata {
	v, _ := json.Marshal(map[string]string{"export": export, "run_time": at.Format(time.RFC3339Nano)})
	return []*sheetsapi.DeveloperMetadata{{MetadataKey: sheets.MetadataKey, MetadataValue: string(v), Visibility: "DOCUMENT"}}
}

func ordersTable(n int) sheets.Table {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(i + 1), "order " + string(rune('a'+i)), runTime.Add(time.Duration(i) * time.Minute)}
	}
	return sheets.Table{
		Columns:  []sheets.Column{{Name: "id", Type: "INT64"}, {Name: "name", Type: "STRING"}, {Name: "at", Type: "TIMESTAMP"}},
		RowCount: int64(n),
		Rows:     &sliceRows{rows: rows},
	}
}

// calls renders requests as "METHOD path[?valueInputOption=...]".
func calls(reqs []sheetsfake.Request) []string {
	var out []string
	for _, r := range reqs {
		s := r.String()
		if v := r.Query.Get("valueInputOption"); v != "" {
			s += "?valueInputOption=" + v
		}
		out = append(out, s)
	}
	return out
}

// escaped is a range as the client puts it in the path: percent-escaped, ':' included.
func escaped(rng string) string { return strings.ReplaceAll(url.PathEscape(rng), ":", "%3A") }

func TestExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("WritesANewTabInChunksThenDeletesTheOldestBeyondKeep", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 3)
		b.fake.AddSpreadsheet("book",
			sheetsfake.Tab{Title: "Notes"},
			sheetsfake.Tab{SheetID: 11, Title: "2026-11-23 06:00 UTC", Rows: 2, Columns: 3, Metadata: mark("orders", runTime.Add(-48*time.Hour))},
			sheetsfake.Tab{SheetID: 12, Title: "2026-11-24 06:00 UTC", Rows: 2, Columns: 3, Metadata: mark("orders", runTime.Add(-24*time.Hour))},
			sheetsfake.Tab{SheetID: 13, Title: "2026-11-22 06:00 UTC", Rows: 2, Columns: 3, Metadata: mark("customers", runTime.Add(-72*time.Hour))},
			// A user's own tab that happens to carry this run's title: kept, and the new tab
			// gets another name.
			sheetsfake.Tab{SheetID: 14, Title: "2026-11-25 06:00 UTC"},
		)

		res, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Keep: 2, Table: ordersTable(7)})
		require.NoError(t, err)
		title := "2026-11-25 06:00 UTC (2)"
		require.Equal(t, title, res.Tab)
		require.Equal(t, int64(7), res.Rows)
		require.Equal(t, []string{"2026-11-23 06:00 UTC"}, res.DeletedTabs)

		reqs := b.fake.Requests()
		q := "'" + title + "'!"
		require.Equal(t, []string{
			"GET /v4/spreadsheets/book",
			"POST /v4/spreadsheets/book:batchUpdate",
			"PUT /v4/spreadsheets/book/values/" + escaped(q+"A1:C3") + "?valueInputOption=RAW",
			"PUT /v4/spreadsheets/book/values/" + escaped(q+"A4:C6") + "?valueInputOption=RAW",
			"PUT /v4/spreadsheets/book/values/" + escaped(q+"A7:C8") + "?valueInputOption=RAW",
			"POST /v4/spreadsheets/book:batchUpdate",
		}, calls(reqs))
		require.Equal(t, "/v4/spreadsheets/book/values/%272026-11-25%2006%3A00%20UTC%20%282%29%27%21A1%3AC3", reqs[2].Path)

		require.JSONEq(t, `{"requests": [
			{"addSheet": {"properties": {"sheetId": `+jsonInt(res.SheetID)+`, "title": "2026-11-25 06:00 UTC (2)",
				"gridProperties": {"rowCount": 8, "columnCount": 3, "frozenRowCount": 1}}}},
			{"createDeveloperMetadata": {"developerMetadata": {"metadataKey": "maestro.export",
				"metadataValue": "{\"export\":\"orders\",\"run_time\":\"2026-11-25T06:00:00Z\"}",
				"visibility": "DOCUMENT", "location": {"sheetId": `+jsonInt(res.SheetID)+`}}}}
		]}`, string(reqs[1].Body))
		require.JSONEq(t, `{"range": "'2026-11-25 06:00 UTC (2)'!A1:C3", "majorDimension": "ROWS", "values": [
			["id", "name", "at"],
			[1, "order a", "2026-11-25T06:00:00Z"],
			[2, "order b", "2026-11-25T06:01:00Z"]
		]}`, string(reqs[2].Body))
		require.JSONEq(t, `{"range": "'2026-11-25 06:00 UTC (2)'!A7:C8", "majorDimension": "ROWS", "values": [
			[6, "order f", "2026-11-25T06:05:00Z"],
			[7, "order g", "2026-11-25T06:06:00Z"]
		]}`, string(reqs[4].Body))
		require.JSONEq(t, `{"requests": [{"deleteSheet": {"sheetId": 11}}]}`, string(reqs[5].Body))

		var titles []string
		for _, tab := range b.fake.Tabs("book") {
			titles = append(titles, tab.Title)
		}
		require.Equal(t, []string{"Notes", "2026-11-24 06:00 UTC", "2026-11-22 06:00 UTC", "2026-11-25 06:00 UTC", title}, titles)
		got, _ := b.fake.Values("book", title)
		require.Len(t, got, 8)
		require.Equal(t, []any{7.0, "order g", "2026-11-25T06:06:00Z"}, got[7])
	})

	t.Run("RefusesBeforeWritingWhenOverTheCellLimit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("big",
			sheetsfake.Tab{Title: "raw", Rows: 800_000, Columns: 10},
			sheetsfake.Tab{SheetID: 5, Title: "old", Rows: 100_000, Columns: 10, Metadata: mark("orders", runTime.Add(-time.Hour))},
		)
		tbl := ordersTable(0)
		tbl.RowCount = 400_000 // × 3 columns + header = 1,200,003 cells on top of 9,000,000
		_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "big", ExportKey: "orders", RunTime: runTime, Table: tbl})
		require.ErrorIs(t, err, sheets.ErrTooManyCells)
		var cle *sheets.CellLimitError
		require.ErrorAs(t, err, &cle)
		require.Equal(t, int64(1_200_003), cle.Needed)
		require.Equal(t, int64(9_000_000), cle.Used)
		require.Equal(t, int64(1_000_000), cle.OwnOld)
		require.Contains(t, err.Error(), `spreadsheet "big"`)
		require.Contains(t, err.Error(), "nothing was written")
		require.Equal(t, []string{"GET /v4/spreadsheets/big"}, calls(b.fake.Requests()))
		require.Len(t, b.fake.Tabs("big"), 2)
	})

	t.Run("RetriesA429HonouringRetryAfterThenBacksOffOn503", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("book")
		b.fake.Fail(sheetsfake.Fault{Method: http.MethodPut, Status: http.StatusTooManyRequests, RetryAfter: "7"})
		b.fake.Fail(sheetsfake.Fault{Method: http.MethodPut, Status: http.StatusServiceUnavailable})
		res, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Table: ordersTable(2)})
		require.NoError(t, err)
		require.Equal(t, int64(2), res.Rows)

		var statuses []int
		for _, r := range b.fake.Requests() {
			statuses = append(statuses, r.Status)
		}
		require.Equal(t, []int{200, 200, 429, 503, 200}, statuses)
		slept := b.slept()
		require.Len(t, slept, 2)
		require.Equal(t, 7*time.Second, slept[0])
		require.GreaterOrEqual(t, slept[1], 500*time.Millisecond)
		require.LessOrEqual(t, slept[1], time.Second)
		got, _ := b.fake.Values("book", "2026-11-25 06:00 UTC")
		require.Len(t, got, 3)
	})

	t.Run("SurfacesA400NamingSpreadsheetAndTabAndRemovesThePartialTab", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 2)
		b.fake.AddSpreadsheet("book")
		b.fake.Fail(sheetsfake.Fault{Method: http.MethodPut, PathContains: "A3", Status: http.StatusBadRequest,
			Message: "Invalid values[0][1]: struct_value"})
		_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Table: ordersTable(3)})
		require.Error(t, err)
		require.Contains(t, err.Error(), `error writing rows 3-4 to tab "2026-11-25 06:00 UTC" of spreadsheet "book"`)
		require.Contains(t, err.Error(), "Invalid values[0][1]: struct_value")
		var gerr *googleapi.Error
		require.ErrorAs(t, err, &gerr)
		require.Equal(t, http.StatusBadRequest, gerr.Code)
		require.Empty(t, b.slept(), "a 400 is not retried")

		reqs := b.fake.Requests()
		require.Equal(t, []string{
			"GET /v4/spreadsheets/book",
			"POST /v4/spreadsheets/book:batchUpdate",
			"PUT /v4/spreadsheets/book/values/" + escaped("'2026-11-25 06:00 UTC'!A1:C2") + "?valueInputOption=RAW",
			"PUT /v4/spreadsheets/book/values/" + escaped("'2026-11-25 06:00 UTC'!A3:C4") + "?valueInputOption=RAW",
			"POST /v4/spreadsheets/book:batchUpdate",
		}, calls(reqs))
		require.Contains(t, string(reqs[4].Body), `"deleteSheet"`)
		require.Len(t, b.fake.Tabs("book"), 1)
	})

	t.Run("RetriesAnAddSheetWhoseAnswerWasLostWithoutAddingTwice", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("book")
		b.fake.Fail(sheetsfake.Fault{Method: http.MethodPost, PathContains: ":batchUpdate", Status: http.StatusBadGateway, AfterServing: true})
		_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Table: ordersTable(2)})
		require.NoError(t, err)
		require.Equal(t, []string{
			"GET /v4/spreadsheets/book",
			"POST /v4/spreadsheets/book:batchUpdate", // applied, answered 502
			"GET /v4/spreadsheets/book",              // the tab is there: no second addSheet
			"PUT /v4/spreadsheets/book/values/" + escaped("'2026-11-25 06:00 UTC'!A1:C3") + "?valueInputOption=RAW",
		}, calls(b.fake.Requests()))
		require.Len(t, b.fake.Tabs("book"), 2)
	})

	t.Run("ReplacesTheTabOfAnEarlierAttemptOfTheSameRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("book")
		for range 2 {
			_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Table: ordersTable(2)})
			require.NoError(t, err)
		}
		tabs := b.fake.Tabs("book")
		require.Len(t, tabs, 2)
		require.Equal(t, "2026-11-25 06:00 UTC", tabs[1].Title)
	})

	t.Run("SkipsALateReplayOfAnOldRun", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("book", sheetsfake.Tab{Title: "Sheet1"},
			sheetsfake.Tab{Title: "newer", Metadata: mark("orders", runTime.Add(time.Hour))})
		res, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Keep: 1, Table: ordersTable(2)})
		require.NoError(t, err)
		require.True(t, res.Skipped)
		require.Len(t, b.fake.Requests(), 1)
	})

	t.Run("ShrinksTheTabWhenTheTableYieldsFewerRows", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("book")
		tbl := ordersTable(2)
		tbl.RowCount = 5
		_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Table: tbl})
		require.NoError(t, err)
		require.Equal(t, int64(3), b.fake.Tabs("book")[1].Rows)
	})

	t.Run("FailsWhenTheTableYieldsMoreRowsThanDeclared", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("book")
		tbl := ordersTable(3)
		tbl.RowCount = 2
		_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "orders", RunTime: runTime, Table: tbl})
		require.ErrorContains(t, err, "yielded more than the 2 rows it declared")
		require.Len(t, b.fake.Tabs("book"), 1)
	})

	t.Run("ConvertsValues", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		b.fake.AddSpreadsheet("book")
		cols := []sheets.Column{
			{Name: "int", Type: "INT64"}, {Name: "big_int", Type: "INT64"}, {Name: "float", Type: "FLOAT64"},
			{Name: "nan", Type: "FLOAT64"}, {Name: "numeric", Type: "NUMERIC"}, {Name: "long_numeric", Type: "BIGNUMERIC"},
			{Name: "numeric_text", Type: "NUMERIC"}, {Name: "null", Type: "STRING"}, {Name: "bool", Type: "BOOL"},
			{Name: "formula", Type: "STRING"}, {Name: "ts", Type: "TIMESTAMP"}, {Name: "date", Type: "DATE"},
			{Name: "bytes", Type: "BYTES"}, {Name: "array", Type: "ARRAY"},
		}
		long, _ := new(big.Rat).SetString("12345678901234567890.123456789")
		row := []any{
			int64(42), int64(1) << 60, 1.25,
			math.NaN(), big.NewRat(5, 4), long,
			"0.000123", nil, true,
			"=IMPORTXML(\"http://x\")", time.Date(2026, 11, 25, 7, 0, 0, 5000, time.FixedZone("CET", 3600)), time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
			[]byte("hi"), []any{1, "a"},
		}
		_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "book", ExportKey: "x", RunTime: runTime,
			Table: sheets.Table{Columns: cols, RowCount: 1, Rows: &sliceRows{rows: [][]any{row}}}})
		require.NoError(t, err)
		var body struct{ Values [][]json.RawMessage }
		require.NoError(t, json.Unmarshal(b.fake.Requests()[2].Body, &body))
		var sent []string
		for _, v := range body.Values[1] {
			sent = append(sent, string(v))
		}
		require.Equal(t, []string{
			`42`, `"1152921504606846976"`, `1.25`,
			`"NaN"`, `1.25`, `"12345678901234567890.123456789"`,
			`0.000123`, `""`, `true`,
			`"=IMPORTXML(\"http://x\")"`, `"2026-11-25T06:00:00.000005Z"`, `"2026-11-25"`,
			`"aGk="`, `"[1,\"a\"]"`,
		}, sent)
	})

	t.Run("RejectsAnUnknownSpreadsheetClearly", func(t *testing.T) {
		t.Parallel()
		b := setup(t, 0)
		_, err := b.exporter.Export(ctx, &sheets.Params{SpreadsheetID: "missing", ExportKey: "x", RunTime: runTime, Table: ordersTable(1)})
		require.ErrorContains(t, err, `error reading the tabs of spreadsheet "missing"`)
		var gerr *googleapi.Error
		require.True(t, errors.As(err, &gerr))
		require.Equal(t, http.StatusNotFound, gerr.Code)
	})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
