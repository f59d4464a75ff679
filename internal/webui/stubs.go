package webui

import "net/http"

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
