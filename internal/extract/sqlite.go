package extract

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// SQLite reads from a SQLite database opened with modernc.org/sqlite. SQLite types values, not
// columns, so a column's kind comes from its declared type by SQLite's affinity rules, and each
// value is converted to it; a value that does not convert (text in an INTEGER column) fails the
// import with the row and column named, rather than being dropped.
type SQLite struct {
	db *sql.DB
}

// NewSQLite reads through db; the caller keeps owning it.
func NewSQLite(db *sql.DB) *SQLite { return &SQLite{db: db} }

// Dialect is DialectSQLite.
func (s *SQLite) Dialect() Dialect { return DialectSQLite }

// Query runs sql.
func (s *SQLite) Query(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		_ = rows.Close()
		return nil, fmt.Errorf("error reading the result's column types: %w", err)
	}
	r := &sqlRows{rows: rows, parse: nil}
	for _, ct := range types {
		decl := strings.ToUpper(ct.DatabaseTypeName())
		c := Column{Name: ct.Name(), Kind: KindString, SourceType: decl}
		switch {
		case strings.Contains(decl, "BOOL"):
			c.Kind = KindBool
		case strings.Contains(decl, "INT"):
			c.Kind = KindInt64
		case strings.Contains(decl, "REAL"), strings.Contains(decl, "FLOA"), strings.Contains(decl, "DOUB"):
			c.Kind = KindFloat64
		case strings.Contains(decl, "BLOB"):
			c.Kind = KindBytes
		case strings.Contains(decl, "JSON"):
			c.Kind = KindJSON
		case decl == "DATE":
			c.Kind = KindDate
		case strings.Contains(decl, "DATETIME"), strings.Contains(decl, "TIMESTAMP"):
			c.Kind = KindTimestampTZ
		}
		// Everything else, NUMERIC and DECIMAL included (SQLite stores those as doubles or
		// integers, so a declared precision promises nothing), is imported as text.
		r.cols = append(r.cols, c)
	}
	vals := make([]any, len(r.cols))
	r.dest = make([]any, len(r.cols))
	for i := range vals {
		r.dest[i] = &vals[i]
	}
	r.raw = make([]sql.RawBytes, len(r.cols))
	// sqlRows checks raw for NULLs: keep it in step with vals through the parse hook.
	r.parse = func(c *Column, i int, _ []byte, b *Batch) (parquet.Value, error) {
		return sqliteValue(c, i, vals[i], b)
	}
	r.scanAny = vals
	return r, nil
}

func sqliteValue(c *Column, i int, v any, b *Batch) (parquet.Value, error) {
	if v == nil {
		return null(i), nil
	}
	bad := func() (parquet.Value, error) {
		return parquet.Value{}, fmt.Errorf("%T value %v does not convert to %s (declared %s)", v, v, c.Kind, c.SourceType)
	}
	switch c.Kind {
	case KindInt64:
		switch x := v.(type) {
		case int64:
			return present(parquet.Int64Value(x), i), nil
		case float64:
			if x == float64(int64(x)) {
				return present(parquet.Int64Value(int64(x)), i), nil
			}
		}
		return bad()
	case KindBool:
		if x, ok := v.(int64); ok && (x == 0 || x == 1) {
			return present(parquet.BooleanValue(x == 1), i), nil
		}
		if x, ok := v.(bool); ok {
			return present(parquet.BooleanValue(x), i), nil
		}
		return bad()
	case KindFloat64:
		switch x := v.(type) {
		case float64:
			return present(parquet.DoubleValue(x), i), nil
		case int64:
			return present(parquet.DoubleValue(float64(x)), i), nil
		}
		return bad()
	case KindDate, KindTimestampTZ:
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case string:
			us, err := parseDateTime([]byte(x))
			if err != nil {
				return parquet.Value{}, err
			}
			t = time.UnixMicro(us).UTC()
		default:
			return bad()
		}
		if c.Kind == KindDate {
			return present(parquet.Int32Value(int32(daysFromCivil(t.Year(), int(t.Month()), t.Day()))), i), nil
		}
		return present(parquet.Int64Value(t.UnixMicro()), i), nil
	}
	var s []byte
	switch x := v.(type) {
	case string:
		s = b.bytes([]byte(x))
	case []byte:
		s = b.bytes(x)
	case int64:
		s = strconv.AppendInt(nil, x, 10)
	case float64:
		s = strconv.AppendFloat(nil, x, 'g', -1, 64)
	case time.Time:
		s = []byte(x.UTC().Format(time.RFC3339Nano))
	default:
		return bad()
	}
	return present(parquet.ByteArrayValue(s), i), nil
}
