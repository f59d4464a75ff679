package sheetsfake

import (
	"strconv"
	"strings"
)

// a1Range is a parsed A1-notation range. Rows and columns are 0-based and inclusive; an end of
// -1 means "to the edge of the grid" (open-ended, as in "A1" used as a write anchor or "A:C").
type a1Range struct {
	sheet    string // "" means the first tab
	hasSheet bool
	r1, c1   int64
	r2, c2   int64
	// anchor: the range is one cell ("A1"); reads get that cell, writes extend from it.
	anchor bool
}

// parseA1 parses "'My tab'!A1:C10", "Tab!A1", "Tab", "A1:C10" and "A:C". ok is false when s is
// not A1 notation.
func parseA1(s string) (a1Range, bool) {
	rng := a1Range{r2: -1, c2: -1}
	cells := s
	switch {
	case strings.HasPrefix(s, "'"):
		name, rest, ok := unquoteSheet(s)
		if !ok {
			return rng, false
		}
		rng.sheet, rng.hasSheet = name, true
		if rest == "" {
			return rng, true
		}
		if !strings.HasPrefix(rest, "!") {
			return rng, false
		}
		cells = rest[1:]
	case strings.Contains(s, "!"):
		i := strings.LastIndex(s, "!")
		rng.sheet, rng.hasSheet, cells = s[:i], true, s[i+1:]
	default:
		if _, ok := parseCells(s, rng); !ok {
			// A bare word that is not a cell reference names a whole tab.
			rng.sheet, rng.hasSheet = s, true
			return rng, s != ""
		}
	}
	return parseCells(cells, rng)
}

func parseCells(s string, rng a1Range) (a1Range, bool) {
	first, second, twoParts := strings.Cut(s, ":")
	r, c, ok := parseCell(first)
	if !ok {
		return rng, false
	}
	rng.r1, rng.c1 = max(r, 0), max(c, 0)
	if !twoParts {
		if r < 0 || c < 0 {
			return rng, false
		}
		// A single cell anchors a write that extends as far as the values go.
		rng.anchor = true
		return rng, true
	}
	r2, c2, ok := parseCell(second)
	if !ok {
		return rng, false
	}
	rng.r2, rng.c2 = r2, c2
	if (r2 >= 0 && r2 < rng.r1) || (c2 >= 0 && c2 < rng.c1) {
		return rng, false
	}
	return rng, true
}

// parseCell parses "B3" (row 2, col 1), "B" (row -1) or "3" (col -1).
func parseCell(s string) (row, col int64, ok bool) {
	i := 0
	for i < len(s) && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')) {
		i++
	}
	letters, digits := strings.ToUpper(s[:i]), s[i:]
	if letters == "" && digits == "" {
		return 0, 0, false
	}
	col, row = -1, -1
	if letters != "" {
		if len(letters) > 3 {
			return 0, 0, false
		}
		col = 0
		for _, ch := range letters {
			col = col*26 + int64(ch-'A'+1)
		}
		col--
	}
	if digits != "" {
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil || n < 1 {
			return 0, 0, false
		}
		row = n - 1
	}
	return row, col, true
}

func unquoteSheet(s string) (name, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", "", false
}

// columnName turns a 0-based column index into letters: 0 → A, 26 → AA.
func columnName(col int64) string {
	var b []byte
	for col++; col > 0; col = (col - 1) / 26 {
		b = append([]byte{byte('A' + (col-1)%26)}, b...)
	}
	return string(b)
}

// quoteSheet renders a tab name the way Sheets does in the ranges it returns: bare when it is a
// plain identifier, single-quoted (quotes doubled) otherwise.
func quoteSheet(name string) string {
	plain := name != ""
	for i, ch := range name {
		if !(ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (i > 0 && ch >= '0' && ch <= '9')) {
			plain = false
			break
		}
	}
	if plain {
		if _, ok := parseCells(name, a1Range{}); ok {
			plain = false
		}
	}
	if plain {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", "''") + "'"
}

func formatRange(sheet string, r1, c1, r2, c2 int64) string {
	s := quoteSheet(sheet) + "!" + columnName(c1) + strconv.FormatInt(r1+1, 10)
	if r2 != r1 || c2 != c1 {
		s += ":" + columnName(c2) + strconv.FormatInt(r2+1, 10)
	}
	return s
}
