package service_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// BenchmarkListTables lists 1,000 stored tables through the API (authenticated, over loopback
// HTTP, SQLite store), a page of 100 and all at once.
func BenchmarkListTables(b *testing.B) {
	st := openStore(b)
	for i := range 1000 {
		_, err := st.TablePut(b.Context(), &store.TablePutParams{Create: true, User: "bench",
			Table: spec.Table{Name: fmt.Sprintf("ds.t%04d", i), Kind: "query", Group: "g", SQL: fmt.Sprintf("SELECT %d AS x FROM ds.src", i)}})
		require.NoError(b, err)
	}
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	b.Cleanup(srv.Close)
	token := userToken(b, st, "v@example.com", "viewer", "")
	// Many clients at once: what a load test sees (the cache shared between requests).
	b.Run("limit=100/parallel", func(b *testing.B) {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			req, err := http.NewRequest("GET", srv.URL+"/api/v1/tables?limit=100&dataset=ds", nil)
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+token)
			for pb.Next() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	})
	for _, limit := range []int{100, 1000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/tables?limit=%d", srv.URL, limit), nil)
			require.NoError(b, err)
			req.Header.Set("Authorization", "Bearer "+token)
			for b.Loop() {
				resp, err := http.DefaultClient.Do(req)
				require.NoError(b, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.Equal(b, http.StatusOK, resp.StatusCode)
			}
		})
	}
}
