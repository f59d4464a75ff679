package webui

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// editData is the editor's: the definition as stored (nil for a new table), which the script
// sends back with the fields the form changes, so that settings the form does not show
// (exports, imports, partitioning) are kept.
type editData struct {
	New       bool
	Name      string
	Revision  int
	Table     spec.Table
	TableJSON string
	Schedules []*store.ScheduleRecord
	// Chosen marks the table's schedules.
	Chosen map[string]bool
	// DryRun: the server estimates cost as one types.
	DryRun bool
	// Group is the viewer's (an editor's new table is of their group).
	Group   string
	IsAdmin bool
}

func (u *UI) editPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	d := editData{New: r.PathValue("name") == "", Chosen: map[string]bool{}, DryRun: u.cfg.DryRun, Group: v.Group, IsAdmin: v.IsAdmin()}
	if !d.New {
		name := strings.ToLower(r.PathValue("name"))
		rec, err := u.findTable(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			u.fail(w, r, v, http.StatusNotFound, "There is no table "+name+" to edit.")
			return
		}
		if err != nil {
			u.storeFailed(w, r, v, "reading table "+name, err)
			return
		}
		if !v.CanWriteTable(rec.Table.Group) {
			u.fail(w, r, v, http.StatusForbidden, "Table "+name+" belongs to "+groupName(rec.Table.Group)+"; "+v.Email+" may not change it.")
			return
		}
		d.Name, d.Revision, d.Table = rec.Table.Name, rec.Revision, rec.Table
		for _, s := range rec.Table.Schedules {
			d.Chosen[s] = true
		}
	} else {
		d.Table = spec.Table{Kind: "query", Owner: v.Email, Group: v.Group}
	}
	d.TableJSON = mustJSON(d.Table)
	var err error
	if d.Schedules, err = u.cfg.Store.ScheduleList(ctx); err != nil {
		u.storeFailed(w, r, v, "listing the schedules", err)
		return
	}
	title := "New table"
	if !d.New {
		title = "Edit " + d.Name
	}
	u.render(w, r, http.StatusOK, "edit", title, "tables", d)
}

func groupName(g string) string {
	if g == "" {
		return "no group (admins only)"
	}
	return "group " + g
}

// maxHighlight bounds the SQL the editor may send to be highlighted; a table's SQL is a few KB.
const maxHighlight = 1 << 20

// highlight answers the editor's SQL as highlighted HTML, from the same lexer the table page
// (and dependency inference) uses, so the editor needs no second lexer in JavaScript.
func (u *UI) highlight(w http.ResponseWriter, r *http.Request, v *Viewer) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHighlight))
	if err != nil {
		http.Error(w, "the SQL must be at most 1 MiB", http.StatusRequestEntityTooLarge)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, string(highlightSQL(string(body))))
}
