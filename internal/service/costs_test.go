package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"google.golang.org/api/option"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/bqfake"
)

const tib = int64(1) << 40

func costStore(t *testing.T) *sqlitestore.Store {
	ctx := t.Context()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	for name, owner := range map[string]string{"sales.orders": "ana@acme.test", "sales.daily": "bob@acme.test"} {
		_, err := st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: name, SQL: "SELECT 1", Owner: owner}, User: "t", Create: true})
		require.NoError(t, err)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48 * time.Hour)
	add := func(id string, at time.Time, stats map[string]run.Stats) {
		r := &run.Run{ID: id, State: run.RunRunning, CreatedAt: at}
		var nodes []*run.Node
		for name, s := range stats {
			nodes = append(nodes, &run.Node{RunID: id, Name: name, Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1,
				Propagated: true, Stats: s, StartedAt: at, FinishedAt: at.Add(time.Minute)})
		}
		require.NoError(t, st.RunCreate(ctx, r, nodes))
		require.NoError(t, st.RunFinish(ctx, &store.RunFinishParams{ID: id, State: run.RunSucceeded, FinishedAt: at.Add(time.Minute)}))
	}
	add("r1", day.Add(6*time.Hour), map[string]run.Stats{
		"sales.orders": {BytesBilled: tib, SlotMillis: 3_600_000},
		"sales.daily":  {BytesBilled: tib / 4, SlotMillis: 900_000},
	})
	add("r2", day.Add(30*time.Hour), map[string]run.Stats{"sales.orders": {BytesBilled: tib / 2, SlotMillis: 1_800_000}})
	add("r0", day.Add(-60*24*time.Hour), map[string]run.Stats{"sales.orders": {BytesBilled: 100 * tib}}) // older than 30 days
	return st
}

func getCosts(t *testing.T, srv *httptest.Server, token, query string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/costs?"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

func rowsOf(out map[string]any) map[string]any {
	m := map[string]any{}
	for _, r := range out["rows"].([]any) {
		row := r.(map[string]any)
		m[row["key"].(string)] = row["usd"]
	}
	return m
}

func TestCosts(t *testing.T) {
	t.Parallel()
	st := costStore(t)
	tok := userToken(t, st, "viewer@acme.test", "viewer", "")
	serve := func(p spec.Pricing) *httptest.Server {
		srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{Pricing: p}))
		t.Cleanup(srv.Close)
		return srv
	}
	onDemand := serve(spec.Pricing{Model: "on_demand", USDPerTiB: 6.25})
	code, out := getCosts(t, onDemand, tok, "by=table")
	require.Equal(t, http.StatusOK, code, out)
	// orders: 1.5 TiB × 6.25 = 9.375; daily: 0.25 TiB × 6.25 = 1.5625. r0 is older than 30 days.
	require.Equal(t, map[string]any{"sales.orders": 9.375, "sales.daily": 1.5625}, rowsOf(out))
	require.Equal(t, 10.9375, out["total_usd"])
	_, out = getCosts(t, onDemand, tok, "by=owner")
	require.Equal(t, map[string]any{"ana@acme.test": 9.375, "bob@acme.test": 1.5625}, rowsOf(out))
	_, out = getCosts(t, onDemand, tok, "by=day")
	require.Len(t, out["rows"], 2, "two days")
	_, out = getCosts(t, onDemand, tok, "by=table&since=100d")
	require.Equal(t, 635.9375, out["total_usd"], "with r0's 100 TiB: 625 more")

	editions := serve(spec.Pricing{Model: "editions", USDPerSlotHour: 0.06})
	_, out = getCosts(t, editions, tok, "by=table")
	// orders: 1.5 slot-hours × 0.06 = 0.09; daily: 0.25 h = 0.015.
	rows := rowsOf(out)
	require.InDelta(t, 0.09, rows["sales.orders"], 1e-12)
	require.InDelta(t, 0.015, rows["sales.daily"], 1e-12)

	unknown := serve(spec.Pricing{})
	_, out = getCosts(t, unknown, tok, "by=table")
	require.Equal(t, map[string]any{"sales.orders": nil, "sales.daily": nil}, rowsOf(out), "no pricing: unknown, not zero")
	require.Nil(t, out["total_usd"])

	code, out = getCosts(t, onDemand, tok, "by=colour")
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, out["detail"], `not "colour"`)
	code, _ = getCosts(t, onDemand, tok, "since=yesterday")
	require.Equal(t, http.StatusBadRequest, code)
}

// TestPushWarnsAboutCostlyTables: a pushed table whose dry run (BigQuery's, here bqfake's)
// estimates more than the threshold is named in the answer; cheap ones and imports are not.
func TestPushWarnsAboutCostlyTables(t *testing.T) {
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

	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	sched := scheduler.New(st, nil, func(context.Context, []spec.Table) (scheduler.Graph, error) { return maestrotest.Graph{}, nil }, nil, zap.NewNop(), scheduler.Config{})
	admin := userToken(t, st, "admin@acme.test", "admin", "")
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw",
		Pricing: spec.Pricing{Model: "on_demand", USDPerTiB: 6.25, EstimateWarnUSD: 5}, DryRun: wh}))
	t.Cleanup(srv.Close)

	push := func(p spec.Project) map[string]any {
		body, err := json.Marshal(p)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPut, srv.URL+"/api/v1/project", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.Equal(t, http.StatusOK, resp.StatusCode, out)
		return out
	}
	p := spec.Project{Tables: []spec.Table{
		{Name: "mart.big", SQL: "SELECT 1 AS big_scan", Kind: "query"},
		{Name: "mart.small", SQL: "SELECT 2 AS a", Kind: "query"},
	}}
	out := push(p)
	warnings := out["warnings"].([]any)
	require.Len(t, warnings, 1)
	w := warnings[0].(map[string]any)
	require.Equal(t, "mart.big", w["table"])
	require.Equal(t, 12.5, w["usd"], "2 TiB × $6.25")
	require.Contains(t, w["message"], "about 2.0 TiB, about $12.50 at on_demand pricing (more than the $5.00 warning threshold)")

	out = push(p)
	require.Nil(t, out["warnings"], "unchanged tables are not estimated again")
}
