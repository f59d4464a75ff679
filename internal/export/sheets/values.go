package sheets

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/civil"
)

// maxCellChars is the most text Sheets accepts in one cell.
const maxCellChars = 50_000

// maxExactInt is the largest integer a Sheets number (an IEEE double) holds exactly.
const maxExactInt = 1 << 53

// maxNumberDigits is how many significant digits a Sheets number keeps and shows.
const maxNumberDigits = 15

// cellValue converts one value of col to what is sent to Sheets (with valueInputOption RAW):
// a float64 or int64 (a number), a bool, or a string (text, never parsed as a formula).
func cellValue(col Column, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case bool:
		return x, nil
	case int:
		return intValue(int64(x)), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int64:
		return intValue(x), nil
	case uint8:
		return int64(x), nil
	case uint16:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case uint:
		return uintValue(uint64(x)), nil
	case uint64:
		return uintValue(x), nil
	case float32:
		return floatValue(float64(x)), nil
	case float64:
		return floatValue(x), nil
	case *big.Rat:
		if x == nil {
			return "", nil
		}
		return decimalValue(strings.TrimRight(strings.TrimRight(x.FloatString(38), "0"), ".")), nil
	case *big.Int:
		if x == nil {
			return "", nil
		}
		return decimalValue(x.String()), nil
	case string:
		return textValue(col, x)
	case []byte:
		return textValue(col, base64.StdEncoding.EncodeToString(x))
	case json.RawMessage:
		return textValue(col, string(x))
	case time.Time:
		return timeValue(col, x), nil
	case civil.Date:
		return x.String(), nil
	case civil.Time:
		return x.String(), nil
	case civil.DateTime:
		return x.Date.String() + "T" + x.Time.String(), nil
	case time.Duration:
		return x.String(), nil
	case fmt.Stringer:
		return textValue(col, x.String())
	case []any, map[string]any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("error encoding a %T as JSON: %w", v, err)
		}
		return textValue(col, string(b))
	}
	return nil, fmt.Errorf("unsupported value of Go type %T", v)
}

func intValue(n int64) any {
	if n > maxExactInt || n < -maxExactInt {
		return strconv.FormatInt(n, 10) // as text, so no digit is lost
	}
	return n
}

func uintValue(n uint64) any {
	if n > maxExactInt {
		return strconv.FormatUint(n, 10)
	}
	return int64(n)
}

func floatValue(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN" // JSON has no NaN or infinities
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// decimalValue sends a plain decimal as a number when Sheets can hold it without losing a digit,
// and as text otherwise.
func decimalValue(s string) any {
	if !fitsNumber(s) {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return f
}

// fitsNumber says whether s is a plain decimal ("-12.340") with at most 15 significant digits.
func fitsNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(frac) {
		return false
	}
	digits := strings.TrimLeft(intPart+strings.TrimRight(frac, "0"), "0")
	if strings.TrimLeft(intPart, "0") == "" { // 0.000123: leading fraction zeros are not significant
		digits = strings.TrimLeft(strings.TrimRight(frac, "0"), "0")
	}
	return len(digits) <= maxNumberDigits
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// textValue sends text as text, except that numeric columns whose driver returns digits as
// strings (NUMERIC, BIGNUMERIC, INT64, FLOAT64) become numbers when they fit.
func textValue(col Column, s string) (any, error) {
	switch strings.ToUpper(col.Type) {
	case "NUMERIC", "BIGNUMERIC", "DECIMAL", "BIGDECIMAL", "INT64", "INTEGER", "FLOAT64", "FLOAT":
		return decimalValue(s), nil
	}
	if n := utf8.RuneCountInString(s); n > maxCellChars {
		return nil, fmt.Errorf("text of %d characters is longer than the %d a Sheets cell holds", n, maxCellChars)
	}
	return s, nil
}

// timeValue renders a time as ISO 8601 text in the form the column's type calls for.
func timeValue(col Column, t time.Time) string {
	switch strings.ToUpper(col.Type) {
	case "DATE":
		return t.Format(time.DateOnly)
	case "DATETIME":
		return t.Format("2006-01-02T15:04:05.999999999")
	case "TIME":
		return t.Format("15:04:05.999999999")
	}
	return t.UTC().Format(time.RFC3339Nano)
}
