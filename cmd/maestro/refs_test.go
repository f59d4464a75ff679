package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
)

// execForTest runs a command in process with the given standard input and arguments and returns
// what it printed and the exit status main would use.
func execForTest(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	var ex exitError
	switch {
	case err == nil:
	case errors.As(err, &ex):
		code = ex.code
	default:
		errOut.WriteString(err.Error() + "\n")
		code = 1
	}
	return out.String(), errOut.String(), code
}

func TestRefs(t *testing.T) {
	t.Parallel()

	t.Run("StdinPrintsReadsOnePerLine", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := execForTest(t, newRefsCmd(),
			"WITH c AS (SELECT * FROM `p.d.t`)\nSELECT * FROM c JOIN d.u USING (id) JOIN v USING (id)")
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "..v\n.d.u\np.d.t\n", out)
		require.Empty(t, errOut)
	})

	t.Run("DefaultsFillMissingParts", func(t *testing.T) {
		t.Parallel()
		out, _, code := execForTest(t, newRefsCmd(), "SELECT * FROM d.u JOIN v USING (id)",
			"--default-project", "proj", "--default-dataset", "ds")
		require.Equal(t, 0, code)
		require.Equal(t, "proj.d.u\nproj.ds.v\n", out)
	})

	t.Run("WritesMarksEveryLine", func(t *testing.T) {
		t.Parallel()
		out, _, code := execForTest(t, newRefsCmd(), "INSERT INTO d.out SELECT * FROM d.src", "--writes")
		require.Equal(t, 0, code)
		require.Equal(t, "read\t.d.src\nwrite\t.d.out\n", out)
	})

	t.Run("BrokenStdinFails", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := execForTest(t, newRefsCmd(), "SELECT 1\nFROM t WHERE x = 'open")
		require.Equal(t, 1, code)
		require.Empty(t, out)
		require.Regexp(t, `^<stdin>:2:\d+: .+\n$`, errOut)
	})

	t.Run("FoldersPrintPathAndTableAndGoOnAfterAnError", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"b/z.sql":       "SELECT * FROM raw.z",
			"a/x.sql":       "SELECT * FROM raw.x JOIN raw.y USING (id)",
			"a/y.sql":       "SELECT 1\nFROM t WHERE x = 'open",
			"a/notes.txt":   "SELECT * FROM not_sql",
			".hidden/h.sql": "SELECT * FROM hidden.h",
			"single.sql":    "CREATE TABLE d.t AS SELECT * FROM raw.s",
		})
		single := filepath.Join(dir, "single.sql")
		out, errOut, code := execForTest(t, newRefsCmd(), "", dir, single)
		require.Equal(t, 1, code)
		ax, bz := filepath.Join(dir, "a", "x.sql"), filepath.Join(dir, "b", "z.sql")
		// Arguments in the order given, each folder's files sorted: single.sql twice.
		require.Equal(t, ax+"\t.raw.x\n"+ax+"\t.raw.y\n"+bz+"\t.raw.z\n"+single+"\t.raw.s\n"+single+"\t.raw.s\n", out)
		require.Regexp(t, `^`+strings.ReplaceAll(filepath.Join(dir, "a", "y.sql"), `\`, `\\`)+`:2:\d+: .+\n$`, errOut)

		out, _, code = execForTest(t, newRefsCmd(), "", "--writes", single)
		require.Equal(t, 0, code)
		require.Equal(t, single+"\tread\t.raw.s\n"+single+"\twrite\t.d.t\n", out)
	})

	t.Run("MissingPathFails", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{"ok.sql": "SELECT * FROM d.t"})
		ok, missing := filepath.Join(dir, "ok.sql"), filepath.Join(dir, "nope.sql")
		out, errOut, code := execForTest(t, newRefsCmd(), "", missing, ok)
		require.Equal(t, 1, code)
		require.Equal(t, ok+"\t.d.t\n", out)
		require.Equal(t, missing+": no such file or directory\n", errOut)
	})

	t.Run("JSONShape", func(t *testing.T) {
		t.Parallel()
		dir := maestrotest.WriteTree(t, map[string]string{
			"a.sql": "MERGE d.t USING d.s ON true WHEN MATCHED THEN DELETE",
			"b.sql": "SELECT 'open",
			"c.sql": "SELECT 1",
		})
		out, errOut, code := execForTest(t, newRefsCmd(), "", "--json", dir)
		require.Equal(t, 1, code)
		require.NotEmpty(t, errOut)
		var got []map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.Len(t, got, 3)
		for _, e := range got {
			require.ElementsMatch(t, []string{"path", "reads", "writes", "error"}, keys(e))
		}
		require.Equal(t, map[string]any{
			"path": filepath.Join(dir, "a.sql"), "reads": []any{".d.s"}, "writes": []any{".d.t"}, "error": nil,
		}, got[0])
		require.Equal(t, filepath.Join(dir, "b.sql"), got[1]["path"])
		require.Equal(t, []any{}, got[1]["reads"])
		require.Contains(t, got[1]["error"], filepath.Join(dir, "b.sql")+":1:")
		require.Equal(t, map[string]any{"path": filepath.Join(dir, "c.sql"), "reads": []any{}, "writes": []any{}, "error": nil}, got[2])

		out, _, code = execForTest(t, newRefsCmd(), "SELECT * FROM x.y", "--json")
		require.Equal(t, 0, code)
		require.JSONEq(t, `[{"path":"<stdin>","reads":[".x.y"],"writes":[],"error":null}]`, out)
	})
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
