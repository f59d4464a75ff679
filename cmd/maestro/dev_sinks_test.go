package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/export/sheets"
	"github.com/maestro-sql/maestro/internal/export/sheets/sheetsfake"
	"github.com/maestro-sql/maestro/internal/exporter"
	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// sinksPGDSN is PostgreSQL on this machine (trust auth, database test); PGEXPORT_TEST_DSN
// overrides it, as for internal/export/pgexport.
func sinksPGDSN() string {
	if dsn := os.Getenv("PGEXPORT_TEST_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// TestDevExportsToPostgresAndASheetAndRecordsDeliveries: one table exported to a PostgreSQL
// table and to a new tab of a spreadsheet (sheetsfake, reached through MAESTRO_SHEETS_ENDPOINT);
// the sheet export's callback answers 500 and then 200, and the API lists both attempts.
func TestDevExportsToPostgresAndASheetAndRecordsDeliveries(t *testing.T) {
	ctx := context.Background()
	pg, err := pgx.Connect(ctx, sinksPGDSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI: %v", err)
		}
		t.Skip("PostgreSQL is not reachable:", err)
	}
	defer pg.Close(ctx)
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	schema := "sinks_" + hex.EncodeToString(rb[:])
	_, err = pg.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	defer func() { _, _ = pg.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") }()

	fake := sheetsfake.New()
	fake.AddSpreadsheet("1SalesBook_abcdefgh", sheetsfake.Tab{Title: "Notes"})
	sheetsSrv := httptest.NewServer(fake)
	defer sheetsSrv.Close()
	t.Setenv("MAESTRO_SHEETS_ENDPOINT", sheetsSrv.URL+"/")
	t.Setenv("MAESTRO_TEST_PG_DSN", sinksPGDSN())
	t.Setenv("MAESTRO_TEST_HOOK_KEY", "hook-key")

	var mu sync.Mutex
	var bodies [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, body)
		if len(bodies) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer hook.Close()

	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml": "default_project: shop\ndefault_dataset: marts\ndefault_schedule: daily\n" +
			"schedules:\n  - name: daily\n    cron: \"0 6 * * *\"\n" +
			"connections:\n  - name: crm\n    driver: postgres\n    secret: env:MAESTRO_TEST_PG_DSN\n",
		"marts/daily.sql": "SELECT 1 AS id, 'a,b' AS name, 2.5e0 AS price, TRUE AS ok, DATE '2026-11-25' AS day, " +
			"TIMESTAMP '2026-11-25 06:30:00' AS at UNION ALL SELECT 2, '', NULL, FALSE, NULL, NULL " +
			"UNION ALL SELECT 3, NULL, -0.125e0, NULL, DATE '2020-02-29', TIMESTAMP '2020-02-29 23:59:59.5'",
		"marts/daily.yaml": "exports:\n" +
			"  - postgres: {connection: crm, table: " + schema + ".Daily}\n" +
			"  - sheet: {spreadsheet_id: 1SalesBook_abcdefgh, keep_tabs: 3}\n" +
			"    callback: {url: \"" + hook.URL + "/sheet?token=abc\", secret: env:MAESTRO_TEST_HOOK_KEY}\n",
	})
	state := filepath.Join(t.TempDir(), "state")
	var out, logs bytes.Buffer
	require.NoError(t, runDev(ctx, project, devFlags{once: true, stateDir: state, logFormat: "json"}, &out, &logs), logs.String())
	require.Regexp(t, `marts\.daily\s+succeeded`, out.String(), logs.String())

	// PostgreSQL holds the same rows, NULL apart from the empty string.
	rows, err := pg.Query(ctx, `SELECT id, name, price, ok, day::text, at::text FROM `+schema+`."Daily" ORDER BY id`)
	require.NoError(t, err)
	type row struct {
		ID      int64
		Name    *string
		Price   *float64
		OK      *bool
		Day, At *string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	s := func(v string) *string { return &v }
	f := func(v float64) *float64 { return &v }
	b := func(v bool) *bool { return &v }
	require.Equal(t, []row{
		{1, s("a,b"), f(2.5), b(true), s("2026-11-25"), s("2026-11-25 06:30:00+00")},
		{2, s(""), nil, b(false), nil, nil},
		{3, nil, f(-0.125), nil, s("2020-02-29"), s("2020-02-29 23:59:59.5+00")},
	}, got)

	// The sheet: exactly these requests, the header and rows in one write.
	st, err := sqlitestore.Open(ctx, filepath.Join(state, "maestro.db"))
	require.NoError(t, err)
	defer st.Close()
	runs, err := st.RunList(ctx, &store.RunListParams{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	runID := runs[0].ID
	title := sheets.TabTitle(runs[0].CreatedAt)
	reqs := fake.Requests()
	var calls []string
	for _, r := range reqs {
		calls = append(calls, r.String())
	}
	rng := "'" + title + "'!A1:F4"
	escRange := strings.ReplaceAll(url.PathEscape(rng), ":", "%3A")
	require.Equal(t, []string{
		"GET /v4/spreadsheets/1SalesBook_abcdefgh",
		"POST /v4/spreadsheets/1SalesBook_abcdefgh:batchUpdate",
		"PUT /v4/spreadsheets/1SalesBook_abcdefgh/values/" + escRange,
	}, calls)
	require.Equal(t, "RAW", reqs[2].Query.Get("valueInputOption"))
	require.JSONEq(t, `{"range": "`+rng+`", "majorDimension": "ROWS", "values": [
		["id", "name", "price", "ok", "day", "at"],
		[1, "a,b", 2.5, true, "2026-11-25", "2026-11-25T06:30:00Z"],
		[2, "", "", false, "", ""],
		[3, "", -0.125, "", "2020-02-29", "2020-02-29T23:59:59.5Z"]
	]}`, string(reqs[2].Body))
	var batch struct {
		Requests []struct {
			AddSheet *struct {
				Properties struct {
					SheetID        int64  `json:"sheetId"`
					Title          string `json:"title"`
					GridProperties struct {
						RowCount, ColumnCount, FrozenRowCount int64
					} `json:"gridProperties"`
				} `json:"properties"`
			} `json:"addSheet"`
		} `json:"requests"`
	}
	require.NoError(t, json.Unmarshal(reqs[1].Body, &batch))
	require.NotNil(t, batch.Requests[0].AddSheet)
	added := batch.Requests[0].AddSheet.Properties
	require.Equal(t, title, added.Title)
	require.Equal(t, [3]int64{4, 6, 1}, [3]int64{added.GridProperties.RowCount, added.GridProperties.ColumnCount,
		added.GridProperties.FrozenRowCount})

	// The callback named the tab, and its attempts are listed by the API.
	mu.Lock()
	require.Len(t, bodies, 2, "the 500 was retried once")
	var p callback.Payload
	require.NoError(t, json.Unmarshal(bodies[1], &p))
	mu.Unlock()
	require.Equal(t, []callback.File{{URL: exporter.SheetURL("1SalesBook_abcdefgh", added.SheetID)}}, p.Files)
	require.EqualValues(t, 3, p.RowCount)

	api := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	defer api.Close()
	token, err := ensureDevToken(ctx, st, state, io.Discard)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodGet, api.URL+"/api/v1/runs/"+runID+"/deliveries", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var listed struct {
		Deliveries []struct {
			RunID      string    `json:"run_id"`
			Table      string    `json:"table"`
			DeliveryID string    `json:"delivery_id"`
			URL        string    `json:"url"`
			Attempt    int       `json:"attempt"`
			StartedAt  time.Time `json:"started_at"`
			StatusCode int       `json:"status_code"`
			Error      string    `json:"error"`
		} `json:"deliveries"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&listed))
	require.Len(t, listed.Deliveries, 2)
	for i, d := range listed.Deliveries {
		require.Equal(t, runID, d.RunID)
		require.Equal(t, "marts.daily", d.Table)
		require.Equal(t, p.ID, d.DeliveryID)
		require.Equal(t, hook.URL+"/sheet", d.URL, "the query string (a token) is not kept")
		require.Equal(t, i+1, d.Attempt)
		require.False(t, d.StartedAt.IsZero())
	}
	require.Equal(t, 500, listed.Deliveries[0].StatusCode)
	require.Equal(t, "callback answered 500 Internal Server Error", listed.Deliveries[0].Error)
	require.Equal(t, 200, listed.Deliveries[1].StatusCode)
	require.Empty(t, listed.Deliveries[1].Error)

	// The intermediate rows were removed once written.
	left, err := filepath.Glob(filepath.Join(state, "objects", "_maestro", "exports", runID, "*", "*"))
	require.NoError(t, err)
	require.Empty(t, left)
}
