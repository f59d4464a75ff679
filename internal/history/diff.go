package history

import (
	"fmt"
	"strings"
)

// diffContext is how many unchanged lines surround each change, as in git diff.
const diffContext = 3

// maxDiffCells bounds the table the line matching fills (lines of a × lines of b, after the
// common start and end are set aside): beyond it the middle is shown as removed then added,
// which is still a correct diff, only a longer one.
const maxDiffCells = 4 << 20

// UnifiedDiff returns the unified diff (as git diff prints it, three lines of context) that turns
// a into b, "" when they are equal. aName and bName head it ("a/sales/orders.sql"); an empty
// name stands for a file that does not exist (/dev/null).
func UnifiedDiff(aName, bName, a, b string) string {
	if a == b {
		return ""
	}
	al, bl := splitLines(a), splitLines(b)
	ops := diffLines(al, bl)
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", orDevNull(aName), orDevNull(bName))
	// Hunks: runs of changes with up to 2*context equal lines between them.
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(i-diffContext, 0)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j + 1
				continue
			}
			if j-end >= 2*diffContext {
				break
			}
		}
		end = min(end+diffContext, len(ops))
		writeHunk(&out, ops[start:end])
		i = end
	}
	return out.String()
}

func orDevNull(name string) string {
	if name == "" {
		return "/dev/null"
	}
	return name
}

type diffOp struct {
	kind  byte // ' ', '-', '+'
	line  string
	aLine int // 1-based line in a of ' ' and '-' ops
	bLine int // 1-based line in b of ' ' and '+' ops
	noEOL bool
}

func writeHunk(out *strings.Builder, ops []diffOp) {
	aStart, bStart, aCount, bCount := 0, 0, 0, 0
	for _, op := range ops {
		if op.kind != '+' {
			if aCount == 0 {
				aStart = op.aLine
			}
			aCount++
		}
		if op.kind != '-' {
			if bCount == 0 {
				bStart = op.bLine
			}
			bCount++
		}
	}
	// An empty side is numbered by the line before it, as diff does.
	if aCount == 0 {
		aStart = ops[0].aLine - 1
	}
	if bCount == 0 {
		bStart = ops[0].bLine - 1
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(aStart, aCount), hunkRange(bStart, bCount))
	for _, op := range ops {
		out.WriteByte(op.kind)
		out.WriteString(strings.TrimSuffix(op.line, "\n"))
		out.WriteByte('\n')
		if op.noEOL {
			out.WriteString("\\ No newline at end of file\n")
		}
	}
}

func hunkRange(start, count int) string {
	if count == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}

// splitLines splits s after each "\n"; the last line may lack one.
func splitLines(s string) []string {
	var out []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// diffLines returns the edit script from a to b: a longest common subsequence of lines, the
// removals of a line put before the additions that replace it.
func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	am, bm := a[pre:len(a)-suf], b[pre:len(b)-suf]

	var ops []diffOp
	ai, bi := 0, 0 // lines of a and b emitted so far
	emit := func(kind byte, line string) {
		op := diffOp{kind: kind, line: line, aLine: ai + 1, bLine: bi + 1}
		switch kind {
		case ' ':
			ai++
			bi++
			op.noEOL = !strings.HasSuffix(line, "\n")
		case '-':
			ai++
			op.noEOL = !strings.HasSuffix(line, "\n")
		case '+':
			bi++
			op.noEOL = !strings.HasSuffix(line, "\n")
		}
		ops = append(ops, op)
	}
	for _, l := range a[:pre] {
		emit(' ', l)
	}
	n, m := len(am), len(bm)
	if n*m > maxDiffCells {
		for _, l := range am {
			emit('-', l)
		}
		for _, l := range bm {
			emit('+', l)
		}
	} else {
		// lcs[i][j]: length of the longest common subsequence of am[i:] and bm[j:].
		lcs := make([][]int32, n+1)
		for i := range lcs {
			lcs[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if am[i] == bm[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && am[i] == bm[j]:
				emit(' ', am[i])
				i++
				j++
			case j == m || i < n && lcs[i+1][j] >= lcs[i][j+1]:
				emit('-', am[i])
				i++
			default:
				emit('+', bm[j])
				j++
			}
		}
	}
	for _, l := range a[len(a)-suf:] {
		emit(' ', l)
	}
	return ops
}
