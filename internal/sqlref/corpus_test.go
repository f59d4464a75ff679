package sqlref

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// benchCorpus generates about size bytes of realistic BigQuery SQL files (CTE-heavy queries,
// scripts with temp tables and control flow, MERGE, DDL, comments and literals), the same for a
// given seed. Files are separated so each can be extracted on its own.
func benchCorpus(seed uint64, size int) []string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var files []string
	total := 0
	for total < size {
		var b strings.Builder
		switch r.IntN(5) {
		case 0, 1:
			genQuery(r, &b)
		case 2:
			genScript(r, &b)
		case 3:
			genMerge(r, &b)
		default:
			genDDL(r, &b)
		}
		files = append(files, b.String())
		total += b.Len()
	}
	return files
}

var (
	benchProjects = []string{"acme-prod", "analytics-123", "my-project-1", "moz-fx-data-shared-prod"}
	benchDatasets = []string{"raw", "staging", "marts", "events_v2", "billing_export", "crm"}
	benchTables   = []string{"orders", "customers", "page_views", "sessions", "line_items", "invoices", "users", "ga_sessions_20240101"}
	benchCols     = []string{"id", "user_id", "created_at", "amount", "status", "country", "`date`", "session_id", "value", "type"}
)

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

func benchTable(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("`%s.%s.%s`", pick(r, benchProjects), pick(r, benchDatasets), pick(r, benchTables))
	case 1:
		return fmt.Sprintf("%s.%s.%s", pick(r, benchProjects), pick(r, benchDatasets), pick(r, benchTables))
	default:
		return fmt.Sprintf("%s.%s", pick(r, benchDatasets), pick(r, benchTables))
	}
}

func genExpr(r *rand.Rand, b *strings.Builder, alias string, depth int) {
	switch r.IntN(7) {
	case 0:
		fmt.Fprintf(b, "COALESCE(%s.%s, 'n/a')", alias, pick(r, benchCols))
	case 1:
		fmt.Fprintf(b, "CASE WHEN %s.amount > %d THEN 'big' WHEN %s.amount IS NULL THEN NULL ELSE \"small\" END", alias, r.IntN(1000), alias)
	case 2:
		fmt.Fprintf(b, "SUM(%s.amount) OVER (PARTITION BY %s.user_id ORDER BY %s.created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)", alias, alias, alias)
	case 3:
		fmt.Fprintf(b, "EXTRACT(YEAR FROM %s.created_at)", alias)
	case 4:
		if depth < 2 {
			fmt.Fprintf(b, "(SELECT MAX(x.amount) FROM %s AS x WHERE x.user_id = %s.user_id)", benchTable(r), alias)
			return
		}
		fmt.Fprintf(b, "%s.%s", alias, pick(r, benchCols))
	case 5:
		fmt.Fprintf(b, "ARRAY(SELECT AS STRUCT i.sku, i.qty FROM UNNEST(%s.items) AS i WHERE i.qty > 0)", alias)
	default:
		fmt.Fprintf(b, "SAFE_CAST(JSON_VALUE(%s.payload, '$.attrs.v%d') AS NUMERIC) * 1.5e2", alias, r.IntN(50))
	}
}

func genSelect(r *rand.Rand, b *strings.Builder, depth int) {
	alias := fmt.Sprintf("t%d", depth)
	b.WriteString("SELECT\n")
	n := 3 + r.IntN(6)
	for i := 0; i < n; i++ {
		b.WriteString("    ")
		genExpr(r, b, alias, depth)
		fmt.Fprintf(b, " AS c%d,\n", i)
	}
	fmt.Fprintf(b, "    %s.id\n  FROM %s AS %s\n", alias, benchTable(r), alias)
	if r.IntN(2) == 0 {
		fmt.Fprintf(b, "  LEFT JOIN %s u ON u.id = %s.user_id AND u.country IN ('DE', 'FR')\n", benchTable(r), alias)
	}
	if r.IntN(3) == 0 {
		fmt.Fprintf(b, "  CROSS JOIN UNNEST(%s.tags) AS tag WITH OFFSET AS pos\n", alias)
	}
	fmt.Fprintf(b, "  WHERE %s.created_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL %d DAY) -- recent only\n", alias, 1+r.IntN(90))
	if r.IntN(3) == 0 {
		fmt.Fprintf(b, "    AND %s.user_id IN (SELECT user_id FROM %s WHERE status = 'active')\n", alias, benchTable(r))
	}
	if r.IntN(2) == 0 {
		fmt.Fprintf(b, "  QUALIFY ROW_NUMBER() OVER (PARTITION BY %s.id ORDER BY %s.created_at DESC) = 1\n", alias, alias)
	}
}

func genQuery(r *rand.Rand, b *strings.Builder) {
	b.WriteString("/* generated report query\n   owner: data-eng */\nWITH\n")
	n := 1 + r.IntN(4)
	for i := 0; i < n; i++ {
		fmt.Fprintf(b, "cte_%d AS (\n", i)
		genSelect(r, b, 0)
		b.WriteString("),\n")
	}
	b.WriteString("final AS (SELECT * FROM cte_0)\n")
	genSelect(r, b, 1)
	b.WriteString("UNION ALL\nSELECT * EXCEPT(rn) FROM final\nORDER BY 1\nLIMIT 1000;\n")
}

func genScript(r *rand.Rand, b *strings.Builder) {
	fmt.Fprintf(b, "DECLARE run_date DATE DEFAULT (SELECT MAX(dt) FROM %s);\nDECLARE i INT64 DEFAULT 0;\n", benchTable(r))
	b.WriteString("CREATE TEMP TABLE tmp_src AS\n")
	genSelect(r, b, 0)
	b.WriteString(";\nBEGIN\n  IF (SELECT COUNT(*) FROM tmp_src) > 0 THEN\n")
	fmt.Fprintf(b, "    INSERT INTO %s (id, amount)\n    SELECT id, c0 FROM tmp_src;\n", benchTable(r))
	fmt.Fprintf(b, "  ELSE\n    DELETE FROM %s WHERE dt = run_date;\n  END IF;\n", benchTable(r))
	b.WriteString("  WHILE i < 3 DO\n    SET i = i + 1;\n  END WHILE;\nEXCEPTION WHEN ERROR THEN\n  SELECT @@error.message;\nEND;\n")
	fmt.Fprintf(b, "FOR rec IN (SELECT DISTINCT country FROM %s) DO\n  EXECUTE IMMEDIATE FORMAT(\"\"\"\n    SELECT * FROM x WHERE c = '%%s'\"\"\", rec.country);\nEND FOR;\n", benchTable(r))
}

func genMerge(r *rand.Rand, b *strings.Builder) {
	fmt.Fprintf(b, "MERGE INTO %s T\nUSING (\n", benchTable(r))
	genSelect(r, b, 0)
	b.WriteString(") S\nON T.id = S.id\nWHEN MATCHED AND S.status = 'deleted' THEN DELETE\n")
	b.WriteString("WHEN MATCHED THEN UPDATE SET amount = S.c0, status = S.c1\nWHEN NOT MATCHED BY TARGET THEN INSERT ROW\nWHEN NOT MATCHED BY SOURCE THEN DELETE;\n")
}

func genDDL(r *rand.Rand, b *strings.Builder) {
	fmt.Fprintf(b, "CREATE OR REPLACE TABLE %s\nPARTITION BY DATE(created_at)\nCLUSTER BY user_id, country\nOPTIONS (description = r'nightly\\d build', labels = [('team', 'growth')])\nAS\n", benchTable(r))
	genSelect(r, b, 0)
	fmt.Fprintf(b, ";\nCREATE TEMP FUNCTION norm(x STRING) RETURNS STRING LANGUAGE js AS r'''\n  return x.trim().toLowerCase();\n''';\nDROP TABLE IF EXISTS %s;\n", benchTable(r))
}
