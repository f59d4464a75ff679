package extract

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/parquet-go/parquet-go"
)

// Postgres reads from a PostgreSQL connection with pgx. Values are decoded straight from the
// wire: the fixed-width types in binary format by hand, arrays through pgx's type map, and
// everything else (text, json, enums, numeric, unknown types) from its text form. No value goes
// through reflection or an interface per row.
type Postgres struct {
	conn *pgx.Conn
}

// NewPostgres reads through conn; the caller keeps owning it.
func NewPostgres(conn *pgx.Conn) *Postgres { return &Postgres{conn: conn} }

// Dialect is DialectPostgres.
func (p *Postgres) Dialect() Dialect { return DialectPostgres }

// PostgreSQL type OIDs this package decodes in binary format.
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
)

// pgArrays are the array types decoded (binary, through pgx) into JSON, by their element OID.
var pgArrays = map[uint32]uint32{
	1000: oidBool, 1005: oidInt2, 1007: oidInt4, 1016: oidInt8, 1021: oidFloat4, 1022: oidFloat8,
	1009: 25, 1015: 1043, 1014: 1042, 1231: oidNumeric, 1182: oidDate, 1115: oidTimestamp,
	1185: oidTimestamptz, 2951: oidUUID, 199: oidJSON, 3807: oidJSONB, 1001: oidBytea,
}

func pgResultFormats() pgx.QueryResultFormatsByOID {
	f := pgx.QueryResultFormatsByOID{}
	for _, oid := range []uint32{oidBool, oidBytea, oidInt8, oidInt2, oidInt4, oidOID, oidFloat4,
		oidFloat8, oidDate, oidTime, oidTimestamp, oidTimestamptz, oidInterval, oidUUID} {
		f[oid] = pgx.BinaryFormatCode
	}
	for oid := range pgArrays {
		f[oid] = pgx.BinaryFormatCode
	}
	return f
}

// Query runs sql. The statement is described first so that each column's format can be chosen
// by its type.
func (p *Postgres) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	all := append([]any{pgx.QueryExecModeDescribeExec, pgResultFormats()}, args...)
	rows, err := p.conn.Query(ctx, sql, all...)
	if err != nil {
		return nil, err
	}
	fds := rows.FieldDescriptions()
	r := &pgRows{rows: rows, m: p.conn.TypeMap(), oids: make([]uint32, len(fds)), formats: make([]int16, len(fds))}
	for i, fd := range fds {
		r.oids[i], r.formats[i] = fd.DataTypeOID, fd.Format
		c := Column{Name: fd.Name, Kind: KindString, SourceType: pgTypeName(p.conn.TypeMap(), fd.DataTypeOID)}
		switch fd.DataTypeOID {
		case oidBool:
			c.Kind = KindBool
		case oidBytea:
			c.Kind = KindBytes
		case oidInt2, oidInt4, oidInt8, oidOID:
			c.Kind = KindInt64
		case oidFloat4, oidFloat8:
			c.Kind = KindFloat64
		case oidDate:
			c.Kind = KindDate
		case oidTime:
			c.Kind = KindTime
		case oidTimestamp:
			c.Kind = KindTimestamp
		case oidTimestamptz:
			c.Kind = KindTimestampTZ
		case oidJSON, oidJSONB:
			c.Kind = KindJSON
		case oidNumeric:
			// The type modifier is ((precision << 16) | scale) + 4, or -1 when unconstrained.
			if tm := fd.TypeModifier; tm >= 4 {
				prec, scale := int((tm-4)>>16&0xffff), int((tm-4)&0xffff)
				if prec <= MaxDecimalPrecision && scale <= prec {
					c.Kind, c.Precision, c.Scale = KindDecimal, prec, scale
				}
			}
		default:
			if _, ok := pgArrays[fd.DataTypeOID]; ok {
				c.Kind = KindJSON
			}
		}
		r.cols = append(r.cols, c)
	}
	return r, nil
}

func pgTypeName(m *pgtype.Map, oid uint32) string {
	if t, ok := m.TypeForOID(oid); ok {
		return t.Name
	}
	return "oid " + strconv.FormatUint(uint64(oid), 10)
}

type pgRows struct {
	rows    pgx.Rows
	m       *pgtype.Map
	cols    []Column
	oids    []uint32
	formats []int16
	done    bool
}

func (r *pgRows) Columns() []Column { return r.cols }

func (r *pgRows) Close() error {
	r.rows.Close()
	return nil
}

// Microseconds and days between 2000-01-01, PostgreSQL's epoch, and 1970-01-01.
const (
	pgEpochMicros = 946_684_800_000_000
	pgEpochDays   = 10_957
)

func (r *pgRows) Next(ctx context.Context, b *Batch) error {
	if r.done {
		return io.EOF
	}
	start := len(b.Rows)
	for !b.Full() {
		if !r.rows.Next() {
			r.done = true
			if err := r.rows.Err(); err != nil {
				return err
			}
			break
		}
		raw := r.rows.RawValues()
		row := b.newRow(len(r.cols))
		for i, src := range raw {
			v, err := r.value(i, src, b)
			if err != nil {
				return fmt.Errorf("error decoding column %q of row %d: %w", r.cols[i].Name, len(b.Rows), err)
			}
			row = append(row, v)
		}
		b.setRow(row)
	}
	if len(b.Rows) == start && r.done {
		return io.EOF
	}
	return nil
}

func (r *pgRows) value(i int, src []byte, b *Batch) (parquet.Value, error) {
	if src == nil {
		return null(i), nil
	}
	c := &r.cols[i]
	if r.formats[i] == pgx.TextFormatCode {
		switch c.Kind {
		case KindDecimal:
			if len(src) > 0 && (src[0] == 'N' || src[0] == 'I' || src[0] == '-' && len(src) > 1 && src[1] == 'I') {
				return parquet.Value{}, fmt.Errorf("%s cannot be stored as a decimal", src)
			}
			v, err := decimalValue(c, src, b)
			return present(v, i), err
		default: // text, varchar, json, jsonb (text form is the JSON), enum, unknown types
			return present(parquet.ByteArrayValue(b.bytes(src)), i), nil
		}
	}
	be := binary.BigEndian
	switch r.oids[i] {
	case oidBool:
		if len(src) != 1 {
			break
		}
		return present(parquet.BooleanValue(src[0] != 0), i), nil
	case oidInt2:
		if len(src) != 2 {
			break
		}
		return present(parquet.Int64Value(int64(int16(be.Uint16(src)))), i), nil
	case oidInt4:
		if len(src) != 4 {
			break
		}
		return present(parquet.Int64Value(int64(int32(be.Uint32(src)))), i), nil
	case oidOID:
		if len(src) != 4 {
			break
		}
		return present(parquet.Int64Value(int64(be.Uint32(src))), i), nil
	case oidInt8:
		if len(src) != 8 {
			break
		}
		return present(parquet.Int64Value(int64(be.Uint64(src))), i), nil
	case oidFloat4:
		if len(src) != 4 {
			break
		}
		return present(parquet.DoubleValue(widenFloat32(math.Float32frombits(be.Uint32(src)))), i), nil
	case oidFloat8:
		if len(src) != 8 {
			break
		}
		return present(parquet.DoubleValue(math.Float64frombits(be.Uint64(src))), i), nil
	case oidBytea:
		return present(parquet.ByteArrayValue(b.bytes(src)), i), nil
	case oidDate:
		if len(src) != 4 {
			break
		}
		d := int32(be.Uint32(src))
		if d == math.MaxInt32 || d == math.MinInt32 {
			return parquet.Value{}, fmt.Errorf("date infinity has no Parquet or BigQuery equivalent")
		}
		return present(parquet.Int32Value(d+pgEpochDays), i), nil
	case oidTime:
		if len(src) != 8 {
			break
		}
		return present(parquet.Int64Value(int64(be.Uint64(src))), i), nil
	case oidTimestamp, oidTimestamptz:
		if len(src) != 8 {
			break
		}
		us := int64(be.Uint64(src))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return parquet.Value{}, fmt.Errorf("timestamp infinity has no Parquet or BigQuery equivalent")
		}
		return present(parquet.Int64Value(us+pgEpochMicros), i), nil
	case oidInterval:
		if len(src) != 16 {
			break
		}
		s := isoInterval(int64(be.Uint64(src)), int32(be.Uint32(src[8:])), int32(be.Uint32(src[12:])))
		return present(parquet.ByteArrayValue(b.bytes([]byte(s))), i), nil
	case oidUUID:
		if len(src) != 16 {
			break
		}
		return present(parquet.ByteArrayValue(b.bytes(uuidText(src))), i), nil
	default:
		if elem, ok := pgArrays[r.oids[i]]; ok {
			var v any
			if err := r.m.Scan(r.oids[i], pgx.BinaryFormatCode, src, &v); err != nil {
				return parquet.Value{}, err
			}
			js, err := json.Marshal(jsonArray(v, elem))
			if err != nil {
				return parquet.Value{}, err
			}
			return present(parquet.ByteArrayValue(b.bytes(js)), i), nil
		}
	}
	return parquet.Value{}, fmt.Errorf("unexpected %d-byte binary value for %s", len(src), c.SourceType)
}

// widenFloat32 is the double nearest the decimal PostgreSQL shows for a real (its shortest
// round-trip text): 0.1 stays 0.1, where a bit-exact widening would read 0.10000000149011612 in
// the warehouse. MySQL's FLOAT arrives as that text already.
func widenFloat32(f float32) float64 {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return float64(f)
	}
	d, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		return float64(f)
	}
	return d
}

func uuidText(u []byte) []byte {
	out := make([]byte, 36)
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return out
}

// isoInterval renders a PostgreSQL interval as an ISO 8601 duration ("P1Y2M3DT4H5M6.5S"), the
// form BigQuery's CAST(... AS INTERVAL) reads, independent of the session's IntervalStyle.
func isoInterval(micros int64, days, months int32) string {
	if micros == 0 && days == 0 && months == 0 {
		return "PT0S"
	}
	s := "P"
	if y := months / 12; y != 0 {
		s += strconv.Itoa(int(y)) + "Y"
	}
	if m := months % 12; m != 0 {
		s += strconv.Itoa(int(m)) + "M"
	}
	if days != 0 {
		s += strconv.Itoa(int(days)) + "D"
	}
	if micros != 0 {
		s += "T"
		h := micros / 3_600_000_000
		micros -= h * 3_600_000_000
		m := micros / 60_000_000
		micros -= m * 60_000_000
		if h != 0 {
			s += strconv.FormatInt(h, 10) + "H"
		}
		if m != 0 {
			s += strconv.FormatInt(m, 10) + "M"
		}
		if micros != 0 {
			sec := strconv.FormatFloat(float64(micros)/1e6, 'f', -1, 64)
			s += sec + "S"
		}
	}
	return s
}

// jsonArray turns a decoded PostgreSQL array into values that marshal the way the element type
// is written in this package's other columns: numerics as exact strings, dates as YYYY-MM-DD,
// timestamps in RFC 3339 (UTC for timestamptz), UUIDs in their canonical text.
func jsonArray(v any, elem uint32) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonArray(e, elem)
		}
		return out
	case pgtype.Numeric:
		if t, err := x.MarshalJSON(); err == nil {
			return json.RawMessage(strconv.Quote(string(t)))
		}
		return nil
	case time.Time:
		switch elem {
		case oidDate:
			return x.Format(time.DateOnly)
		case oidTimestamp:
			return x.Format("2006-01-02T15:04:05.999999")
		}
		return x.UTC().Format(time.RFC3339Nano)
	case [16]byte:
		return string(uuidText(x[:]))
	case string:
		if elem == oidJSON || elem == oidJSONB {
			return json.RawMessage(x)
		}
	}
	return v
}
