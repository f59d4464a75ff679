package exporter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/maestro-sql/maestro/internal/export/pgexport"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// ndjsonRows streams the rows of newline-delimited JSON files (a warehouse's extract of one
// table, possibly in several shards) one at a time, converting each value by its column's type.
// JSON keeps what CSV loses: NULL apart from the empty string, and booleans and numbers apart
// from text. Memory is one row, whatever the table's size.
type ndjsonRows struct {
	bucket  Bucket
	keys    []string
	columns []warehouse.Column

	cur  io.ReadCloser
	dec  *json.Decoder
	key  string
	line int64
	raw  map[string]json.RawMessage
	row  []any
}

func newNDJSONRows(bucket Bucket, keys []string, columns []warehouse.Column) *ndjsonRows {
	return &ndjsonRows{bucket: bucket, keys: keys, columns: columns, row: make([]any, len(columns))}
}

// Next returns the next row, or io.EOF after the last. The slice is reused.
func (r *ndjsonRows) Next(ctx context.Context) ([]any, error) {
	for {
		if r.dec == nil {
			if len(r.keys) == 0 {
				return nil, io.EOF
			}
			r.key, r.keys = r.keys[0], r.keys[1:]
			rc, err := r.bucket.Read(ctx, r.key)
			if err != nil {
				return nil, fmt.Errorf("error reading the extracted rows %s: %w", r.key, err)
			}
			r.cur, r.dec, r.line = rc, json.NewDecoder(bufio.NewReaderSize(rc, 256<<10)), 0
		}
		clear(r.raw)
		err := r.dec.Decode(&r.raw)
		if errors.Is(err, io.EOF) {
			_ = r.cur.Close()
			r.cur, r.dec = nil, nil
			continue
		}
		r.line++
		if err != nil {
			return nil, fmt.Errorf("error decoding row %d of %s: %w", r.line, r.key, err)
		}
		for i, c := range r.columns {
			v, err := jsonValue(c.Type, r.raw[c.Name])
			if err != nil {
				return nil, fmt.Errorf("error decoding column %q of row %d of %s: %w", c.Name, r.line, r.key, err)
			}
			r.row[i] = v
		}
		return r.row, nil
	}
}

// Close closes the file being read, if any.
func (r *ndjsonRows) Close() {
	if r.cur != nil {
		_ = r.cur.Close()
		r.cur, r.dec = nil, nil
	}
}

// jsonValue converts one JSON value of a column of type typ (a GoogleSQL type name) to the Go
// value the sheets and pgexport packages take: nil, bool, int64, float64, string (STRING, and
// NUMERIC as exact decimal text), []byte, time.Time (TIMESTAMP), civil.Date, civil.Time,
// civil.DateTime, or json.RawMessage (JSON, ARRAY, STRUCT). Both warehouses' spellings are
// accepted: BigQuery writes INT64 and NUMERIC as strings, DuckDB as numbers.
func jsonValue(typ string, raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	base, _, _ := strings.Cut(strings.ToUpper(typ), "(") // NUMERIC(10, 2)
	base = strings.TrimSpace(base)
	if strings.HasPrefix(base, "ARRAY") || strings.HasPrefix(base, "STRUCT") || base == "JSON" {
		return json.RawMessage(bytes.Clone(raw)), nil
	}
	text, isString := scalarText(raw)
	switch base {
	case "INT64", "INTEGER", "INT":
		return strconv.ParseInt(text, 10, 64)
	case "FLOAT64", "FLOAT":
		switch text {
		case "NaN":
			return math.NaN(), nil
		case "Infinity", "inf":
			return math.Inf(1), nil
		case "-Infinity", "-inf":
			return math.Inf(-1), nil
		}
		return strconv.ParseFloat(text, 64)
	case "NUMERIC", "BIGNUMERIC", "DECIMAL", "BIGDECIMAL":
		if _, err := strconv.ParseFloat(text, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		return text, nil
	case "BOOL", "BOOLEAN":
		return strconv.ParseBool(text)
	case "STRING":
		return text, nil
	case "BYTES":
		if b, err := base64.StdEncoding.DecodeString(text); err == nil {
			return b, nil
		}
		return []byte(text), nil // DuckDB writes a BLOB as its escaped text
	case "DATE":
		return civil.ParseDate(text)
	case "TIME":
		return civil.ParseTime(text)
	case "DATETIME":
		return civil.ParseDateTime(strings.Replace(text, " ", "T", 1))
	case "TIMESTAMP":
		return parseTimestamp(text)
	}
	if !isString {
		return json.RawMessage(bytes.Clone(raw)), nil
	}
	return text, nil // INTERVAL, GEOGRAPHY, ...: their text
}

// scalarText is a JSON string's value, or a number's or boolean's literal text.
func scalarText(raw json.RawMessage) (string, bool) {
	if raw[0] != '"' {
		return string(raw), false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw), false
	}
	return s, true
}

// timestampLayouts are the ways the warehouses write a TIMESTAMP in JSON: BigQuery
// "2026-11-25 06:00:00.5 UTC" or RFC 3339, DuckDB "2026-11-25 06:00:00.5+00" (with time zone)
// or without any zone (a naive timestamp, read as UTC).
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999 MST",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
}

func parseTimestamp(s string) (time.Time, error) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil { // seconds since the epoch
		whole, frac := math.Modf(secs)
		return time.Unix(int64(whole), int64(frac*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a timestamp", s)
}

// pgRows adapts ndjsonRows to pgexport.Rows (pgx.CopyFromSource), converting the values pgx
// cannot encode as they are to its own types.
type pgRows struct {
	ctx   context.Context
	rows  *ndjsonRows
	types []pgexport.Type
	vals  []any
	err   error
}

func (p *pgRows) Next() bool {
	row, err := p.rows.Next(p.ctx)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			p.err = err
		}
		return false
	}
	if p.vals == nil {
		p.vals = make([]any, len(row))
	}
	for i, v := range row {
		p.vals[i], err = pgValue(p.types[i], v)
		if err != nil {
			p.err = fmt.Errorf("error converting column %q: %w", p.rows.columns[i].Name, err)
			return false
		}
	}
	return true
}

func (p *pgRows) Values() ([]any, error) { return p.vals, nil }
func (p *pgRows) Err() error             { return p.err }

func pgValue(t pgexport.Type, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		if t == pgexport.Numeric || t == pgexport.BigNumeric {
			var n pgtype.Numeric
			if err := n.Scan(x); err != nil {
				return nil, fmt.Errorf("%q is not a decimal: %w", x, err)
			}
			return n, nil
		}
	case civil.Date:
		return x.In(time.UTC), nil
	case civil.DateTime:
		return x.In(time.UTC), nil
	case civil.Time:
		us := int64(x.Hour)*3600e6 + int64(x.Minute)*60e6 + int64(x.Second)*1e6 + int64(x.Nanosecond)/1e3
		return pgtype.Time{Microseconds: us, Valid: true}, nil
	case json.RawMessage:
		return []byte(x), nil
	}
	return v, nil
}
