package duckdbwarehouse

// macros define the BigQuery functions that DuckDB lacks but can express with the same call
// shape, so the SQL keeps its text and DuckDB resolves the name. They are created (or replaced,
// so an upgrade takes effect) each time a database is opened. Functions whose arguments change
// order or form are rewritten in translate.go instead.
var macros = []string{
	`CREATE OR REPLACE MACRO safe_divide(a, b) AS CASE WHEN b = 0 THEN NULL ELSE a / b END`,
	`CREATE OR REPLACE MACRO safe_multiply(a, b) AS a * b`,
	`CREATE OR REPLACE MACRO safe_add(a, b) AS a + b`,
	`CREATE OR REPLACE MACRO safe_subtract(a, b) AS a - b`,
	`CREATE OR REPLACE MACRO safe_negate(a) AS -a`,
	`CREATE OR REPLACE MACRO div(a, b) AS a // b`,
	`CREATE OR REPLACE MACRO format_date(f, d) AS strftime(CAST(d AS DATE), f)`,
	`CREATE OR REPLACE MACRO format_datetime(f, d) AS strftime(CAST(d AS TIMESTAMP), f)`,
	`CREATE OR REPLACE MACRO format_timestamp(f, d) AS strftime(CAST(d AS TIMESTAMP), f)`,
	`CREATE OR REPLACE MACRO parse_date(f, s) AS CAST(strptime(s, f) AS DATE)`,
	`CREATE OR REPLACE MACRO parse_datetime(f, s) AS strptime(s, f)`,
	`CREATE OR REPLACE MACRO parse_timestamp(f, s) AS strptime(s, f)`,
	`CREATE OR REPLACE MACRO timestamp_seconds(x) AS to_timestamp(x)`,
	`CREATE OR REPLACE MACRO timestamp_millis(x) AS epoch_ms(x)`,
	`CREATE OR REPLACE MACRO unix_seconds(t) AS CAST(epoch(t) AS BIGINT)`,
	`CREATE OR REPLACE MACRO unix_millis(t) AS epoch_ms(t)`,
	`CREATE OR REPLACE MACRO unix_date(d) AS date_diff('day', DATE '1970-01-01', d)`,
	`CREATE OR REPLACE MACRO logical_or(x) AS bool_or(x)`,
	`CREATE OR REPLACE MACRO logical_and(x) AS bool_and(x)`,
	`CREATE OR REPLACE MACRO regexp_contains(s, r) AS regexp_matches(s, r)`,
	`CREATE OR REPLACE MACRO to_json_string(x) AS CAST(to_json(x) AS VARCHAR)`,
	`CREATE OR REPLACE MACRO array_concat_agg(x) AS flatten(list(x))`,
}
