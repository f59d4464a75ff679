package service_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// TestRunExports: a client learns where a run wrote a table's export files, whether each is
// there, and the URL to read it at; sheet exports, which have no file, are left out.
func TestRunExports(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	_, err := st.TablePut(ctx, &store.TablePutParams{User: "fixture", Create: true, Table: spec.Table{
		Name: "shop.daily", Kind: "query", SQL: "SELECT 1 AS day",
		Exports: []spec.Export{
			{Format: "csv", Path: "exports/{table}/{run}.csv", Header: true},
			{Sheet: &spec.SheetExport{SpreadsheetID: "sheet-1"}},
			{Format: "json", Path: "exports/{table}/{run}.json.gz", Gzip: true},
		}}})
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, st.RunCreate(ctx, &run.Run{ID: "r1", State: run.RunSucceeded, Trigger: run.TriggerManual, CreatedAt: now},
		[]*run.Node{{RunID: "r1", Name: "shop.daily", Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1}}))
	b, err := localblob.Open(filepath.Join(t.TempDir(), "objects"))
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	// Only the CSV was written; a file of another run shares the prefix and must not count.
	require.NoError(t, b.Write(ctx, "exports/shop.daily/r1.csv", strings.NewReader("day\n1\n")))
	require.NoError(t, b.Write(ctx, "exports/shop.daily/r1.json.gz.old", strings.NewReader("x")))

	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{
		External:  service.ExternalConfig{Bucket: b},
		ExportURL: func(_ context.Context, key string) (string, error) { return "file:///objects/" + key, nil },
	}))
	t.Cleanup(srv.Close)
	cl := client{t: t, base: srv.URL + service.APIPrefix, token: userToken(t, st, "v@example.com", "viewer", "")}

	code, _, out := cl.do("GET", "/runs/r1/tables/SHOP.daily/exports", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, map[string]any{"run_id": "r1", "table": "shop.daily", "state": "succeeded", "exports": []any{
		map[string]any{"index": 1.0, "format": "csv", "header": true, "key": "exports/shop.daily/r1.csv",
			"exists": true, "url": "file:///objects/exports/shop.daily/r1.csv"},
		map[string]any{"index": 3.0, "format": "json", "gzip": true, "key": "exports/shop.daily/r1.json.gz",
			"exists": false, "url": "file:///objects/exports/shop.daily/r1.json.gz"},
	}}, out)

	code, _, out = cl.do("GET", "/runs/r1/tables/shop.other/exports", nil)
	require.Equal(t, http.StatusNotFound, code, out)
	require.Contains(t, out["detail"], `run "r1" has no table "shop.other"`)
	code, _, _ = cl.do("GET", "/runs/nope/tables/shop.daily/exports", nil)
	require.Equal(t, http.StatusNotFound, code)
}
