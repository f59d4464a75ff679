package extract

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// MySQL reads from MySQL or MariaDB through github.com/go-sql-driver/mysql. Values are read as
// sql.RawBytes (the driver's own buffers, no allocation per value) and parsed by column type.
// The DSN must not set parseTime (dates arrive as text).
type MySQL struct {
	db *sql.DB
}

// NewMySQL reads through db; the caller keeps owning it.
func NewMySQL(db *sql.DB) *MySQL { return &MySQL{db: db} }

// Dialect is DialectMySQL.
func (m *MySQL) Dialect() Dialect { return DialectMySQL }

// Query runs sql on a connection whose session time zone is set to UTC for the duration, so
// that TIMESTAMP values (instants) arrive in UTC; the previous zone is restored on Close.
func (m *MySQL) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("error getting a connection: %w", err)
	}
	var zone string
	if err := conn.QueryRowContext(ctx, "SELECT @@session.time_zone").Scan(&zone); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("error reading the session time zone: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("error setting the session time zone to UTC: %w", err)
	}
	r := &sqlRows{conn: conn, restore: func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SET time_zone = ?", zone)
	}}
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	r.rows = rows
	types, err := rows.ColumnTypes()
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("error reading the result's column types: %w", err)
	}
	for _, ct := range types {
		c := Column{Name: ct.Name(), Kind: KindString, SourceType: ct.DatabaseTypeName()}
		switch c.SourceType {
		case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR",
			"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT":
			c.Kind = KindInt64
		case "UNSIGNED BIGINT":
			// Up to 2^64-1 does not fit INT64: kept exact as DECIMAL(20,0).
			c.Kind, c.Precision = KindDecimal, 20
		case "BIT":
			c.Kind = KindInt64
		case "FLOAT", "DOUBLE":
			c.Kind = KindFloat64
		case "DECIMAL":
			if p, s, ok := ct.DecimalSize(); ok && p <= MaxDecimalPrecision {
				c.Kind, c.Precision, c.Scale = KindDecimal, int(p), int(s)
			}
		case "DATE":
			c.Kind = KindDate
		case "DATETIME":
			c.Kind = KindTimestamp
		case "TIMESTAMP":
			c.Kind = KindTimestampTZ
		case "JSON":
			c.Kind = KindJSON
		case "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BINARY", "VARBINARY", "GEOMETRY":
			c.Kind = KindBytes
		}
		// TIME is a duration in MySQL (-838:59:59 to 838:59:59), so it stays text.
		r.cols = append(r.cols, c)
	}
	r.raw = make([]sql.RawBytes, len(r.cols))
	r.dest = make([]any, len(r.cols))
	for i := range r.raw {
		r.dest[i] = &r.raw[i]
	}
	r.parse = mysqlValue
	return r, nil
}

// sqlRows reads a database/sql result into batches; parse turns one column's bytes into a value.
type sqlRows struct {
	conn    *sql.Conn
	rows    *sql.Rows
	restore func()
	cols    []Column
	raw     []sql.RawBytes
	dest    []any
	parse   func(c *Column, i int, src []byte, b *Batch) (parquet.Value, error)
	closed  bool
	n       int64
	// scanAny, when set, receives the row instead of raw (drivers whose values are typed).
	scanAny []any
}

func (r *sqlRows) Columns() []Column { return r.cols }

func (r *sqlRows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.rows != nil {
		_ = r.rows.Close()
	}
	if r.restore != nil {
		r.restore()
	}
	if r.conn != nil {
		return r.conn.Close()
	}
	return nil
}

func (r *sqlRows) Next(ctx context.Context, b *Batch) error {
	start := len(b.Rows)
	for !b.Full() {
		if !r.rows.Next() {
			if err := r.rows.Err(); err != nil {
				return err
			}
			if len(b.Rows) == start {
				return io.EOF
			}
			return nil
		}
		r.n++
		if err := r.rows.Scan(r.dest...); err != nil {
			return fmt.Errorf("error reading row %d: %w", r.n, err)
		}
		row := b.newRow(len(r.cols))
		for i, src := range r.raw {
			if r.scanAny == nil && src == nil {
				row = append(row, null(i))
				continue
			}
			v, err := r.parse(&r.cols[i], i, src, b)
			if err != nil {
				return fmt.Errorf("error decoding column %q of row %d: %w", r.cols[i].Name, r.n, err)
			}
			row = append(row, v)
		}
		b.setRow(row)
	}
	return nil
}

func mysqlValue(c *Column, i int, src []byte, b *Batch) (parquet.Value, error) {
	switch c.Kind {
	case KindInt64:
		if c.SourceType == "BIT" {
			var n uint64
			for _, x := range src {
				n = n<<8 | uint64(x)
			}
			return present(parquet.Int64Value(int64(n)), i), nil
		}
		n, err := strconv.ParseInt(string(src), 10, 64)
		if err != nil {
			return parquet.Value{}, err
		}
		return present(parquet.Int64Value(n), i), nil
	case KindFloat64:
		f, err := strconv.ParseFloat(string(src), 64)
		if err != nil {
			return parquet.Value{}, err
		}
		return present(parquet.DoubleValue(f), i), nil
	case KindDecimal:
		v, err := decimalValue(c, src, b)
		return present(v, i), err
	case KindDate:
		if zeroDate(src) {
			return null(i), nil
		}
		us, err := parseDateTime(src)
		if err != nil {
			return parquet.Value{}, err
		}
		return present(parquet.Int32Value(int32(us/86_400_000_000)), i), nil
	case KindTimestamp, KindTimestampTZ:
		if zeroDate(src) {
			return null(i), nil
		}
		us, err := parseDateTime(src)
		if err != nil {
			return parquet.Value{}, err
		}
		return present(parquet.Int64Value(us), i), nil
	default:
		return present(parquet.ByteArrayValue(b.bytes(src)), i), nil
	}
}

// zeroDate: MySQL's "0000-00-00" placeholder date, which is no date at all; it is imported as NULL.
func zeroDate(src []byte) bool { return strings.HasPrefix(string(src), "0000-00-00") }

// parseDateTime reads "YYYY-MM-DD[ HH:MM:SS[.ffffff]]" as microseconds since the Unix epoch,
// taking the wall clock as UTC.
func parseDateTime(s []byte) (int64, error) {
	bad := fmt.Errorf("%q is not a date and time", s)
	num := func(p []byte) (int, bool) {
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, len(p) > 0
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, bad
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return 0, bad
	}
	var h, mi, sec, frac int
	if len(s) > 10 {
		if len(s) < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':' {
			return 0, bad
		}
		var ok4, ok5, ok6 bool
		h, ok4 = num(s[11:13])
		mi, ok5 = num(s[14:16])
		sec, ok6 = num(s[17:19])
		if !ok4 || !ok5 || !ok6 {
			return 0, bad
		}
		if len(s) > 19 {
			if s[19] != '.' || len(s) > 26 {
				return 0, bad
			}
			f, ok := num(s[20:])
			if !ok {
				return 0, bad
			}
			for range 26 - len(s) {
				f *= 10
			}
			frac = f
		}
	}
	days := daysFromCivil(y, mo, d)
	return ((days*24+int64(h))*60+int64(mi))*60_000_000 + int64(sec)*1_000_000 + int64(frac), nil
}

// daysFromCivil is the number of days from 1970-01-01 to the proleptic Gregorian date.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
