package duckdbwarehouse

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

func TestTranslate(t *testing.T) {
	t.Parallel()
	opts := sqlref.Options{DefaultProject: "proj", DefaultDataset: "ds"}
	events := func(n sqlref.TableName) ([]sqlref.TableName, error) {
		return []sqlref.TableName{
			{Project: n.Project, Dataset: n.Dataset, Table: "events_20240101"},
			{Project: n.Project, Dataset: n.Dataset, Table: "events_20240102"},
		}, nil
	}
	for _, c := range []struct{ name, in, want string }{
		{"BacktickedPathBecomesQuotedSchemaAndTable",
			"SELECT `order id` FROM `proj.ds.orders`",
			`SELECT "order id" FROM "proj.ds"."orders"`},
		{"SplitBacktickedPath",
			"SELECT * FROM `proj`.`ds`.orders JOIN `proj.ds`.items USING (id)",
			`SELECT * FROM "proj.ds"."orders" JOIN "proj.ds"."items" USING (id)`},
		{"DashedProject",
			"SELECT * FROM my-proj-123.sales.orders",
			`SELECT * FROM "my-proj-123.sales"."orders"`},
		{"PartialPathsUseDefaults",
			"SELECT * FROM sales.orders o, orders",
			`SELECT * FROM "proj.sales"."orders" o, "proj.ds"."orders"`},
		{"PathsInStringsAndCommentsUntouched",
			"SELECT 'ds.orders' AS a, \"p.ds.t\" AS b -- FROM ds.orders\nFROM ds.orders /* ds.x */",
			"SELECT 'ds.orders' AS a, 'p.ds.t' AS b -- FROM ds.orders\nFROM \"proj.ds\".\"orders\" /* ds.x */"},
		{"HashCommentBecomesDashComment",
			"SELECT 1 # one\n# two\nFROM ds.t",
			"SELECT 1 -- one\n-- two\nFROM \"proj.ds\".\"t\""},
		{"CTENamesUntouched",
			"WITH orders AS (SELECT * FROM ds.orders WHERE x > 0), `recent` AS (SELECT * FROM orders)\nSELECT * FROM recent JOIN orders USING (id)",
			"WITH orders AS (SELECT * FROM \"proj.ds\".\"orders\" WHERE x > 0), \"recent\" AS (SELECT * FROM orders)\nSELECT * FROM recent JOIN orders USING (id)"},
		{"WildcardTableBecomesUnionWithSuffix",
			"SELECT count(*) FROM `proj.ds.events_*` WHERE _TABLE_SUFFIX >= '20240102'",
			`SELECT count(*) FROM (SELECT *, '20240101' AS _TABLE_SUFFIX FROM "proj.ds"."events_20240101" UNION ALL BY NAME SELECT *, '20240102' AS _TABLE_SUFFIX FROM "proj.ds"."events_20240102") WHERE _TABLE_SUFFIX >= '20240102'`},
		{"StringLiterals",
			`SELECT "it's", 'a\'b', r"\d+", '''x'y''', "\x41\n"`,
			"SELECT 'it''s', 'a''b', '\\d+', 'x''y', 'A\n'"},
		{"BytesLiteral",
			`SELECT b'a\x00'`,
			`SELECT 'a\x00'::BLOB`},
		{"FloatLiteralsAreDoubles",
			"SELECT 1.5, 2, 1e3, .5",
			"SELECT CAST(1.5 AS DOUBLE), 2, CAST(1e3 AS DOUBLE), CAST(.5 AS DOUBLE)"},
		{"SafeCastAndTypes",
			"SELECT SAFE_CAST(x AS INT64), CAST(y AS STRING), CAST(z AS NUMERIC), CAST(a AS ARRAY<FLOAT64>)",
			"SELECT TRY_CAST(x AS BIGINT), CAST(y AS VARCHAR), CAST(z AS DECIMAL(38, 9)), CAST(a AS DOUBLE[])"},
		{"CastOfCaseExpression",
			"SELECT CAST(CASE WHEN a THEN 1 ELSE 2 END AS STRING)",
			"SELECT CAST(CASE WHEN a THEN 1 ELSE 2 END AS VARCHAR)"},
		{"DateTruncArgumentOrder",
			"SELECT DATE_TRUNC(order_date, MONTH), TIMESTAMP_TRUNC(ts, HOUR)",
			"SELECT CAST(date_trunc('month', order_date) AS DATE), date_trunc('hour', ts)"},
		{"DateDiffArgumentOrder",
			"SELECT DATE_DIFF(CURRENT_DATE(), signup_date, DAY)",
			"SELECT date_diff('day', signup_date, CURRENT_DATE())"},
		{"DateAddAndSub",
			"SELECT DATE_SUB(d, INTERVAL 7 DAY), TIMESTAMP_ADD(ts, INTERVAL 1 HOUR)",
			"SELECT CAST(d - INTERVAL 7 DAY AS DATE), (ts + INTERVAL 1 HOUR)"},
		{"NestedCallsTranslateInside",
			"SELECT SAFE_DIVIDE(COUNTIF(`status` = \"done\"), DATE_DIFF(a, b, DAY)) FROM ds.t",
			"SELECT SAFE_DIVIDE(COUNTIF(\"status\" = 'done'), date_diff('day', b, a)) FROM \"proj.ds\".\"t\""},
		{"SubqueryInsideCall",
			"SELECT SAFE_DIVIDE(1, (SELECT count(*) FROM ds.t))",
			"SELECT SAFE_DIVIDE(1, (SELECT count(*) FROM \"proj.ds\".\"t\"))"},
		{"DateConstructors",
			"SELECT DATE(ts), DATE(2024, 1, 31), TIMESTAMP(s), DATE '2024-01-01'",
			"SELECT CAST(ts AS DATE), make_date(2024, 1, 31), CAST(s AS TIMESTAMPTZ), DATE '2024-01-01'"},
		{"GenerateArrayAndFormat",
			"SELECT GENERATE_ARRAY(1, 5), FORMAT('%d items', n)",
			"SELECT generate_series(1, 5), printf('%d items', n)"},
		{"SelectStarExcept",
			"SELECT * EXCEPT (secret) FROM ds.users",
			`SELECT * EXCLUDE (secret) FROM "proj.ds"."users"`},
		{"SetOperationExceptUntouched",
			"SELECT id FROM ds.a EXCEPT DISTINCT SELECT id FROM ds.b",
			`SELECT id FROM "proj.ds"."a" EXCEPT DISTINCT SELECT id FROM "proj.ds"."b"`},
		{"UnnestAliasBecomesColumn",
			"SELECT o.id, item FROM ds.orders o, UNNEST(o.items) AS item CROSS JOIN UNNEST([1, 2]) n",
			`SELECT o.id, item FROM "proj.ds"."orders" o, UNNEST(o.items) AS "item"("item") CROSS JOIN UNNEST([1, 2]) AS "n"("n")`},
		{"IntervalExpressionParenthesised",
			"SELECT DATE_ADD(d, INTERVAL MOD(id, 7) DAY), INTERVAL 3 HOUR, INTERVAL -n MINUTE",
			"SELECT CAST(d + INTERVAL (MOD(id, 7)) DAY AS DATE), INTERVAL 3 HOUR, INTERVAL (-n) MINUTE"},
		{"CurrentTimeFunctions",
			"SELECT CURRENT_TIMESTAMP(), CURRENT_DATETIME(), CURRENT_DATE(), CURRENT_TIMESTAMP",
			"SELECT current_timestamp, CAST(current_timestamp AS TIMESTAMP), CURRENT_DATE(), CURRENT_TIMESTAMP"},
		{"DayOfWeekCountsFromOne",
			"SELECT EXTRACT(DAYOFWEEK FROM `d`), EXTRACT(YEAR FROM d)",
			`SELECT (EXTRACT(DAYOFWEEK FROM "d") + 1), EXTRACT(YEAR FROM d)`},
		{"TrailingSemicolonsDropped",
			"SELECT 1 AS x;\n; -- done",
			"SELECT 1 AS x"},
		{"ColumnNamedLikeFunctionUntouched",
			"SELECT t.date, format FROM ds.t",
			`SELECT t.date, format FROM "proj.ds"."t"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := translate(c.in, opts, events)
			require.NoError(t, err)
			require.Equal(t, c.want, got.sql)
		})
	}
}

func TestTimestampTextIsUTC(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.query(t, "j", "ts", "SELECT UNIX_SECONDS(TIMESTAMP('2024-01-01 00:00:00')) AS s")
	require.Equal(t, [][]string{{"1704067200"}}, b.rows(t, `SELECT s FROM "acme-data.shop"."ts"`))
}

func TestTranslateReportsReads(t *testing.T) {
	t.Parallel()
	match := func(n sqlref.TableName) ([]sqlref.TableName, error) {
		return []sqlref.TableName{{Project: n.Project, Dataset: n.Dataset, Table: "e_1"}}, nil
	}
	got, err := translate("WITH x AS (SELECT 1) SELECT * FROM ds.a JOIN ds.a USING (id), x, `p.d.e_*`",
		sqlref.Options{DefaultProject: "proj"}, match)
	require.NoError(t, err)
	require.Equal(t, []sqlref.TableName{
		{Project: "proj", Dataset: "ds", Table: "a"},
		{Project: "p", Dataset: "d", Table: "e_1"},
	}, got.reads)
}

func TestTranslateWildcardWithoutMatchIsNotFound(t *testing.T) {
	t.Parallel()
	none := func(sqlref.TableName) ([]sqlref.TableName, error) { return nil, nil }
	_, err := translate("SELECT * FROM `p.d.none_*`", sqlref.Options{}, none)
	var je *warehouse.JobError
	require.True(t, errors.As(err, &je), "got %v", err)
	require.Equal(t, "notFound", je.Reason)
	require.Contains(t, je.Message, "p.d.none_*")
}

func TestTranslateLexErrorIsReported(t *testing.T) {
	t.Parallel()
	_, err := translate("SELECT 'unterminated", sqlref.Options{}, nil)
	var lexErr *sqlref.Error
	require.True(t, errors.As(err, &lexErr), "got %T %v", err, err)
}
