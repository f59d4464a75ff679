package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

// TestSavingATableAnswersItsEstimate: POST and PUT /tables answer the saved SQL's dry-run
// estimate (BigQuery's, here bqfake's), priced on demand, with a warning above the threshold;
// without on-demand pricing the bytes only; without a dry runner, none.
func TestSavingATableAnswersItsEstimate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake, err := bqfake.New(ctx, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(fake)
	t.Cleanup(func() { hs.Close(); fake.Close() })
	wh, err := bigquerywarehouse.Open(ctx, "shop", option.WithEndpoint(hs.URL), option.WithoutAuthentication())
	require.NoError(t, err)
	t.Cleanup(func() { wh.Close() })
	fake.Script(bqfake.Script{SQLContains: "big_scan", Stats: &bqfake.Stats{BytesProcessed: 2 * tib}})
	fake.Script(bqfake.Script{SQLContains: "small_scan", Stats: &bqfake.Stats{BytesProcessed: tib / 1024}})

	serve := func(pricing spec.Pricing, withDryRun bool) (string, string) {
		st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		sched := scheduler.New(st, nil, func(context.Context, []spec.Table) (scheduler.Graph, error) { return maestrotest.Graph{}, nil }, nil, zap.NewNop(), scheduler.Config{})
		cfg := service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw", Pricing: pricing}
		if withDryRun {
			cfg.DryRun = wh
		}
		srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), cfg))
		t.Cleanup(srv.Close)
		return srv.URL, userToken(t, st, "admin@acme.test", "admin", "")
	}
	save := func(base, token, method, path, etag string, tb spec.Table) map[string]any {
		body, err := json.Marshal(tb)
		require.NoError(t, err)
		req, err := http.NewRequest(method, base+"/api/v1"+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		if etag != "" {
			req.Header.Set("If-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Less(t, resp.StatusCode, 300, out)
		return out
	}

	base, tok := serve(spec.Pricing{Model: "on_demand", USDPerTiB: 6.25, EstimateWarnUSD: 5}, true)
	out := save(base, tok, http.MethodPost, "/tables", "", spec.Table{Name: "mart.big", SQL: "SELECT 1 AS big_scan"})
	est := out["estimate"].(map[string]any)
	require.Equal(t, float64(2*tib), est["bytes_processed"])
	require.Equal(t, 12.5, est["usd"], "2 TiB × $6.25")
	require.Contains(t, est["warning"], "mart.big: a run would process about 2.0 TiB, about $12.50 at on_demand pricing (more than the $5.00 warning threshold)")

	out = save(base, tok, http.MethodPut, "/tables/mart.big", `"1"`, spec.Table{SQL: "SELECT 1 AS small_scan"})
	est = out["estimate"].(map[string]any)
	require.Equal(t, float64(tib/1024), est["bytes_processed"])
	require.InDelta(t, 6.25/1024, est["usd"], 1e-12)
	require.NotContains(t, est, "warning", "under the threshold")

	// The editor's check dry-runs the unsaved draft, and saves nothing.
	out = save(base, tok, http.MethodPost, "/check?create=true", "", spec.Table{Name: "mart.draft", SQL: "SELECT 1 AS big_scan"})
	require.Equal(t, true, out["valid"], out)
	est = out["estimate"].(map[string]any)
	require.Equal(t, float64(2*tib), est["bytes_processed"])
	require.Contains(t, est["warning"], "mart.draft: a run would process about 2.0 TiB")

	base, tok = serve(spec.Pricing{Model: "editions", USDPerSlotHour: 0.06}, true)
	out = save(base, tok, http.MethodPost, "/tables", "", spec.Table{Name: "mart.big", SQL: "SELECT 1 AS big_scan"})
	est = out["estimate"].(map[string]any)
	require.Equal(t, float64(2*tib), est["bytes_processed"])
	require.Nil(t, est["usd"], "editions pricing cannot price a dry run")

	base, tok = serve(spec.Pricing{Model: "on_demand", USDPerTiB: 6.25}, false)
	out = save(base, tok, http.MethodPost, "/tables", "", spec.Table{Name: "mart.big", SQL: "SELECT 1 AS big_scan"})
	require.NotContains(t, out, "estimate", "no warehouse to dry-run with")
}
