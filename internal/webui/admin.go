package webui

import (
	"net/http"
	"slices"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// scheduleRow is a schedule with the tables it runs.
type scheduleRow struct {
	Rec    *store.ScheduleRecord
	Tables int
	Body   string // the JSON a "run now" button sends
}

func (u *UI) schedulesPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	scheds, err := u.cfg.Store.ScheduleList(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "listing the schedules", err)
		return
	}
	recs, err := u.cfg.Backend.Tables(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "listing the tables", err)
		return
	}
	rows := make([]scheduleRow, len(scheds))
	for i, s := range scheds {
		rows[i] = scheduleRow{Rec: s, Body: mustJSON(map[string]string{"schedule": s.Schedule.Name})}
		for _, rec := range recs {
			if slices.Contains(rec.Table.Schedules, s.Schedule.Name) {
				rows[i].Tables++
			}
		}
	}
	u.render(w, r, http.StatusOK, "schedules", "Schedules", "schedules", rows)
}

// connectionRow is a connection with the tables that import from it. Connections hold a
// reference to their secret (env:NAME, secretmanager:…), never the secret: that is all a page
// can show.
type connectionRow struct {
	Conn   spec.Connection
	Tables []string
}

func (u *UI) connectionsPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	conns, err := u.cfg.Store.ConnectionList(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "listing the connections", err)
		return
	}
	recs, err := u.cfg.Backend.Tables(ctx)
	if err != nil {
		u.storeFailed(w, r, v, "listing the tables", err)
		return
	}
	rows := make([]connectionRow, len(conns))
	for i, c := range conns {
		rows[i].Conn = spec.Connection{Name: c.Name, Driver: c.Driver, SecretRef: c.SecretRef}
		for _, rec := range recs {
			if rec.Table.Import != nil && rec.Table.Import.Connection == c.Name {
				rows[i].Tables = append(rows[i].Tables, rec.Table.Name)
			}
		}
	}
	u.render(w, r, http.StatusOK, "connections", "Connections", "connections", rows)
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	users, err := u.cfg.Store.UserList(r.Context())
	if err != nil {
		u.storeFailed(w, r, v, "listing the users", err)
		return
	}
	u.render(w, r, http.StatusOK, "users", "Users", "users", users)
}

// tokensData is the tokens page's: the viewer's tokens, or everyone's for an admin.
type tokensData struct {
	Tokens []*store.Token
	All    bool
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	owner := v.Email
	if v.IsAdmin() {
		owner = "" // everyone's
	}
	tks, err := u.cfg.Store.TokenList(r.Context(), owner)
	if err != nil {
		u.storeFailed(w, r, v, "listing the tokens", err)
		return
	}
	u.render(w, r, http.StatusOK, "tokens", "API tokens", "tokens", tokensData{Tokens: tks, All: v.IsAdmin()})
}
