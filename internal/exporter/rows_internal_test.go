package exporter

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	"github.com/stretchr/testify/require"
)

// TestJSONValueReadsBothWarehousesSpellings: BigQuery writes INT64 and NUMERIC as JSON strings
// and timestamps as "… UTC"; DuckDB writes numbers and "…+00". Both read back the same.
func TestJSONValueReadsBothWarehousesSpellings(t *testing.T) {
	ts := time.Date(2026, 11, 25, 6, 30, 0, 500_000_000, time.UTC)
	for _, c := range []struct {
		typ, raw string
		want     any
	}{
		{"INT64", `123`, int64(123)},
		{"INT64", `"9223372036854775807"`, int64(math.MaxInt64)},
		{"FLOAT64", `2.5`, 2.5},
		{"FLOAT64", `"-Infinity"`, math.Inf(-1)},
		{"NUMERIC", `"12345678901234567890.123456789"`, "12345678901234567890.123456789"},
		{"NUMERIC", `0.10`, "0.10"},
		{"BOOL", `true`, true},
		{"BOOL", `"false"`, false},
		{"STRING", `""`, ""},
		{"STRING", `"a\"b"`, `a"b`},
		{"BYTES", `"AAEC"`, []byte{0, 1, 2}},
		{"DATE", `"2020-02-29"`, civil.Date{Year: 2020, Month: 2, Day: 29}},
		{"TIME", `"06:30:00.25"`, civil.Time{Hour: 6, Minute: 30, Nanosecond: 250_000_000}},
		{"DATETIME", `"2026-11-25T06:30:00"`, civil.DateTime{Date: civil.Date{Year: 2026, Month: 11, Day: 25}, Time: civil.Time{Hour: 6, Minute: 30}}},
		{"DATETIME", `"2026-11-25 06:30:00"`, civil.DateTime{Date: civil.Date{Year: 2026, Month: 11, Day: 25}, Time: civil.Time{Hour: 6, Minute: 30}}},
		{"TIMESTAMP", `"2026-11-25 06:30:00.5 UTC"`, ts},
		{"TIMESTAMP", `"2026-11-25T06:30:00.5Z"`, ts},
		{"TIMESTAMP", `"2026-11-25 06:30:00.5+00"`, ts},
		{"TIMESTAMP", `"2026-11-25 07:30:00.5+01"`, ts},
		{"TIMESTAMP", `"2026-11-25 06:30:00.5"`, ts},
		{"JSON", `{"a": [1, 2]}`, json.RawMessage(`{"a": [1, 2]}`)},
		{"ARRAY<INT64>", `[1,2]`, json.RawMessage(`[1,2]`)},
		{"STRING", `null`, nil},
		{"INT64", ``, nil},
	} {
		got, err := jsonValue(c.typ, json.RawMessage(c.raw))
		require.NoError(t, err, "%s %s", c.typ, c.raw)
		if f, ok := c.want.(float64); ok && math.IsInf(f, 0) {
			require.True(t, math.IsInf(got.(float64), -1))
			continue
		}
		require.Equal(t, c.want, got, "%s %s", c.typ, c.raw)
	}
	for _, c := range []struct{ typ, raw string }{
		{"INT64", `"12x"`}, {"INT64", `1.5`}, {"NUMERIC", `"1e"`}, {"BOOL", `"yes"`}, {"DATE", `"2026-02-30"`},
		{"TIMESTAMP", `"yesterday"`},
	} {
		_, err := jsonValue(c.typ, json.RawMessage(c.raw))
		require.Error(t, err, "%s %s", c.typ, c.raw)
	}
}
