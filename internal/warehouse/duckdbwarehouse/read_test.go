package duckdbwarehouse_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

func TestRead(t *testing.T) {
	ctx := context.Background()
	w, err := duckdbwarehouse.Open(ctx, "", &duckdbwarehouse.Options{DefaultProject: "p"})
	require.NoError(t, err)
	defer w.Close()
	_, err = w.Query(ctx, &warehouse.QueryJob{JobID: "seed", SQL: "SELECT x, x * 2 AS y FROM UNNEST(GENERATE_ARRAY(1, 5)) AS x",
		Destination: sqlref.TableName{Project: "p", Dataset: "ds", Table: "t"}, Disposition: spec.DispositionTruncate})
	require.NoError(t, err)
	opts := sqlref.Options{DefaultProject: "p", DefaultDataset: "ds"}

	rows, err := w.Read(ctx, "SELECT x, y FROM `p.ds.t` WHERE x > 1 ORDER BY x", opts, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y"}, rows.Columns)
	require.Len(t, rows.Values, 2)
	require.True(t, rows.Truncated, "four rows match, two were asked for")
	require.EqualValues(t, 2, rows.Values[0][0])

	rows, err = w.Read(ctx, "SELECT COUNT(*) AS n FROM t", opts, 10)
	require.NoError(t, err, "a bare name resolves against the defaults")
	require.EqualValues(t, 5, rows.Values[0][0])

	_, err = w.Read(ctx, "DELETE FROM ds.t WHERE TRUE", opts, 10)
	require.ErrorContains(t, err, "only reads")
	rows, err = w.Read(ctx, "SELECT COUNT(*) FROM ds.t", opts, 10)
	require.NoError(t, err)
	require.EqualValues(t, 5, rows.Values[0][0], "nothing was deleted")
}
