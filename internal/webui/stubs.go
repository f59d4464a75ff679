package webui

import "net/http"

func (u *UI) tablePage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u.fail(w, r, v, http.StatusNotImplemented, "This page is being built.")
}
func (u *UI) editPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u.fail(w, r, v, http.StatusNotImplemented, "This page is being built.")
}
func (u *UI) costsPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u.fail(w, r, v, http.StatusNotImplemented, "This page is being built.")
}
func (u *UI) schedulesPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u.fail(w, r, v, http.StatusNotImplemented, "This page is being built.")
}
func (u *UI) connectionsPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u.fail(w, r, v, http.StatusNotImplemented, "This page is being built.")
}
func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u.fail(w, r, v, http.StatusNotImplemented, "This page is being built.")
}
func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	u.fail(w, r, v, http.StatusNotImplemented, "This page is being built.")
}
