package cloud_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/cloud"
	"github.com/maestro-sql/maestro/internal/queue/pubsubqueue"
)

// BenchmarkServiceStart measures each production binary as Cloud Run runs it: its size, and the
// time from exec to its health endpoint answering, on the emulators.
//
//	go test -run '^$' -bench ServiceStart ./internal/cloud
func BenchmarkServiceStart(b *testing.B) {
	requireEmulators(b)
	bin := buildServices(b)
	const project = "maestro-start"
	q, err := pubsubqueue.Open(context.Background(), project)
	require.NoError(b, err)
	require.NoError(b, cloud.CreateTopics(context.Background(), q))
	require.NoError(b, q.Close())
	env := []string{
		"MAESTRO_PROJECT=" + project,
		"FIRESTORE_EMULATOR_HOST=" + emulators.firestore.Host,
		"PUBSUB_EMULATOR_HOST=" + emulators.pubsub.Host,
		"MAESTRO_BIGQUERY_ENDPOINT=http://127.0.0.1:1",
		"MAESTRO_INSECURE_SKIP_AUTH=true",
		"K_SERVICE=",
	}
	for _, name := range []string{"scheduler", "worker", "api"} {
		b.Run(name, func(b *testing.B) {
			info, err := os.Stat(filepath.Join(bin, name))
			require.NoError(b, err)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				s, ready := start(b, bin, name, env)
				total += ready
				s.stop(b)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
			b.ReportMetric(float64(info.Size())/1e6, "MB")
			b.ReportMetric(0, "ns/op")
		})
	}
}
