package bigquerywarehouse

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"cloud.google.com/go/bigquery"

	"github.com/maestro-sql/maestro/internal/sqlref"
)

// maxLabels, maxLabelLen: BigQuery allows 64 labels per resource, keys and values of at most 63
// characters.
const (
	maxLabels   = 64
	maxLabelLen = 63
)

// Labels makes labels acceptable to BigQuery: keys and values lowercased, every character other
// than a letter, a digit, '_' or '-' replaced by '_', cut to 63 characters; a key that does not
// start with a letter gets an "l_" prefix; empty keys are dropped. Keys that collide after
// sanitising keep the value of the first in sorted order, and at most 64 labels are kept (in
// sorted order of the original keys), so the result is deterministic.
func Labels(in map[string]string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]string, len(in))
	for _, k := range keys {
		if len(out) == maxLabels {
			break
		}
		key := labelText(k)
		if key == "" {
			continue
		}
		if r := []rune(key)[0]; !unicode.IsLetter(r) {
			key = labelText("l_" + key)
		}
		if _, dup := out[key]; dup {
			continue
		}
		out[key] = labelText(in[k])
	}
	return out
}

func labelText(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToLower(s) {
		if n == maxLabelLen {
			break
		}
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			r = '_'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// Partitioning turns a table's PartitionBy (spec.Table) into BigQuery's partitioning of the
// destination:
//
//	""                                           unpartitioned
//	col                                          daily partitions on col (DATE, TIMESTAMP or DATETIME)
//	DATE(col)                                    daily partitions on col
//	DATE_TRUNC(col, MONTH|YEAR)                  monthly or yearly
//	TIMESTAMP_TRUNC(col, HOUR|DAY|MONTH|YEAR)    likewise; also DATETIME_TRUNC
//	_PARTITIONDATE, _PARTITIONTIME, DATE(_PARTITIONTIME)  ingestion time, daily
//	RANGE_BUCKET(col, GENERATE_ARRAY(a, b, n))   integer range partitions
//
// as in BigQuery's PARTITION BY clause. Anything else is an error naming the accepted forms.
func Partitioning(expr string) (*bigquery.TimePartitioning, *bigquery.RangePartitioning, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil, nil
	}
	toks, err := sqlref.Lex(expr)
	if err != nil {
		return nil, nil, fmt.Errorf("error reading partition_by %q: %w", expr, err)
	}
	bad := fmt.Errorf("partition_by %q is not a column, DATE(col), DATE_TRUNC/TIMESTAMP_TRUNC/DATETIME_TRUNC(col, unit), "+
		"_PARTITIONDATE/_PARTITIONTIME or RANGE_BUCKET(col, GENERATE_ARRAY(start, end, interval))", expr)
	p := &exprParser{toks: toks}
	fn, args, ok := p.call()
	if !ok {
		if len(toks) == 1 && isIdent(toks[0]) {
			col := sqlref.UnquoteIdent(toks[0].Text)
			if ingestion(col) {
				return &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType}, nil, nil
			}
			return &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: col}, nil, nil
		}
		return nil, nil, bad
	}
	switch strings.ToUpper(fn) {
	case "DATE":
		if len(args) != 1 || len(args[0]) != 1 || !isIdent(args[0][0]) {
			return nil, nil, bad
		}
		col := sqlref.UnquoteIdent(args[0][0].Text)
		if ingestion(col) {
			return &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType}, nil, nil
		}
		return &bigquery.TimePartitioning{Type: bigquery.DayPartitioningType, Field: col}, nil, nil
	case "DATE_TRUNC", "TIMESTAMP_TRUNC", "DATETIME_TRUNC":
		if len(args) != 2 || len(args[0]) != 1 || !isIdent(args[0][0]) || len(args[1]) != 1 {
			return nil, nil, bad
		}
		unit := bigquery.TimePartitioningType(strings.ToUpper(args[1][0].Text))
		switch unit {
		case bigquery.HourPartitioningType, bigquery.DayPartitioningType, bigquery.MonthPartitioningType, bigquery.YearPartitioningType:
		default:
			return nil, nil, bad
		}
		if unit == bigquery.HourPartitioningType && strings.EqualFold(fn, "DATE_TRUNC") {
			return nil, nil, bad
		}
		col := sqlref.UnquoteIdent(args[0][0].Text)
		if ingestion(col) {
			return &bigquery.TimePartitioning{Type: unit}, nil, nil
		}
		return &bigquery.TimePartitioning{Type: unit, Field: col}, nil, nil
	case "RANGE_BUCKET":
		if len(args) != 2 || len(args[0]) != 1 || !isIdent(args[0][0]) {
			return nil, nil, bad
		}
		inner := &exprParser{toks: args[1]}
		gen, nums, ok := inner.call()
		if !ok || !strings.EqualFold(gen, "GENERATE_ARRAY") || len(nums) != 3 {
			return nil, nil, bad
		}
		var v [3]int64
		for i, n := range nums {
			x, err := intArg(n)
			if err != nil {
				return nil, nil, bad
			}
			v[i] = x
		}
		if v[2] <= 0 || v[1] <= v[0] {
			return nil, nil, fmt.Errorf("partition_by %q: GENERATE_ARRAY needs start < end and a positive interval", expr)
		}
		return nil, &bigquery.RangePartitioning{
			Field: sqlref.UnquoteIdent(args[0][0].Text),
			Range: &bigquery.RangePartitioningRange{Start: v[0], End: v[1], Interval: v[2]},
		}, nil
	}
	return nil, nil, bad
}

func ingestion(col string) bool {
	return strings.EqualFold(col, "_PARTITIONDATE") || strings.EqualFold(col, "_PARTITIONTIME")
}

func isIdent(t sqlref.Token) bool {
	return t.Kind == sqlref.KindIdent || t.Kind == sqlref.KindQuotedIdent
}

func intArg(toks []sqlref.Token) (int64, error) {
	text := ""
	for _, t := range toks {
		text += t.Text
	}
	return strconv.ParseInt(text, 10, 64)
}

// exprParser reads one function call f(arg, ...) spanning all its tokens.
type exprParser struct {
	toks []sqlref.Token
}

// call splits NAME ( a , b ) into the name and each argument's tokens, at parenthesis depth 1.
func (p *exprParser) call() (name string, args [][]sqlref.Token, ok bool) {
	t := p.toks
	if len(t) < 3 || (t[0].Kind != sqlref.KindIdent && t[0].Kind != sqlref.KindKeyword) || !t[1].Is("(") || !t[len(t)-1].Is(")") {
		return "", nil, false
	}
	depth, start := 0, 2
	for i := 1; i < len(t); i++ {
		switch {
		case t[i].Is("("):
			depth++
		case t[i].Is(")"):
			depth--
			if depth == 0 {
				if i != len(t)-1 {
					return "", nil, false
				}
				if i > start {
					args = append(args, t[start:i])
				}
			}
		case t[i].Is(",") && depth == 1:
			args = append(args, t[start:i])
			start = i + 1
		}
	}
	return t[0].Text, args, depth == 0
}
