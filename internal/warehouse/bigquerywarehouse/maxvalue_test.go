package bigquerywarehouse_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/warehouse/bigquerywarehouse"
)

func TestMaxValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	_, err := b.w.Query(ctx, queryJob("seed_events", "events", "SELECT 7 AS id, TIMESTAMP '2026-03-01 10:00:00+00' AS `order` "+
		"UNION ALL SELECT 42, TIMESTAMP '2026-03-02 11:30:00+00' UNION ALL SELECT 5, NULL"))
	require.NoError(t, err)

	v, ok, err := b.w.MaxValue(ctx, name("events"), "id")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int64(42), v)

	// A reserved word as the column: quoted, it is a name.
	v, ok, err = b.w.MaxValue(ctx, name("events"), "order")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC), v.(time.Time).UTC())

	sent := ""
	for _, r := range b.srv.Requests() {
		if strings.Contains(string(r.Body), "MAX(") {
			sent = string(r.Body)
		}
	}
	require.Contains(t, sent, "SELECT MAX(`order`) FROM `maestro-test-1`.`analytics`.`events`")

	_, ok, err = b.w.MaxValue(ctx, name("missing"), "id")
	require.NoError(t, err)
	require.False(t, ok, "a table not created yet has no watermark")

	_, err = b.w.Query(ctx, queryJob("seed_empty", "empty", "SELECT id FROM analytics.events WHERE id < 0"))
	require.NoError(t, err)
	_, ok, err = b.w.MaxValue(ctx, name("empty"), "id")
	require.NoError(t, err)
	require.False(t, ok, "an empty table has no watermark")

	_, _, err = b.w.MaxValue(ctx, name("events"), "no_such_column")
	require.Error(t, err)
}

func TestQuoteIdentifier(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"id":                 "`id`",
		"my-project":         "`my-project`",
		"a`b":                "`a\\`b`",
		`x\` + "` OR 1=1 --": "`x\\\\\\` OR 1=1 --`",
		"line\nbreak":        "`line\\x0abreak`",
	} {
		require.Equal(t, want, bigquerywarehouse.QuoteIdentifier(in), in)
	}
}
