package duckdbwarehouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// TestQuickstartExampleRuns runs every table of examples/quickstart, written for BigQuery, in an
// order found by retrying tables whose inputs do not exist yet.
func TestQuickstartExampleRuns(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "..", "examples", "quickstart")
	files, err := filepath.Glob(filepath.Join(root, "*", "*.sql"))
	require.NoError(t, err)
	if len(files) == 0 {
		t.Skip("examples/quickstart has no SQL files")
	}
	w, err := Open(context.Background(), "", nil)
	require.NoError(t, err)
	defer w.Close()

	pending := files
	for pass := 1; len(pending) > 0; pass++ {
		var later []string
		for _, f := range pending {
			sql, err := os.ReadFile(f)
			require.NoError(t, err)
			dest := sqlref.TableName{Project: "quickstart", Dataset: filepath.Base(filepath.Dir(f)),
				Table: strings.TrimSuffix(filepath.Base(f), ".sql")}
			stats, err := w.Query(context.Background(), &warehouse.QueryJob{
				JobID: fmt.Sprintf("%s_%s_%d", dest.Dataset, dest.Table, pass), SQL: string(sql),
				Destination: dest, DefaultProject: "quickstart", DefaultDataset: "raw",
			})
			var je *warehouse.JobError
			if errors.As(err, &je) && je.Reason == "notFound" {
				later = append(later, f)
				continue
			}
			require.NoError(t, err, "%s", f)
			require.Positive(t, stats.Rows, "%s wrote rows", f)
		}
		require.Less(t, len(later), len(pending), "no table could run; inputs missing for %v", later)
		pending = later
	}
}
