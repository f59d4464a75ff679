package webui_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// BenchmarkUIPages measures the graph and run pages' server time at scale (SQLite store,
// loopback HTTP, token check): the graph of 2,000 tables in 40 datasets (collapsed, and with
// a dataset opened), the run page and its live part for a run of 2,000 tables, and the list
// of runs. The quickstart's figures come from the end-to-end test's Server-Timing.
func BenchmarkUIPages(b *testing.B) {
	st, err := sqlitestore.Open(b.Context(), filepath.Join(b.TempDir(), "m.db"))
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	tables := map[string][]string{}
	var nodes []*run.Node
	t0 := time.Now().Add(-time.Hour)
	for d := range 40 {
		for i := range 50 {
			name := fmt.Sprintf("ds%02d.t%03d", d, i)
			var reads []string
			if d >= 8 {
				reads = []string{fmt.Sprintf("ds%02d.t%03d", (d/8-1)*8+(d+i)%8, (i*13+d)%50), fmt.Sprintf("ds%02d.t%03d", (d/8-1)*8+(d*3+i)%8, (i*7+1)%50)}
			}
			tables[name] = reads
			nodes = append(nodes, &run.Node{RunID: "big", Name: name, Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1,
				Upstream: reads, Propagated: true, StartedAt: t0.Add(time.Duration(d/8) * time.Minute), FinishedAt: t0.Add(time.Duration(d/8)*time.Minute + 50*time.Second)})
		}
	}
	storeTables(b, st, tables)
	require.NoError(b, st.RunCreate(b.Context(), &run.Run{ID: "big", State: run.RunRunning, CreatedAt: t0}, nodes))
	require.NoError(b, st.RunFinish(b.Context(), &store.RunFinishParams{ID: "big", State: run.RunSucceeded, FinishedAt: t0.Add(5 * time.Minute)}))
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	b.Cleanup(srv.Close)
	tok := benchToken(b, st)
	for _, path := range []string{"/graph", "/graph?expand=ds09", "/graph?table=ds20.t010&depth=2", "/runs/big", "/runs/big/live", "/runs"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				status, _, body := getPage(b, srv, tok, path)
				if status != http.StatusOK {
					b.Fatalf("%s: %d %s", path, status, body)
				}
			}
		})
	}
}

// benchToken is a viewer's token (token() takes a *testing.T).
func benchToken(b *testing.B, st store.Store) string {
	require.NoError(b, st.UserPut(b.Context(), store.User{Email: "v@example.com", Role: "viewer"}))
	raw, _, err := service.NewToken(b.Context(), st, "v@example.com", "bench", time.Now())
	require.NoError(b, err)
	return raw
}
