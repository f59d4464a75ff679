package sqlitestore

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQueryPlansUseIndexes guards the writes behind live runs, and the moves of runs that are
// over, against full scans: each must be answered from an index, whatever the size of a run.
func TestQueryPlansUseIndexes(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "maestro.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })

	for _, q := range []string{
		journalTrim,
		runWrite,
		propagateUnlock,
		propagateSkip,
		runUnfinished,
	} {
		var args []any
		for range strings.Count(q, "?") {
			args = append(args, 1)
		}
		rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var id, parent, notUsed int
			var detail string
			require.NoError(t, rows.Scan(&id, &parent, &notUsed, &detail))
			plan = append(plan, detail)
		}
		require.NoError(t, rows.Close())
		joined := strings.Join(plan, "; ")
		t.Logf("%s\n  -> %s", q, joined)
		for _, step := range plan {
			// Scanning a partial index is fine: it holds only the nodes in flight.
			if strings.HasPrefix(step, "SCAN") && !strings.Contains(step, "INDEX") && step != "SCAN CONSTANT ROW" {
				t.Errorf("%s\n  scans a whole table: %s", q, joined)
			}
		}
		require.NotContains(t, joined, "PRIMARY KEY (run_id=?)", "walks a whole run: %s", q)
	}
}
