package sqlref_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/tools/txtar"

	"github.com/maestro-sql/maestro/internal/sqlref"
)

// The golden cases are hand-written truths about what a piece of SQL reads and writes. They are
// never regenerated from the implementation, so there is deliberately no -update flag: a failing
// case means either the extractor is wrong or a human must re-reason the case.
//
// Each testdata/golden/*.txtar archive holds pairs NAME.sql and NAME.want. A .want file has, one
// per line (blank lines and lines starting with # are ignored):
//
//	default_project: P      option, before any item
//	default_dataset: D      option, before any item
//	read p.d.t              a table read (TableName.String())
//	write p.d.t             a table written
//	error [SUBSTRING]       Extract must fail (with an error containing SUBSTRING, if given)
//	error-at LINE:COL       the error must name that line and column
//
// Items are sorted (by string) and unique within each kind. An empty .want reads and writes nothing.

const goldenDir = "testdata/golden"

// minGoldenCases keeps the corpus from silently shrinking.
const minGoldenCases = 300

type goldenCase struct {
	archive string
	name    string
	sql     string
	want    goldenWant
}

type goldenWant struct {
	opts     sqlref.Options
	reads    []string
	writes   []string
	errs     []string
	errLine  int
	errCol   int
	hasErrAt bool
}

func (w goldenWant) failing() bool { return len(w.errs) > 0 || w.hasErrAt }

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range loadGolden(t) {
		t.Run(c.archive+"/"+c.name, func(t *testing.T) {
			t.Parallel()
			res, err := sqlref.Extract(c.sql, c.want.opts)
			if c.want.failing() {
				checkGoldenError(t, c, res, err)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v\n%s", err, describeCase(c))
			}
			require.NotNil(t, res, "Extract returned a nil result without an error\n%s", describeCase(c))
			gotReads, gotWrites := names(res.Reads), names(res.Writes)
			if !slices.Equal(gotReads, c.want.reads) || !slices.Equal(gotWrites, c.want.writes) {
				t.Fatalf("wrong tables\n%s--- got:\n%s--- diff:\n%s",
					describeCase(c), renderItems(gotReads, gotWrites),
					diffItems(c.want.reads, c.want.writes, gotReads, gotWrites))
			}
		})
	}
}

// TestGoldenResultShape checks, on every golden case that succeeds, the parts of the Result
// contract that do not depend on the case: sorted unique Reads and Writes, and References that
// cover exactly those names with spans pointing at the path in the source.
func TestGoldenResultShape(t *testing.T) {
	t.Parallel()
	for _, c := range loadGolden(t) {
		if c.want.failing() {
			continue
		}
		t.Run(c.archive+"/"+c.name, func(t *testing.T) {
			t.Parallel()
			res, err := sqlref.Extract(c.sql, c.want.opts)
			if err != nil || res == nil {
				t.Skipf("Extract failed (reported by TestGolden): %v", err)
			}
			for _, list := range [][]sqlref.TableName{res.Reads, res.Writes} {
				for i := 1; i < len(list); i++ {
					require.True(t, list[i-1].Less(list[i]),
						"Reads/Writes must be sorted and unique: %v before %v\n%s", list[i-1], list[i], describeCase(c))
				}
			}
			reported := map[string]bool{}
			for _, n := range append(names(res.Reads), names(res.Writes)...) {
				reported[n] = false
			}
			lastStart := -1
			for _, ref := range res.References {
				require.True(t, ref.Start >= 0 && ref.Start < ref.End && ref.End <= len(c.sql),
					"reference %v has span [%d,%d) outside the %d-byte SQL\n%s", ref.Name, ref.Start, ref.End, len(c.sql), describeCase(c))
				require.GreaterOrEqual(t, ref.Start, lastStart, "References must be in source order\n%s", describeCase(c))
				lastStart = ref.Start
				key := ref.Name.String()
				_, ok := reported[key]
				require.True(t, ok, "reference %s is neither a read nor a write\n%s", key, describeCase(c))
				reported[key] = true
				text := strings.ToLower(strings.Map(func(r rune) rune {
					if r == '`' || r == ' ' || r == '\t' || r == '\n' || r == '\r' {
						return -1
					}
					return r
				}, c.sql[ref.Start:ref.End]))
				// A legacy [p:d.t@decorator] or a dbt {{ ref('t') }} is rewritten whole, so its span
				// holds the table part without ending with it.
				whole := strings.HasPrefix(text, "[") || strings.HasPrefix(text, "{{")
				require.True(t, strings.HasSuffix(text, ref.Name.Table) || whole && strings.Contains(text, ref.Name.Table),
					"reference %s spans %q, which does not end with its table part\n%s", key, c.sql[ref.Start:ref.End], describeCase(c))
			}
			for n, seen := range reported {
				require.True(t, seen, "%s is reported but has no Reference\n%s", n, describeCase(c))
			}
		})
	}
}

// TestGoldenPrefixesNeverPanic feeds Extract every truncation of every golden SQL text: half a
// string, half a path, a dangling keyword. The result may be an error, but never a panic.
func TestGoldenPrefixesNeverPanic(t *testing.T) {
	t.Parallel()
	byArchive := map[string][]goldenCase{}
	for _, c := range loadGolden(t) {
		byArchive[c.archive] = append(byArchive[c.archive], c)
	}
	for archive, cases := range byArchive {
		t.Run(archive, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				// Long texts are cut at about 300 evenly spaced points to keep the suite fast.
				step := max(1, len(c.sql)/300)
				for n := 0; n < len(c.sql); n += step {
					if p := extractRecovering(c.sql[:n], c.want.opts); p != nil {
						t.Fatalf("Extract panicked on the first %d bytes of %s/%s: %v\n--- input:\n%s",
							n, c.archive, c.name, p, c.sql[:n])
					}
				}
			}
		})
	}
}

func extractRecovering(sql string, opts sqlref.Options) (panicked any) {
	defer func() { panicked = recover() }()
	_, _ = sqlref.Extract(sql, opts)
	return nil
}

// TestGoldenCorpusSize fails when cases disappear from the corpus.
func TestGoldenCorpusSize(t *testing.T) {
	t.Parallel()
	cases := loadGolden(t)
	perArchive := map[string]int{}
	for _, c := range cases {
		perArchive[c.archive]++
	}
	require.GreaterOrEqual(t, len(cases), minGoldenCases,
		"the golden corpus has only %d cases (%v); it must not shrink below %d", len(cases), perArchive, minGoldenCases)
}

func checkGoldenError(t *testing.T, c goldenCase, res *sqlref.Result, err error) {
	t.Helper()
	if err == nil {
		got := "<nil result>"
		if res != nil {
			got = renderItems(names(res.Reads), names(res.Writes))
		}
		t.Fatalf("expected an error, got success\n%s--- got:\n%s", describeCase(c), got)
	}
	msg := err.Error()
	for _, sub := range c.want.errs {
		if sub != "" && !strings.Contains(msg, sub) {
			t.Fatalf("error %q does not contain %q\n%s", msg, sub, describeCase(c))
		}
	}
	if c.want.hasErrAt && !mentionsPosition(msg, c.want.errLine, c.want.errCol) {
		t.Fatalf("error %q does not give the position line %d, column %d\n%s",
			msg, c.want.errLine, c.want.errCol, describeCase(c))
	}
}

// mentionsPosition accepts "line 3, column 7", "line 3 column 7" (any case) or "3:7".
func mentionsPosition(msg string, line, col int) bool {
	lower := strings.ToLower(msg)
	if strings.Contains(lower, fmt.Sprintf("%d:%d", line, col)) {
		return true
	}
	return containsNumberAfter(lower, "line ", line) && containsNumberAfter(lower, "column ", col)
}

// containsNumberAfter reports whether prefix followed by exactly n (not a longer number) occurs.
func containsNumberAfter(s, prefix string, n int) bool {
	want := prefix + strconv.Itoa(n)
	for i := 0; ; {
		j := strings.Index(s[i:], want)
		if j < 0 {
			return false
		}
		end := i + j + len(want)
		if end == len(s) || s[end] < '0' || s[end] > '9' {
			return true
		}
		i = end
	}
}

func names(list []sqlref.TableName) []string {
	out := make([]string, 0, len(list))
	for _, n := range list {
		out = append(out, n.String())
	}
	slices.Sort(out)
	return out
}

func describeCase(c goldenCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- case %s/%s", c.archive, c.name)
	if c.want.opts.DefaultProject != "" || c.want.opts.DefaultDataset != "" {
		fmt.Fprintf(&b, " (default_project %q, default_dataset %q)", c.want.opts.DefaultProject, c.want.opts.DefaultDataset)
	}
	b.WriteString("\n--- sql:\n")
	b.WriteString(c.sql)
	if !strings.HasSuffix(c.sql, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("--- want:\n")
	if c.want.failing() {
		for _, e := range c.want.errs {
			b.WriteString(strings.TrimSpace("error "+e) + "\n")
		}
		if c.want.hasErrAt {
			fmt.Fprintf(&b, "error-at %d:%d\n", c.want.errLine, c.want.errCol)
		}
	} else {
		b.WriteString(renderItems(c.want.reads, c.want.writes))
	}
	return b.String()
}

func renderItems(reads, writes []string) string {
	if len(reads) == 0 && len(writes) == 0 {
		return "(nothing)\n"
	}
	var b strings.Builder
	for _, r := range reads {
		fmt.Fprintf(&b, "read %s\n", r)
	}
	for _, w := range writes {
		fmt.Fprintf(&b, "write %s\n", w)
	}
	return b.String()
}

func diffItems(wantReads, wantWrites, gotReads, gotWrites []string) string {
	var b strings.Builder
	diff := func(kind string, want, got []string) {
		for _, w := range want {
			if !slices.Contains(got, w) {
				fmt.Fprintf(&b, "missing %s %s\n", kind, w)
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) {
				fmt.Fprintf(&b, "extra   %s %s\n", kind, g)
			}
		}
	}
	diff("read", wantReads, gotReads)
	diff("write", wantWrites, gotWrites)
	return b.String()
}

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(goldenDir, "*.txtar"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no golden archives in %s", goldenDir)
	var cases []goldenCase
	for _, path := range paths {
		cs, err := parseArchive(path)
		require.NoError(t, err)
		cases = append(cases, cs...)
	}
	return cases
}

func parseArchive(path string) ([]goldenCase, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("error reading golden archive %s: %w", path, err)
	}
	archive := strings.TrimSuffix(filepath.Base(path), ".txtar")
	ar := txtar.Parse(data)
	sqls := map[string]string{}
	wants := map[string]string{}
	var order []string
	for _, f := range ar.Files {
		var dst map[string]string
		var name string
		switch {
		case strings.HasSuffix(f.Name, ".sql"):
			dst, name = sqls, strings.TrimSuffix(f.Name, ".sql")
		case strings.HasSuffix(f.Name, ".want"):
			dst, name = wants, strings.TrimSuffix(f.Name, ".want")
		default:
			return nil, fmt.Errorf("error in %s: file %q is neither .sql nor .want", path, f.Name)
		}
		if _, dup := dst[name]; dup {
			return nil, fmt.Errorf("error in %s: %q appears twice", path, f.Name)
		}
		_, inSQL := sqls[name]
		_, inWant := wants[name]
		if !inSQL && !inWant {
			order = append(order, name)
		}
		dst[name] = string(f.Data)
	}
	var cases []goldenCase
	for _, name := range order {
		sql, okSQL := sqls[name]
		wantText, okWant := wants[name]
		if !okSQL || !okWant {
			return nil, fmt.Errorf("error in %s: case %q needs both %s.sql and %s.want", path, name, name, name)
		}
		if strings.TrimSpace(sql) == "" {
			return nil, fmt.Errorf("error in %s: case %q has empty SQL", path, name)
		}
		want, err := parseWant(wantText)
		if err != nil {
			return nil, fmt.Errorf("error parsing %s/%s.want: %w", archive, name, err)
		}
		cases = append(cases, goldenCase{archive: archive, name: name, sql: sql, want: want})
	}
	return cases, nil
}

func parseWant(text string) (goldenWant, error) {
	var w goldenWant
	sawItem := false
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "default_project:", "default_dataset:":
			if sawItem {
				return w, fmt.Errorf("line %d: options must come before items", i+1)
			}
			if key == "default_project:" {
				w.opts.DefaultProject = val
			} else {
				w.opts.DefaultDataset = val
			}
			continue
		case "read":
			w.reads = append(w.reads, val)
		case "write":
			w.writes = append(w.writes, val)
		case "error":
			w.errs = append(w.errs, val)
		case "error-at":
			l, c, ok := strings.Cut(val, ":")
			line, err1 := strconv.Atoi(l)
			col, err2 := strconv.Atoi(c)
			if !ok || err1 != nil || err2 != nil {
				return w, fmt.Errorf("line %d: error-at wants LINE:COL, got %q", i+1, val)
			}
			w.errLine, w.errCol, w.hasErrAt = line, col, true
		default:
			return w, fmt.Errorf("line %d: unknown item %q", i+1, line)
		}
		if val == "" && key != "error" {
			return w, fmt.Errorf("line %d: %q needs a value", i+1, key)
		}
		if (key == "read" || key == "write") && strings.Count(val, ".") < 2 {
			return w, fmt.Errorf("line %d: %q is not a project.dataset.table string", i+1, val)
		}
		sawItem = true
	}
	if w.failing() && (len(w.reads) > 0 || len(w.writes) > 0) {
		return w, fmt.Errorf("a case expects either an error or tables, not both")
	}
	for kind, list := range map[string][]string{"read": w.reads, "write": w.writes} {
		for j := 1; j < len(list); j++ {
			if list[j-1] >= list[j] {
				return w, fmt.Errorf("%s items must be sorted and unique: %q then %q", kind, list[j-1], list[j])
			}
		}
	}
	return w, nil
}

// TestGoldenWantFormat guards the harness itself: a malformed .want must be rejected rather than
// silently weaken a case.
func TestGoldenWantFormat(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"unsorted reads":        "read p.d.b\nread p.d.a\n",
		"duplicate writes":      "write p.d.a\nwrite p.d.a\n",
		"unknown item":          "reads p.d.a\n",
		"not a table path":      "read a.b\n",
		"error and tables":      "error boom\nread p.d.a\n",
		"option after item":     "read p.d.a\ndefault_project: p\n",
		"bad error position":    "error\nerror-at 3\n",
		"read without a value":  "read\n",
		"write without a value": "write \n",
	} {
		_, err := parseWant(text)
		require.Error(t, err, "%s: %q should be rejected", name, text)
	}

	w, err := parseWant("# comment\ndefault_project: p\ndefault_dataset: d\n\nread .x.a\nread p.d.b\nwrite p.d.c\n")
	require.NoError(t, err)
	require.Equal(t, sqlref.Options{DefaultProject: "p", DefaultDataset: "d"}, w.opts)
	require.Equal(t, []string{".x.a", "p.d.b"}, w.reads)
	require.Equal(t, []string{"p.d.c"}, w.writes)
	require.False(t, w.failing())

	require.True(t, mentionsPosition("line 3, column 21: unterminated string", 3, 21))
	require.True(t, mentionsPosition("at 3:21", 3, 21))
	require.False(t, mentionsPosition("line 3, column 21: x", 3, 2), "column 2 must not match column 21")
	require.False(t, mentionsPosition("line 13, column 2: x", 3, 2), "line 3 must not match line 13")
}
