package extract

import (
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/parquet-go/parquet-go"
)

// The benchmarks below are the measurement behind writing imports as Parquet rather than Avro
// (both load into BigQuery): the same rows — the shape of `maestro bench extract`'s table, an
// id, a short text, a numeric(12,2), a timestamptz and a bool — encoded into a compressed file,
// reporting rows/s and bytes per row. Run: go test -run '^$' -bench Format ./internal/extract

const formatRows = 200_000

var formatCols = []Column{
	{Name: "id", Kind: KindInt64}, {Name: "label", Kind: KindString},
	{Name: "amount", Kind: KindDecimal, Precision: 12, Scale: 2},
	{Name: "created_at", Kind: KindTimestampTZ}, {Name: "active", Kind: KindBool},
}

type formatRow struct {
	ID        int64     `avro:"id"`
	Label     string    `avro:"label"`
	Amount    []byte    `avro:"amount"`
	CreatedAt time.Time `avro:"created_at"`
	Active    bool      `avro:"active"`
}

const formatAvroSchema = `{"type": "record", "name": "bench_extract", "fields": [
  {"name": "id", "type": "long"},
  {"name": "label", "type": "string"},
  {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
  {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "active", "type": "boolean"}
]}`

var formatEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// formatValues is row i's values: the label repeats every 1,000 rows, as real text often does.
func formatValues(i int) (id int64, label string, cents int64, at time.Time, active bool) {
	return int64(i), "customer-" + strconv.Itoa(i%1000), int64(i%100000) * 7, formatEpoch.Add(time.Duration(i) * time.Second), i%3 == 0
}

func BenchmarkFormatParquetZstd(b *testing.B) {
	out := &countingWriter{w: io.Discard}
	batch := make([]parquet.Row, 0, 4096)
	b.ResetTimer()
	for b.Loop() {
		out.n = 0
		w, err := NewWriter(out, formatCols, 0)
		if err != nil {
			b.Fatal(err)
		}
		for i := range formatRows {
			id, label, cents, at, active := formatValues(i)
			batch = append(batch, parquet.Row{
				present(parquet.Int64Value(id), 0), present(parquet.ByteArrayValue([]byte(label)), 1),
				present(parquet.Int64Value(cents), 2), present(parquet.Int64Value(at.UnixMicro()), 3),
				present(parquet.BooleanValue(active), 4),
			})
			if len(batch) == cap(batch) {
				if err := w.WriteRows(batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := w.WriteRows(batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	report(b, out.n)
}

func benchmarkAvro(b *testing.B, codec ocf.CodecName) {
	out := &countingWriter{w: io.Discard}
	b.ResetTimer()
	for b.Loop() {
		out.n = 0
		enc, err := ocf.NewEncoder(formatAvroSchema, out, ocf.WithCodec(codec))
		if err != nil {
			b.Fatal(err)
		}
		var r formatRow
		for i := range formatRows {
			var cents int64
			r.ID, r.Label, cents, r.CreatedAt, r.Active = formatValues(i)
			r.Amount = avroDecimal(cents)
			if err := enc.Encode(&r); err != nil {
				b.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			b.Fatal(err)
		}
	}
	report(b, out.n)
}

// avroDecimal is an Avro decimal's bytes: the unscaled value, big-endian two's complement.
func avroDecimal(v int64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

func BenchmarkFormatAvroDeflate(b *testing.B) { benchmarkAvro(b, ocf.Deflate) }
func BenchmarkFormatAvroSnappy(b *testing.B)  { benchmarkAvro(b, ocf.Snappy) }
func BenchmarkFormatAvroZstd(b *testing.B)    { benchmarkAvro(b, ocf.ZStandard) }

func report(b *testing.B, fileBytes int64) {
	b.ReportMetric(float64(formatRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(fileBytes)/formatRows, "file_bytes/row")
}

// The schema is checked once so a typo fails as a test, not as a benchmark nobody runs.
func TestFormatAvroSchemaParses(t *testing.T) {
	if _, err := avro.Parse(formatAvroSchema); err != nil {
		t.Fatal(err)
	}
}
