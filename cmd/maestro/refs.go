package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/maestro-sql/maestro/internal/sqlref"
)

// stdinName names standard input in error messages and JSON output.
const stdinName = "<stdin>"

const refsLong = `Print the tables a piece of BigQuery SQL reads.

With no PATH, read SQL from standard input and print each table it reads, one per line, as
project.dataset.table, sorted. Parts the SQL leaves out and no default fills stay empty:
"dataset.table" prints as ".dataset.table", a bare "t" as "..t".

With PATHs (files or folders; a folder means every *.sql file inside it, recursively, in sorted
order; hidden folders are skipped), print one line per table read:

    PATH<TAB>project.dataset.table

--writes adds the tables the SQL writes (creates, inserts into, merges into, ...). Every line then
carries its kind, so that all lines have the same columns:

    read<TAB>project.dataset.table             (standard input)
    write<TAB>project.dataset.table
    PATH<TAB>read<TAB>project.dataset.table    (PATH arguments)
    PATH<TAB>write<TAB>project.dataset.table

Reads come before writes for each input, each sorted.

--json prints instead one JSON array with an object per input (standard input is "<stdin>"):

    [{"path": "a/x.sql", "reads": ["p.d.t"], "writes": [], "error": null}]

reads and writes are always present (possibly empty); error is null or the message below.

SQL that cannot be read is reported on standard error as PATH:LINE:COL: message; the other inputs
are still printed. The exit status is 0 when every input was read, 1 otherwise.`

func newRefsCmd() *cobra.Command {
	var (
		withWrites, asJSON bool
		opts               sqlref.Options
	)
	cmd := &cobra.Command{
		Use:   "refs [PATH...]",
		Short: "Print the tables SQL reads (and writes)",
		Long:  refsLong,
		RunE: func(cmd *cobra.Command, args []string) error {
			lessGC()
			stdout := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			results, err := refsCollect(cmd.InOrStdin(), args, opts)
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				if r.err != nil {
					failed++
					fmt.Fprintln(cmd.ErrOrStderr(), r.errText())
				}
			}
			if asJSON {
				err = refsJSON(stdout, results)
			} else {
				refsText(stdout, results, len(args) > 0, withWrites)
			}
			if ferr := stdout.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return fmt.Errorf("error writing output: %w", err)
			}
			if failed > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&withWrites, "writes", false, "also print the tables written; every line then carries a read or write column")
	f.BoolVar(&asJSON, "json", false, "print a JSON array of {path, reads, writes, error}")
	f.StringVar(&opts.DefaultProject, "default-project", "", "project for names that leave it out")
	f.StringVar(&opts.DefaultDataset, "default-dataset", "", "dataset for bare table names")
	return cmd
}

// refsResult is what one input (a file or standard input) reads and writes.
type refsResult struct {
	path   string
	result *sqlref.Result
	err    error
}

// errText renders the error as PATH:LINE:COL: message.
func (r refsResult) errText() string {
	var se *sqlref.Error
	if errors.As(r.err, &se) {
		msg := se.Msg
		if se.Text != "" {
			msg += fmt.Sprintf(" near %q", se.Text)
		}
		return fmt.Sprintf("%s:%d:%d: %s", r.path, se.Line, se.Column, msg)
	}
	return r.path + ": " + r.err.Error()
}

// refsCollect reads standard input (no args) or every file the args name, in order.
func refsCollect(stdin io.Reader, args []string, opts sqlref.Options) ([]refsResult, error) {
	if len(args) == 0 {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("error reading standard input: %w", err)
		}
		r := refsResult{path: stdinName}
		r.result, r.err = sqlref.Extract(string(data), opts)
		return []refsResult{r}, nil
	}
	var results []refsResult
	for _, arg := range args {
		results = append(results, expandPath(arg)...)
	}
	// Files are independent: parse them on every core, a fixed number of workers.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(results)) {
		wg.Go(func() {
			var x sqlref.Extractor // reuses its buffers from file to file
			for i := int(next.Add(1) - 1); i < len(results); i = int(next.Add(1) - 1) {
				r := &results[i]
				if r.err != nil {
					continue
				}
				data, err := os.ReadFile(r.path)
				if err != nil {
					r.err = errors.Unwrap(err) // *PathError would repeat the path
					if r.err == nil {
						r.err = err
					}
					continue
				}
				r.result, r.err = x.Extract(string(data), opts)
			}
		})
	}
	wg.Wait()
	return results, nil
}

// expandPath turns a file argument into itself and a folder into its *.sql files, sorted. A path
// that cannot be read becomes a result carrying the error.
func expandPath(arg string) []refsResult {
	info, err := os.Stat(arg)
	if err != nil {
		if e := errors.Unwrap(err); e != nil {
			err = e
		}
		return []refsResult{{path: arg, err: err}}
	}
	if !info.IsDir() {
		return []refsResult{{path: arg}}
	}
	var out []refsResult
	err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			out = append(out, refsResult{path: path, err: err})
			return nil
		}
		if d.IsDir() {
			if path != arg && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.EqualFold(filepath.Ext(path), ".sql") {
			out = append(out, refsResult{path: path})
		}
		return nil
	})
	if err != nil {
		out = append(out, refsResult{path: arg, err: err})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].path < out[b].path })
	return out
}

func refsText(w *bufio.Writer, results []refsResult, withPath, withWrites bool) {
	line := func(path, kind string, n sqlref.TableName) {
		if withPath {
			w.WriteString(path)
			w.WriteByte('\t')
		}
		if withWrites {
			w.WriteString(kind)
			w.WriteByte('\t')
		}
		w.WriteString(n.String())
		w.WriteByte('\n')
	}
	for _, r := range results {
		if r.result == nil {
			continue
		}
		for _, n := range r.result.Reads {
			line(r.path, "read", n)
		}
		if withWrites {
			for _, n := range r.result.Writes {
				line(r.path, "write", n)
			}
		}
	}
}

type refsJSONEntry struct {
	Path   string   `json:"path"`
	Reads  []string `json:"reads"`
	Writes []string `json:"writes"`
	Error  *string  `json:"error"`
}

func refsJSON(w io.Writer, results []refsResult) error {
	out := make([]refsJSONEntry, len(results))
	for i, r := range results {
		e := refsJSONEntry{Path: r.path, Reads: []string{}, Writes: []string{}}
		if r.result != nil {
			for _, n := range r.result.Reads {
				e.Reads = append(e.Reads, n.String())
			}
			for _, n := range r.result.Writes {
				e.Writes = append(e.Writes, n.String())
			}
		}
		if r.err != nil {
			msg := r.errText()
			e.Error = &msg
		}
		out[i] = e
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
