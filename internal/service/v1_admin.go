package service

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/store"
)

type userJSON struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
	// Role is viewer, editor or admin.
	Role string `json:"role"`
	// Group is the group whose tables an editor may change.
	Group string `json:"group,omitempty"`
}

type userListJSON struct {
	Users []userJSON `json:"users"`
}

func newUserJSON(u *store.User) userJSON {
	return userJSON{Email: u.Email, Name: u.Name, Role: u.Role, Group: u.Group}
}

func (a *api) getMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, newUserJSON(&principalOf(r.Context()).User))
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.st.UserList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing users", "")
		return
	}
	out := userListJSON{Users: make([]userJSON, len(us))}
	for i, u := range us {
		out.Users[i] = newUserJSON(u)
	}
	writeJSON(w, out)
}

func emailParam(r *http.Request) string {
	return strings.ToLower(strings.TrimSpace(r.PathValue("email")))
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) {
	email := emailParam(r)
	u, err := a.st.UserGet(r.Context(), email)
	if err != nil {
		a.storeFailed(w, r, err, "reading user "+email, "no user "+email)
		return
	}
	writeJSON(w, newUserJSON(u))
}

func (a *api) putUser(w http.ResponseWriter, r *http.Request) {
	email := emailParam(r)
	var in userJSON
	if !decodeBody(w, r, defaultMaxBody, &in) {
		return
	}
	var errs []FieldError
	if in.Email != "" && !strings.EqualFold(in.Email, email) {
		errs = append(errs, FieldError{Field: "email", Reason: "must be " + email})
	}
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		errs = append(errs, FieldError{Field: "email", Reason: "must be an email address"})
	}
	role, err := access.ParseRole(in.Role)
	if err != nil {
		errs = append(errs, FieldError{Field: "role", Reason: "must be viewer, editor or admin"})
	}
	if role == access.Editor && in.Group == "" {
		errs = append(errs, FieldError{Field: "group", Reason: "an editor needs a group: it says which tables they may change"})
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "user "+email+" is not valid", errs...)
		return
	}
	me := principalOf(r.Context())
	if me.User.Email == email && role != access.Admin {
		// An admin demoting themselves could leave nobody to undo it.
		writeProblem(w, http.StatusConflict, "you cannot take your own admin role: ask another admin", FieldError{Field: "role", Reason: "your own"})
		return
	}
	u := store.User{Email: email, Name: in.Name, Role: role.String(), Group: in.Group}
	if err := a.st.UserPut(r.Context(), u); err != nil {
		a.storeFailed(w, r, err, "saving user "+email, "")
		return
	}
	a.log.Info("user saved", zap.String("email", email), zap.String("role", u.Role), zap.String("by", me.User.Email))
	writeJSON(w, newUserJSON(&u))
}

func (a *api) deleteUser(w http.ResponseWriter, r *http.Request) {
	email := emailParam(r)
	me := principalOf(r.Context())
	if me.User.Email == email {
		writeProblem(w, http.StatusConflict, "you cannot remove yourself: ask another admin")
		return
	}
	if err := a.st.UserDelete(r.Context(), email); err != nil {
		a.storeFailed(w, r, err, "removing user "+email, "no user "+email)
		return
	}
	a.log.Info("user removed", zap.String("email", email), zap.String("by", me.User.Email))
	w.WriteHeader(http.StatusNoContent)
}

// tokenJSON is a token as listed: never its secret, which nobody can see again.
type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name,omitempty"`
	Owner      string     `json:"owner"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

type tokenListJSON struct {
	Tokens []tokenJSON `json:"tokens"`
}

// newTokenJSON is a created token with its secret, shown this once.
type newTokenJSON struct {
	tokenJSON
	// Token is the bearer token; the server keeps only its hash.
	Token string `json:"token"`
}

type tokenRequest struct {
	Name string `json:"name,omitempty"`
	// Owner is who the token acts as; only an admin may name someone else. Defaults to the caller.
	Owner string `json:"owner,omitempty"`
}

func newTokenJSONOf(tk *store.Token) tokenJSON {
	return tokenJSON{ID: tk.ID, Name: tk.Name, Owner: tk.Owner, CreatedAt: tk.CreatedAt,
		LastUsedAt: optionalTime(tk.LastUsedAt), RevokedAt: optionalTime(tk.RevokedAt)}
}

func (a *api) listTokens(w http.ResponseWriter, r *http.Request) {
	me := principalOf(r.Context())
	owner := me.User.Email
	q := r.URL.Query()
	if o, all := q.Get("owner"), q.Get("all") == "true"; o != "" || all {
		if me.Role < access.Admin {
			writeProblem(w, http.StatusForbidden, "only an admin sees other users' tokens")
			return
		}
		owner = strings.ToLower(o)
		if all {
			owner = ""
		}
	}
	tks, err := a.st.TokenList(r.Context(), owner)
	if err != nil {
		a.storeFailed(w, r, err, "listing tokens", "")
		return
	}
	out := tokenListJSON{Tokens: make([]tokenJSON, len(tks))}
	for i, tk := range tks {
		out.Tokens[i] = newTokenJSONOf(tk)
	}
	writeJSON(w, out)
}

func (a *api) createToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if !decodeBody(w, r, defaultMaxBody, &req) {
		return
	}
	me := principalOf(r.Context())
	owner := me.User.Email
	if req.Owner != "" && !strings.EqualFold(req.Owner, owner) {
		if me.Role < access.Admin {
			writeProblem(w, http.StatusForbidden, "only an admin makes tokens for other users", FieldError{Field: "owner", Reason: "not you"})
			return
		}
		owner = strings.ToLower(req.Owner)
		if _, err := a.st.UserGet(r.Context(), owner); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				writeProblem(w, http.StatusUnprocessableEntity, "no user "+owner+": add the user first", FieldError{Field: "owner", Reason: "unknown user"})
				return
			}
			a.storeFailed(w, r, err, "reading user "+owner, "")
			return
		}
	}
	if len(req.Name) > 100 {
		writeProblem(w, http.StatusUnprocessableEntity, "the name is too long", FieldError{Field: "name", Reason: "at most 100 characters"})
		return
	}
	raw, tk, err := NewToken(r.Context(), a.st, owner, req.Name, a.cfg.Now())
	if err != nil {
		a.storeFailed(w, r, err, "creating a token", "")
		return
	}
	a.log.Info("token created", zap.String("token_id", tk.ID), zap.String("owner", owner), zap.String("by", me.User.Email))
	w.Header().Set("Location", APIPrefix+"/tokens/"+tk.ID)
	writeJSONStatus(w, http.StatusCreated, newTokenJSON{tokenJSON: newTokenJSONOf(tk), Token: raw})
}

func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	me := principalOf(r.Context())
	tk, err := a.st.TokenGet(r.Context(), id)
	// Someone else's token is answered as missing: ids are not secret, but whose they are is
	// nobody else's business.
	if errors.Is(err, store.ErrNotFound) || err == nil && tk.Owner != me.User.Email && me.Role < access.Admin {
		writeProblem(w, http.StatusNotFound, "no token "+id+" of yours")
		return
	}
	if err != nil {
		a.storeFailed(w, r, err, "reading token "+id, "")
		return
	}
	if err := a.st.TokenRevoke(r.Context(), id, a.cfg.Now()); err != nil {
		a.storeFailed(w, r, err, "revoking token "+id, "no token "+id)
		return
	}
	a.log.Info("token revoked", zap.String("token_id", id), zap.String("owner", tk.Owner), zap.String("by", me.User.Email))
	w.WriteHeader(http.StatusNoContent)
}
