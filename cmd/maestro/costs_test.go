package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

func TestCosts(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	_, err = st.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "sales.orders", SQL: "SELECT 1", Owner: "ana@example.com"}, User: "t", Create: true})
	require.NoError(t, err)
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	nodes := []*run.Node{
		{RunID: "r1", Name: "sales.orders", Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1, Propagated: true,
			Stats: run.Stats{BytesBilled: 3 << 39, SlotMillis: 7_200_000}, StartedAt: at, FinishedAt: at}, // 1.5 TiB, 2 slot-hours
		{RunID: "r1", Name: "sales.daily", Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1, Propagated: true,
			Stats: run.Stats{BytesBilled: 1 << 38}, StartedAt: at, FinishedAt: at}, // 0.25 TiB
	}
	require.NoError(t, st.RunCreate(ctx, &run.Run{ID: "r1", State: run.RunRunning, CreatedAt: at}, nodes))
	require.NoError(t, st.RunFinish(ctx, &store.RunFinishParams{ID: "r1", State: run.RunSucceeded, FinishedAt: at}))

	require.NoError(t, st.UserPut(ctx, store.User{Email: "viewer@example.com", Role: "viewer"}))
	token, _, err := service.NewToken(ctx, st, "viewer@example.com", "test", time.Now())
	require.NoError(t, err)
	t.Setenv("MAESTRO_TOKEN", token)
	serve := func(p spec.Pricing) string {
		srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{Pricing: p}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	api := serve(spec.Pricing{Model: "on_demand", USDPerTiB: 6.25})
	out, errOut, code := execForTest(t, newCostsCmd(), "", "--api", api, "--by", "table")
	require.Equal(t, 0, code, errOut)
	// 1.5 TiB × $6.25 = $9.375; 0.25 TiB = $1.5625; together $10.9375.
	require.Regexp(t, regexp.MustCompile(`(?m)^\s*sales\.orders\s+1\s+1\s+1\.5000\s+2\.00\s+9\.38\s*$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s*sales\.daily\s+1\s+1\s+0\.2500\s+0\.00\s+1\.56\s*$`), out)
	require.Regexp(t, regexp.MustCompile(`(?m)^\s*TOTAL\s+10\.94\s*$`), out)
	require.Contains(t, out, "on_demand pricing")

	out, _, code = execForTest(t, newCostsCmd(), "", "--api", api, "--by", "owner")
	require.Equal(t, 0, code)
	require.Regexp(t, `ana@example\.com\s+1\s+1\s+1\.5000\s+2\.00\s+9\.38`, out)
	require.Regexp(t, `\(none\)\s+1\s+1\s+0\.2500`, out, "a table no longer defined has no owner")

	out, _, code = execForTest(t, newCostsCmd(), "", "--api", serve(spec.Pricing{}), "--by", "table")
	require.Equal(t, 0, code)
	require.Regexp(t, `sales\.orders\s+1\s+1\s+1\.5000\s+2\.00\s+unknown`, out)
	require.Contains(t, out, "no pricing configured: costs unknown")

	_, errOut, code = execForTest(t, newCostsCmd(), "", "--api", api, "--by", "colour")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, `not "colour"`)
}
