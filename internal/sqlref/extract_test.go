package sqlref

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExtract(t *testing.T) {
	t.Parallel()

	t.Run("ReferencesSpanWholePathsForRewriting", func(t *testing.T) {
		t.Parallel()
		sql := "INSERT INTO `p`.ds.out\nSELECT * FROM my-proj-1.ds.t AS t JOIN `p.d.u` USING (id), t.items"
		res, err := Extract(sql, Options{})
		require.NoError(t, err)
		require.Len(t, res.References, 3)
		var spans []string
		for _, r := range res.References {
			spans = append(spans, sql[r.Start:r.End])
		}
		require.Equal(t, []string{"`p`.ds.out", "my-proj-1.ds.t", "`p.d.u`"}, spans)
		require.True(t, res.References[0].Write)
		require.False(t, res.References[1].Write)
		require.Equal(t, TableName{Project: "my-proj-1", Dataset: "ds", Table: "t"}, res.References[1].Name)
	})

	t.Run("DashedProjectWithNumberPartBeforeDot", func(t *testing.T) {
		t.Parallel()
		res, err := Extract("SELECT a-b, x - 1 FROM proj-123.ds.t, region-eu.INFORMATION_SCHEMA.JOBS", Options{})
		require.NoError(t, err)
		require.Equal(t, []TableName{
			{Dataset: "region-eu", Table: "information_schema.jobs"},
			{Project: "proj-123", Dataset: "ds", Table: "t"},
		}, res.Reads)
	})

	t.Run("DashedNamesWhoseDigitsLexAsNumbers", func(t *testing.T) {
		t.Parallel()
		res, err := Extract("SELECT * FROM proj-2.e5x.t2, my-proj-2.e2e_tests.t3 AS x, x-y.`ds`.t, a-b.c.d_*", Options{})
		require.NoError(t, err)
		require.Equal(t, []TableName{
			{Project: "a-b", Dataset: "c", Table: "d_*"},
			{Project: "my-proj-2", Dataset: "e2e_tests", Table: "t3"},
			{Project: "proj-2", Dataset: "e5x", Table: "t2"},
			{Project: "x-y", Dataset: "ds", Table: "t"},
		}, res.Reads)
	})

	t.Run("SetDatasetIDResolvesLaterBareNames", func(t *testing.T) {
		t.Parallel()
		res, err := Extract("SELECT * FROM a;\nSET @@dataset_project_id = 'proj';\nSET @@dataset_id = 'sales';\nSELECT * FROM b JOIN other.c USING (id)", Options{DefaultProject: "p", DefaultDataset: "d"})
		require.NoError(t, err)
		require.Equal(t, []TableName{{Project: "p", Dataset: "d", Table: "a"}, {Project: "p", Dataset: "other", Table: "c"}, {Project: "proj", Dataset: "sales", Table: "b"}}, res.Reads)
	})

	t.Run("KeywordLikeAliasesWithoutAS", func(t *testing.T) {
		t.Parallel()
		res, err := Extract("SELECT * FROM ds.t data, data.items JOIN ds.u value ON TRUE, value.arr;\nMERGE ds.m target USING ds.s source ON target.id = source.id WHEN MATCHED THEN DELETE", Options{})
		require.NoError(t, err)
		require.Equal(t, []TableName{{Dataset: "ds", Table: "s"}, {Dataset: "ds", Table: "t"}, {Dataset: "ds", Table: "u"}}, res.Reads)
		require.Equal(t, []TableName{{Dataset: "ds", Table: "m"}}, res.Writes)
	})

	t.Run("ExtractorReuseDoesNotLeakState", func(t *testing.T) {
		t.Parallel()
		var x Extractor
		_, err := x.Extract("CREATE TEMP TABLE t AS SELECT 1; WITH c AS (SELECT 1) SELECT * FROM c", Options{})
		require.NoError(t, err)
		res, err := x.Extract("SELECT * FROM t JOIN c USING (id)", Options{DefaultDataset: "d"})
		require.NoError(t, err)
		require.Equal(t, []TableName{{Dataset: "d", Table: "c"}, {Dataset: "d", Table: "t"}}, res.Reads)
	})

	t.Run("UnknownStatementNamesItsPosition", func(t *testing.T) {
		t.Parallel()
		_, err := Extract("SELECT 1;\n  VACUUM ds.t;", Options{})
		var se *Error
		require.True(t, errors.As(err, &se), "%v", err)
		require.Equal(t, 2, se.Line)
		require.Equal(t, 3, se.Column)
		require.Contains(t, err.Error(), "VACUUM")
	})

	t.Run("LexErrorsSurface", func(t *testing.T) {
		t.Parallel()
		_, err := Extract("SELECT 1;\nSELECT 'oops FROM t", Options{})
		require.ErrorContains(t, err, "line 2, column 8")
	})

	t.Run("KeywordLikeColumnsAndTypesAreNotTables", func(t *testing.T) {
		t.Parallel()
		res, err := Extract("SELECT table, COALESCE(table, 'x'), CAST(s AS STRUCT<a INT64, table STRING, b INT64>) FROM ds.t WHERE date > '2020-01-01'", Options{})
		require.NoError(t, err)
		require.Equal(t, []TableName{{Dataset: "ds", Table: "t"}}, res.Reads)
	})
}

func TestExtractDeepNestingFailsCleanly(t *testing.T) {
	t.Parallel()
	deep := "SELECT " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000)
	_, err := Extract(deep, Options{})
	require.ErrorContains(t, err, "nests more than")
	start := time.Now()
	_, err = Extract(strings.Repeat("(", 200000), Options{})
	require.Error(t, err)
	require.Less(t, time.Since(start), 2*time.Second, "a run of '(' must not take quadratic time")
	res, err := Extract("SELECT "+strings.Repeat("(", 50)+"SELECT 1 FROM ds.t"+strings.Repeat(")", 50), Options{})
	require.NoError(t, err)
	require.Equal(t, []TableName{{Dataset: "ds", Table: "t"}}, res.Reads)
}
