package history_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/history"
)

func TestUnifiedDiff(t *testing.T) {
	a := "SELECT id,\n  total\nFROM raw.orders\nWHERE 1 = 1\nAND a\nAND b\nAND c\nAND d\nAND dd\nAND e\n"
	b := "SELECT id,\n  total,\n  status\nFROM raw.orders\nWHERE 1 = 1\nAND a\nAND b\nAND c\nAND d\nAND dd\nAND E"
	require.Equal(t, `--- a/x.sql
+++ b/x.sql
@@ -1,5 +1,6 @@
 SELECT id,
-  total
+  total,
+  status
 FROM raw.orders
 WHERE 1 = 1
 AND a
@@ -7,4 +8,4 @@
 AND c
 AND d
 AND dd
-AND e
+AND E
\ No newline at end of file
`, history.UnifiedDiff("a/x.sql", "b/x.sql", a, b))
	require.Empty(t, history.UnifiedDiff("a", "b", a, a))
	require.Equal(t, "--- /dev/null\n+++ b/n.sql\n@@ -0,0 +1,2 @@\n+SELECT 1\n+FROM t\n",
		history.UnifiedDiff("", "b/n.sql", "", "SELECT 1\nFROM t\n"))
}

// TestUnifiedDiffApplies checks on random edits that git apply turns a into b with the diff.
func TestUnifiedDiffApplies(t *testing.T) {
	needGit(t)
	r := rand.New(rand.NewPCG(7, 8))
	words := []string{"SELECT", "a", "b", "FROM t", "", "WHERE x", "GROUP BY 1", "-- note"}
	text := func(n int) string {
		var lines []string
		for range n {
			lines = append(lines, words[r.IntN(len(words))])
		}
		s := strings.Join(lines, "\n")
		if r.IntN(4) != 0 && s != "" {
			s += "\n"
		}
		return s
	}
	dir := t.TempDir()
	gitOut(t, "init", "-q", dir)
	for i := range 40 {
		a := text(r.IntN(30))
		b := a
		if r.IntN(3) == 0 {
			b = text(r.IntN(30))
		} else {
			lines := strings.SplitAfter(a, "\n")
			for range 1 + r.IntN(4) {
				j := r.IntN(len(lines) + 1)
				switch r.IntN(3) {
				case 0:
					lines = append(lines[:j], append([]string{words[r.IntN(len(words))] + "\n"}, lines[j:]...)...)
				default:
					if j < len(lines) {
						lines = append(lines[:j], lines[j+1:]...)
					}
				}
			}
			b = strings.Join(lines, "")
		}
		name := fmt.Sprintf("f%d.sql", i)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(a), 0o644))
		d := history.UnifiedDiff("a/"+name, "b/"+name, a, b)
		if a == b {
			require.Empty(t, d)
			continue
		}
		patch := filepath.Join(t.TempDir(), "p.diff")
		require.NoError(t, os.WriteFile(patch, []byte(d), 0o644))
		gitOut(t, "-C", dir, "apply", "--unidiff-zero", patch)
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, b, string(got), "diff:\n%s", d)
	}
}
