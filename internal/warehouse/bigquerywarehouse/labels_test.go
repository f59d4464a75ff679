package bigquerywarehouse_test

import (
	"fmt"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
)

func TestLabels(t *testing.T) {
	t.Parallel()
	require.Nil(t, bigquerywarehouse.Labels(nil))
	require.Equal(t, map[string]string{
		"maestro_run": "2024-01-31t10_00_00z",
		"table":       "shop_orders",
		"owner":       "alice_example_com",
		"l_9lives":    "",
		"straße":      "münchen",
		"l__under":    "x",
		"l____":       "a_key_of_only_symbols_becomes_l____",
	}, bigquerywarehouse.Labels(map[string]string{
		"maestro_run": "2024-01-31T10:00:00Z",
		"Table":       "shop.Orders",
		"owner":       "Alice@Example.com",
		"9lives":      "",
		"Straße":      "München",
		"_under":      "x",
		"":            "dropped",
		"!!!":         "a key of only symbols becomes l____",
	}))

	long := strings.Repeat("x", 100)
	got := bigquerywarehouse.Labels(map[string]string{long: long})
	require.Equal(t, map[string]string{strings.Repeat("x", 63): strings.Repeat("x", 63)}, got)

	many := map[string]string{}
	for i := range 100 {
		many[fmt.Sprintf("k%03d", i)] = "v"
	}
	require.Len(t, bigquerywarehouse.Labels(many), 64)
	require.Contains(t, bigquerywarehouse.Labels(many), "k000", "the first 64 keys in order are kept")
}

func TestPartitioning(t *testing.T) {
	t.Parallel()
	day, hour, month, year := bigquery.DayPartitioningType, bigquery.HourPartitioningType, bigquery.MonthPartitioningType, bigquery.YearPartitioningType
	for expr, want := range map[string]*bigquery.TimePartitioning{
		"created_at":                            {Type: day, Field: "created_at"},
		"`created_at`":                          {Type: day, Field: "created_at"},
		"DATE(created_at)":                      {Type: day, Field: "created_at"},
		"date( created_at )":                    {Type: day, Field: "created_at"},
		"TIMESTAMP_TRUNC(ts, HOUR)":             {Type: hour, Field: "ts"},
		"TIMESTAMP_TRUNC(ts, DAY)":              {Type: day, Field: "ts"},
		"DATETIME_TRUNC(dt, MONTH)":             {Type: month, Field: "dt"},
		"DATE_TRUNC(d, YEAR)":                   {Type: year, Field: "d"},
		"_PARTITIONDATE":                        {Type: day},
		"DATE(_PARTITIONTIME)":                  {Type: day},
		"TIMESTAMP_TRUNC(_PARTITIONTIME, HOUR)": {Type: hour},
	} {
		tp, rp, err := bigquerywarehouse.Partitioning(expr)
		require.NoError(t, err, expr)
		require.Nil(t, rp, expr)
		require.Equal(t, want, tp, expr)
	}

	tp, rp, err := bigquerywarehouse.Partitioning("RANGE_BUCKET(customer_id, GENERATE_ARRAY(-100, 1000, 10))")
	require.NoError(t, err)
	require.Nil(t, tp)
	require.Equal(t, &bigquery.RangePartitioning{Field: "customer_id",
		Range: &bigquery.RangePartitioningRange{Start: -100, End: 1000, Interval: 10}}, rp)

	tp, rp, err = bigquerywarehouse.Partitioning("  ")
	require.NoError(t, err)
	require.Nil(t, tp)
	require.Nil(t, rp)

	for _, bad := range []string{
		"MOD(id, 7)", "DATE(a, b)", "DATE_TRUNC(d, HOUR)", "TIMESTAMP_TRUNC(ts, WEEK)", "a b",
		"RANGE_BUCKET(id, GENERATE_ARRAY(10, 0, 1))", "RANGE_BUCKET(id, [1, 2])", "DATE(created_at) + 1", "'x'",
	} {
		_, _, err := bigquerywarehouse.Partitioning(bad)
		require.Error(t, err, bad)
	}
}
