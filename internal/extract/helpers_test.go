package extract_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"math"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/blob/localblob"
	"github.com/maestro-sql/maestro/internal/extract"
)

func newBucket(t *testing.T) *localblob.Bucket {
	t.Helper()
	b, err := localblob.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// readBack reads every shard of a result and returns its rows as Go values by column name:
// nil for NULL, int64, float64, bool, string (text, JSON, decimals as exact text), []byte encoded
// base64 (BYTES), date "2006-01-02", time "15:04:05.999999", timestamps time.Time in UTC.
func readBack(t *testing.T, ctx context.Context, b *localblob.Bucket, res *extract.Result) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, key := range res.Keys {
		rc, err := b.Read(ctx, key)
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		require.NoError(t, rc.Close())
		require.NoError(t, err)
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		fields := f.Schema().Fields()
		require.Len(t, fields, len(res.Columns))
		for i, c := range res.Columns {
			require.Equal(t, c.Name, fields[i].Name(), "column order")
		}
		r := parquet.NewReader(bytes.NewReader(data))
		rows := make([]parquet.Row, 100)
		for {
			n, err := r.ReadRows(rows)
			for _, row := range rows[:n] {
				m := map[string]any{}
				for i, c := range res.Columns {
					m[c.Name] = goValue(c, row[i])
				}
				out = append(out, m)
			}
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
		}
		require.NoError(t, r.Close())
	}
	return out
}

func goValue(c extract.Column, v parquet.Value) any {
	if v.IsNull() {
		return nil
	}
	switch c.Kind {
	case extract.KindInt64:
		return v.Int64()
	case extract.KindFloat64:
		return v.Double()
	case extract.KindBool:
		return v.Boolean()
	case extract.KindString, extract.KindJSON:
		return string(v.ByteArray())
	case extract.KindBytes:
		return base64.StdEncoding.EncodeToString(v.ByteArray())
	case extract.KindDecimal:
		return extract.DecimalString(c, v)
	case extract.KindDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly)
	case extract.KindTime:
		return time.UnixMicro(v.Int64()).UTC().Format("15:04:05.999999")
	case extract.KindTimestamp, extract.KindTimestampTZ:
		return time.UnixMicro(v.Int64()).UTC()
	}
	return v.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

var _ = math.MaxInt64

func kinds(cols []extract.Column) map[string]string {
	m := map[string]string{}
	for _, c := range cols {
		m[c.Name] = c.BigQueryType()
	}
	return m
}
