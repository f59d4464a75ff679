package history

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// TrailerKey is the trailer naming the revision a commit records: "Maestro-Revision: ds.t@3".
const TrailerKey = "Maestro-Revision"

// sidecarDefaults are the defaults sidecars in the history are written against: those of a
// project without maestro.yaml. The store keeps no project settings, and the history must read
// the same whatever a project's defaults were at the time, so every other value is spelled out.
var sidecarDefaults = project.DefaultsOf(nil)

// Files returns a table's files in the history, as in a project folder: its SQL, verbatim, and
// its sidecar (nil when it needs none).
func Files(t *spec.Table) (sql string, sidecar []byte) {
	return t.SQL, project.RenderSidecar(t, sidecarDefaults)
}

// tablePaths splits "dataset.table" into the folder and file name (without extension) of its
// files; ok is false for a name that would not be a safe path.
func tablePaths(name string) (dataset, base string, ok bool) {
	dataset, base, ok = strings.Cut(name, ".")
	return dataset, base, ok && project.IsIdent(dataset) && project.IsIdent(base)
}

// Summary says in one line what rec changed after prev (nil for the first revision): "create
// sales.orders", "delete sales.orders", "sales.orders: SQL changed; schedules daily → hourly".
func Summary(prev, rec *store.TableRecord) string {
	name := rec.Table.Name
	switch {
	case rec.Deleted:
		return "delete " + name
	case prev == nil || prev.Deleted:
		return "create " + name
	}
	var changes []string
	if prev.Table.SQL != rec.Table.SQL {
		changes = append(changes, "SQL changed")
	}
	changes = append(changes, project.SidecarChanges(&prev.Table, &rec.Table, sidecarDefaults)...)
	if len(changes) == 0 {
		return name + ": saved again, SQL and options unchanged"
	}
	return name + ": " + strings.Join(changes, "; ")
}

// CommitMessage is the message of rec's commit: the summary, the store's message (if any) as its
// body, and the trailer naming the revision.
func CommitMessage(prev, rec *store.TableRecord) string {
	var b strings.Builder
	b.WriteString(Summary(prev, rec))
	b.WriteString("\n\n")
	if msg := strings.TrimSpace(rec.Message); msg != "" {
		// A message cannot pass for a trailer: it would hide a revision from the mirror.
		lines := strings.Split(msg, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, TrailerKey) {
				lines[i] = " " + l
			}
		}
		b.WriteString(strings.Join(lines, "\n"))
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "%s: %s@%d\n", TrailerKey, rec.Table.Name, rec.Revision)
	return b.String()
}

type trailer struct {
	table    string
	revision int
}

// parseTrailers finds the Maestro-Revision trailers of a commit message.
func parseTrailers(msg string) []trailer {
	var out []trailer
	sc := bufio.NewScanner(strings.NewReader(msg))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), TrailerKey+":")
		if !ok {
			continue
		}
		i := strings.LastIndexByte(v, '@')
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v[i+1:]))
		if err != nil || n <= 0 {
			continue
		}
		out = append(out, trailer{table: strings.TrimSpace(v[:i]), revision: n})
	}
	return out
}
