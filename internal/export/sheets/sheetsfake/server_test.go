package sheetsfake_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	sheets "google.golang.org/api/sheets/v4"

	"github.com/maestro-sql/maestro/internal/export/sheets/sheetsfake"
)

func setup(t *testing.T) (*sheetsfake.Server, *sheets.Service) {
	t.Helper()
	fake := sheetsfake.New()
	fake.AddSpreadsheet("book", sheetsfake.Tab{Title: "Sheet1"})
	hs := httptest.NewServer(fake)
	t.Cleanup(hs.Close)
	svc, err := sheets.NewService(context.Background(), option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	return fake, svc
}

func apiCode(t *testing.T, err error) (int, string) {
	t.Helper()
	var gerr *googleapi.Error
	require.True(t, errors.As(err, &gerr), "not a googleapi error: %v", err)
	return gerr.Code, gerr.Message
}

func TestServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("AddsATabWritesAndReadsBack", func(t *testing.T) {
		t.Parallel()
		fake, svc := setup(t)
		resp, err := svc.Spreadsheets.BatchUpdate("book", &sheets.BatchUpdateSpreadsheetRequest{Requests: []*sheets.Request{{
			AddSheet: &sheets.AddSheetRequest{Properties: &sheets.SheetProperties{SheetId: 7, Title: "My 'tab'",
				GridProperties: &sheets.GridProperties{RowCount: 3, ColumnCount: 2}}},
		}}}).Context(ctx).Do()
		require.NoError(t, err)
		require.Equal(t, int64(7), resp.Replies[0].AddSheet.Properties.SheetId)
		require.Equal(t, int64(1), resp.Replies[0].AddSheet.Properties.Index)

		up, err := svc.Spreadsheets.Values.Update("book", "'My ''tab'''!A1:B3", &sheets.ValueRange{
			Values: [][]any{{"a", 1.5}, {true, ""}, {nil, "x"}},
		}).ValueInputOption("RAW").Context(ctx).Do()
		require.NoError(t, err)
		require.Equal(t, "'My ''tab'''!A1:B3", up.UpdatedRange)
		got, ok := fake.Values("book", "My 'tab'")
		require.True(t, ok)
		require.Equal(t, [][]any{{"a", 1.5}, {true}, {nil, "x"}}, got)
		require.Equal(t, "/v4/spreadsheets/book/values/%27My%20%27%27tab%27%27%27%21A1%3AB3", fake.Requests()[1].Path)

		vr, err := svc.Spreadsheets.Values.Get("book", "'My ''tab'''!A1:B2").Context(ctx).Do()
		require.NoError(t, err)
		require.Equal(t, [][]any{{"a", "1.5"}, {"TRUE"}}, vr.Values)

		ss, err := svc.Spreadsheets.Get("book").Context(ctx).Do()
		require.NoError(t, err)
		require.Len(t, ss.Sheets, 2)
		require.Equal(t, int64(0), ss.Sheets[0].Properties.SheetId)
		require.Equal(t, int64(3), ss.Sheets[1].Properties.GridProperties.RowCount)
	})

	t.Run("RefusesWritesOutsideTheGrid", func(t *testing.T) {
		t.Parallel()
		_, svc := setup(t)
		_, err := svc.Spreadsheets.Values.Update("book", "Sheet1!A1000", &sheets.ValueRange{
			Values: [][]any{{1}, {2}},
		}).ValueInputOption("RAW").Context(ctx).Do()
		code, msg := apiCode(t, err)
		require.Equal(t, http.StatusBadRequest, code)
		require.Contains(t, msg, "exceeds grid limits")
	})

	t.Run("AppliesABatchAllOrNothing", func(t *testing.T) {
		t.Parallel()
		fake, svc := setup(t)
		_, err := svc.Spreadsheets.BatchUpdate("book", &sheets.BatchUpdateSpreadsheetRequest{Requests: []*sheets.Request{
			{AddSheet: &sheets.AddSheetRequest{Properties: &sheets.SheetProperties{Title: "new"}}},
			{AddSheet: &sheets.AddSheetRequest{Properties: &sheets.SheetProperties{Title: "NEW"}}},
		}}).Context(ctx).Do()
		code, msg := apiCode(t, err)
		require.Equal(t, http.StatusBadRequest, code)
		require.Equal(t, `Invalid requests[1].addSheet: A sheet with the name "NEW" already exists. Please enter another name.`, msg)
		require.Len(t, fake.Tabs("book"), 1)
	})

	t.Run("EnforcesTheCellLimit", func(t *testing.T) {
		t.Parallel()
		_, svc := setup(t)
		_, err := svc.Spreadsheets.BatchUpdate("book", &sheets.BatchUpdateSpreadsheetRequest{Requests: []*sheets.Request{
			{AddSheet: &sheets.AddSheetRequest{Properties: &sheets.SheetProperties{
				GridProperties: &sheets.GridProperties{RowCount: 1_000_000, ColumnCount: 10}}}},
		}}).Context(ctx).Do()
		_, msg := apiCode(t, err)
		require.Contains(t, msg, "above the limit of 10000000 cells")
	})

	t.Run("DeletesTabsAndTheirMetadataButNotTheLast", func(t *testing.T) {
		t.Parallel()
		fake, svc := setup(t)
		_, err := svc.Spreadsheets.BatchUpdate("book", &sheets.BatchUpdateSpreadsheetRequest{Requests: []*sheets.Request{
			{AddSheet: &sheets.AddSheetRequest{Properties: &sheets.SheetProperties{SheetId: 9, Title: "t"}}},
			{CreateDeveloperMetadata: &sheets.CreateDeveloperMetadataRequest{DeveloperMetadata: &sheets.DeveloperMetadata{
				MetadataKey: "k", MetadataValue: "v", Visibility: "DOCUMENT",
				Location: &sheets.DeveloperMetadataLocation{SheetId: 9}}}},
			{DeleteSheet: &sheets.DeleteSheetRequest{SheetId: 0, ForceSendFields: []string{"SheetId"}}},
		}}).Context(ctx).Do()
		require.NoError(t, err)
		tabs := fake.Tabs("book")
		require.Len(t, tabs, 1)
		require.Equal(t, "v", tabs[0].Metadata[0].MetadataValue)

		_, err = svc.Spreadsheets.BatchUpdate("book", &sheets.BatchUpdateSpreadsheetRequest{Requests: []*sheets.Request{
			{DeleteSheet: &sheets.DeleteSheetRequest{SheetId: 9}},
		}}).Context(ctx).Do()
		_, msg := apiCode(t, err)
		require.Contains(t, msg, "You can't remove all the sheets")
	})

	t.Run("AppendsAfterTheLastRowAndGrows", func(t *testing.T) {
		t.Parallel()
		fake, svc := setup(t)
		fake.AddSpreadsheet("small", sheetsfake.Tab{Title: "s", Rows: 2, Columns: 2})
		for range 2 {
			_, err := svc.Spreadsheets.Values.Append("small", "s!A1", &sheets.ValueRange{
				Values: [][]any{{"a", 1}, {"b", 2}},
			}).ValueInputOption("RAW").Context(ctx).Do()
			require.NoError(t, err)
		}
		got, _ := fake.Values("small", "s")
		require.Equal(t, [][]any{{"a", 1.0}, {"b", 2.0}, {"a", 1.0}, {"b", 2.0}}, got)
		require.Equal(t, int64(4), fake.Tabs("small")[0].Rows)
	})

	t.Run("InjectsFaultsWithRetryAfter", func(t *testing.T) {
		t.Parallel()
		fake, svc := setup(t)
		fake.Fail(sheetsfake.Fault{Method: http.MethodGet, Status: 429, RetryAfter: "3"})
		_, err := svc.Spreadsheets.Get("book").Context(ctx).Do()
		var gerr *googleapi.Error
		require.ErrorAs(t, err, &gerr)
		require.Equal(t, 429, gerr.Code)
		require.Equal(t, "3", gerr.Header.Get("Retry-After"))
		_, err = svc.Spreadsheets.Get("book").Context(ctx).Do()
		require.NoError(t, err)
		reqs := fake.Requests()
		require.Equal(t, []int{429, 200}, []int{reqs[0].Status, reqs[1].Status})
	})

	t.Run("AnswersNotFoundForAnUnknownSpreadsheet", func(t *testing.T) {
		t.Parallel()
		_, svc := setup(t)
		_, err := svc.Spreadsheets.Get("nope").Context(ctx).Do()
		code, _ := apiCode(t, err)
		require.Equal(t, http.StatusNotFound, code)
	})
}
