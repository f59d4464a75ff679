package extract

import (
	"fmt"
	"math/big"
	"reflect"

	"github.com/parquet-go/parquet-go"
)

// Kind is how a column's values are stored in the Parquet file. Each source maps its own types to
// one of these (the table in README.md lists every mapping).
type Kind int

const (
	// KindInt64 is a signed 64-bit integer: Parquet INT64, BigQuery INT64.
	KindInt64 Kind = iota + 1
	// KindFloat64 is an IEEE double: Parquet DOUBLE, BigQuery FLOAT64.
	KindFloat64
	// KindBool is Parquet BOOLEAN, BigQuery BOOL.
	KindBool
	// KindString is UTF-8 text: Parquet BYTE_ARRAY (STRING), BigQuery STRING.
	KindString
	// KindBytes is Parquet BYTE_ARRAY without annotation, BigQuery BYTES.
	KindBytes
	// KindJSON is JSON text: Parquet BYTE_ARRAY (JSON), BigQuery JSON.
	KindJSON
	// KindDecimal is an exact number with Column.Precision digits, Column.Scale of them after
	// the point: Parquet DECIMAL on INT64 (precision ≤ 18) or 16-byte FIXED_LEN_BYTE_ARRAY
	// (precision ≤ 38), BigQuery NUMERIC or BIGNUMERIC.
	KindDecimal
	// KindDate is a calendar date: Parquet DATE, BigQuery DATE.
	KindDate
	// KindTime is a time of day in microseconds: Parquet TIME(MICROS), BigQuery TIME.
	KindTime
	// KindTimestamp is a wall-clock date and time without zone, in microseconds: Parquet
	// TIMESTAMP(MICROS, isAdjustedToUTC=false), BigQuery DATETIME.
	KindTimestamp
	// KindTimestampTZ is an instant, in microseconds since the Unix epoch in UTC: Parquet
	// TIMESTAMP(MICROS, isAdjustedToUTC=true), BigQuery TIMESTAMP.
	KindTimestampTZ
)

var kindNames = map[Kind]string{
	KindInt64: "INT64", KindFloat64: "FLOAT64", KindBool: "BOOL", KindString: "STRING",
	KindBytes: "BYTES", KindJSON: "JSON", KindDecimal: "DECIMAL", KindDate: "DATE", KindTime: "TIME",
	KindTimestamp: "DATETIME", KindTimestampTZ: "TIMESTAMP",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// MaxDecimalPrecision is the most digits a KindDecimal column holds (BigQuery BIGNUMERIC's
// exact range, and what fits 16 bytes). Wider or unconstrained decimals are imported as strings.
const MaxDecimalPrecision = 38

// Column describes one column of a source's result, as it is written to Parquet.
type Column struct {
	// Name is the column's name as the source reports it.
	Name string
	// Kind is how the values are stored.
	Kind Kind
	// Precision and Scale are set for KindDecimal.
	Precision, Scale int
	// SourceType is the source's name for the type (for messages and schema drift checks).
	SourceType string
}

// BigQueryType is the BigQuery column type a load job gives this column.
func (c Column) BigQueryType() string {
	if c.Kind != KindDecimal {
		return c.Kind.String()
	}
	// NUMERIC holds 29 integer digits and 9 fractional ones; anything wider needs BIGNUMERIC.
	if c.Scale <= 9 && c.Precision-c.Scale <= 29 {
		return "NUMERIC"
	}
	return "BIGNUMERIC"
}

// node is the column's Parquet schema node. Every column is optional: sources rarely promise
// NOT NULL for a query's result, and a load job accepts optional columns into required ones.
func (c Column) node() (parquet.Node, error) {
	var n parquet.Node
	switch c.Kind {
	case KindInt64:
		n = parquet.Leaf(parquet.Int64Type)
	case KindFloat64:
		n = parquet.Leaf(parquet.DoubleType)
	case KindBool:
		n = parquet.Leaf(parquet.BooleanType)
	case KindString:
		n = parquet.String()
	case KindBytes:
		n = parquet.Leaf(parquet.ByteArrayType)
	case KindJSON:
		n = parquet.JSON()
	case KindDecimal:
		switch {
		case c.Precision < 1 || c.Precision > MaxDecimalPrecision || c.Scale < 0 || c.Scale > c.Precision:
			return nil, fmt.Errorf("column %q: unsupported decimal precision %d scale %d", c.Name, c.Precision, c.Scale)
		case c.Precision <= 18:
			n = parquet.Decimal(c.Scale, c.Precision, parquet.Int64Type)
		default:
			n = parquet.Decimal(c.Scale, c.Precision, parquet.FixedLenByteArrayType(16))
		}
	case KindDate:
		n = parquet.Date()
	case KindTime:
		n = parquet.TimeAdjusted(parquet.Microsecond, false)
	case KindTimestamp:
		n = parquet.TimestampAdjusted(parquet.Microsecond, false)
	case KindTimestampTZ:
		n = parquet.TimestampAdjusted(parquet.Microsecond, true)
	default:
		return nil, fmt.Errorf("column %q: unknown kind %d", c.Name, int(c.Kind))
	}
	return parquet.Optional(n), nil
}

// orderedGroup is a Parquet group whose fields keep the source's column order; parquet.Group is
// a map and would sort them by name.
type orderedGroup struct {
	parquet.Group
	fields []parquet.Field
}

func (g orderedGroup) Fields() []parquet.Field { return g.fields }

type field struct {
	parquet.Node
	name string
}

func (f field) Name() string { return f.name }

// Value is used only when parquet-go maps Go structs onto the schema, which this package never does.
func (f field) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// Schema builds the Parquet schema of the columns, in their order.
func Schema(cols []Column) (*parquet.Schema, error) {
	seen := make(map[string]bool, len(cols))
	g := orderedGroup{Group: parquet.Group{}}
	for _, c := range cols {
		if seen[c.Name] {
			return nil, fmt.Errorf("column %q appears twice in the result; give it an alias", c.Name)
		}
		seen[c.Name] = true
		n, err := c.node()
		if err != nil {
			return nil, err
		}
		g.Group[c.Name] = n
		g.fields = append(g.fields, field{Node: n, name: c.Name})
	}
	return parquet.NewSchema("schema", g), nil
}

// Values of optional top-level columns: definition level 1 when present, 0 when NULL.

func null(col int) parquet.Value { return parquet.Value{}.Level(0, 0, col) }

func present(v parquet.Value, col int) parquet.Value { return v.Level(0, 1, col) }

// decimalValue parses the decimal text s (digits, an optional sign and point, no exponent) into
// the column's Parquet DECIMAL value. It refuses more fractional digits than the scale or more
// digits than the precision rather than round: an import never changes a number.
func decimalValue(c *Column, s []byte, b *Batch) (parquet.Value, error) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intDigits, fracDigits, digits := 0, 0, 0
	seenPoint := false
	var small uint64
	fits := true
	for _, ch := range s {
		switch {
		case ch == '.' && !seenPoint:
			seenPoint = true
			continue
		case ch < '0' || ch > '9':
			return parquet.Value{}, fmt.Errorf("column %q: %q is not a decimal number", c.Name, s)
		}
		if seenPoint {
			fracDigits++
		} else {
			intDigits++
		}
		if digits > 0 || ch != '0' {
			digits++
		}
		if digits > 18 {
			fits = false
		}
		small = small*10 + uint64(ch-'0')
	}
	if intDigits+fracDigits == 0 {
		return parquet.Value{}, fmt.Errorf("column %q: %q is not a decimal number", c.Name, s)
	}
	if fracDigits > c.Scale {
		return parquet.Value{}, fmt.Errorf("column %q: %q has more than %d digits after the point", c.Name, s, c.Scale)
	}
	pad := c.Scale - fracDigits
	if digits+pad > c.Precision && digits > 0 {
		return parquet.Value{}, fmt.Errorf("column %q: %q has more than %d digits", c.Name, s, c.Precision)
	}
	if c.Precision <= 18 {
		for range pad {
			small *= 10
		}
		v := int64(small)
		if neg {
			v = -v
		}
		return parquet.Int64Value(v), nil
	}
	var n big.Int
	if fits {
		n.SetUint64(small)
	} else {
		var clean []byte
		for _, ch := range s {
			if ch != '.' {
				clean = append(clean, ch)
			}
		}
		if _, ok := n.SetString(string(clean), 10); !ok {
			return parquet.Value{}, fmt.Errorf("column %q: %q is not a decimal number", c.Name, s)
		}
	}
	if pad > 0 {
		n.Mul(&n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(pad)), nil))
	}
	if neg {
		n.Neg(&n)
	}
	return parquet.FixedLenByteArrayValue(b.bytes(twosComplement16(&n))), nil
}

// twosComplement16 is n as a 16-byte big-endian two's complement integer (n fits: 38 digits < 2^127).
func twosComplement16(n *big.Int) []byte {
	var out [16]byte
	if n.Sign() >= 0 {
		n.FillBytes(out[:])
		return out[:]
	}
	// -n = ^(n-1) for the absolute value's bytes.
	abs := new(big.Int).Neg(n)
	abs.Sub(abs, big.NewInt(1))
	abs.FillBytes(out[:])
	for i := range out {
		out[i] = ^out[i]
	}
	return out[:]
}

// DecimalString renders a Parquet DECIMAL value of the column as text, for tests and checks.
func DecimalString(c Column, v parquet.Value) string {
	var n big.Int
	if c.Precision <= 18 {
		n.SetInt64(v.Int64())
	} else {
		raw := v.ByteArray()
		n.SetBytes(raw)
		if len(raw) > 0 && raw[0]&0x80 != 0 {
			n.Sub(&n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
		}
	}
	s := n.String()
	neg := false
	if s[0] == '-' {
		neg, s = true, s[1:]
	}
	if c.Scale > 0 {
		for len(s) <= c.Scale {
			s = "0" + s
		}
		s = s[:len(s)-c.Scale] + "." + s[len(s)-c.Scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
