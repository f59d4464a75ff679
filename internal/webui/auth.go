package webui

import (
	"errors"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// signinData is the sign-in page's.
type signinData struct {
	Next        string
	TokenSignIn bool
	Error       string
}

// safeNext keeps a redirect target on this site: a path, never //host or a scheme.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// signinPage offers the token form. Behind IAP the proxy has signed the person in before any
// page is reached, so a viewer who lands here is sent on.
func (u *UI) signinPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.URL.Query().Get("next"))
	v, err := u.cfg.Backend.Authenticate(r)
	if err == nil && v != nil && v.Role > 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if errors.Is(err, ErrBadCredentials) {
		clearSession(w, r)
	}
	u.render(w, r, http.StatusOK, "signin", "Sign in", "", signinData{Next: next, TokenSignIn: u.cfg.TokenSignIn})
}

// signin takes an API token from the form (maestro dev's sign-in link fills it in from the
// URL's fragment, which never reaches a server or a log) and keeps it in the session cookie.
// The form is same-origin only: the API's cross-origin protection refuses another site's POST.
func (u *UI) signin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !u.cfg.TokenSignIn {
		u.fail(w, r, nil, http.StatusNotFound, "Signing in with a token is off here: this deployment signs people in through Identity-Aware Proxy.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		u.render(w, r, http.StatusBadRequest, "signin", "Sign in", "", signinData{Next: "/", TokenSignIn: true, Error: "The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if code := strings.TrimSpace(r.PostForm.Get("code")); code != "" && token == "" {
		t, ok := u.cfg.SignInCodes.redeem(code)
		if !ok {
			u.render(w, r, http.StatusUnauthorized, "signin", "Sign in", "", signinData{Next: next, TokenSignIn: true,
				Error: "That sign-in link was used already or is too old: paste an API token (maestro dev keeps its own in its state folder, api-token)."})
			return
		}
		token = t
	}
	if token == "" {
		u.render(w, r, http.StatusUnprocessableEntity, "signin", "Sign in", "", signinData{Next: next, TokenSignIn: true, Error: "Paste an API token (it starts with mae_)."})
		return
	}
	v, err := u.cfg.Backend.SignIn(r.Context(), token)
	switch {
	case errors.Is(err, ErrBadCredentials):
		u.render(w, r, http.StatusUnauthorized, "signin", "Sign in", "", signinData{Next: next, TokenSignIn: true,
			Error: "That token is not valid: " + strings.TrimPrefix(err.Error(), ErrBadCredentials.Error()+": ") + "."})
		return
	case err != nil:
		u.cfg.Log.Error("signing in", zap.Error(err))
		u.render(w, r, http.StatusInternalServerError, "signin", "Sign in", "", signinData{Next: next, TokenSignIn: true, Error: "The token could not be checked; see the server's log."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode})
	u.cfg.Log.Info("signed in to the web UI", zap.String("user", v.Email))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) signout(w http.ResponseWriter, r *http.Request) {
	clearSession(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// secure: the cookie is sent over HTTPS only when the page came over HTTPS (Cloud Run and its
// load balancer say so in X-Forwarded-Proto); maestro dev serves plain HTTP on loopback.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure(r),
		SameSite: http.SameSiteStrictMode})
}
