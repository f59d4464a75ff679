package service

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
)

// APIPrefix is where the JSON API lives.
const APIPrefix = "/api/v1"

// Route is one route of the JSON API. Every route is declared once, in routeTable, and the
// mux, the OpenAPI document and the authorization test are all made from that list, so that a
// route cannot exist undocumented or unguarded.
type Route struct {
	Method string
	// Path is under APIPrefix, with {name} for path parameters ({name...} takes the rest).
	Path    string
	Summary string
	Tag     string
	// Role is the least role that may call the route; access.None makes it public.
	Role access.Role
	// TableWrite: the route changes a table (or its data), and the caller must also pass
	// access.CanWriteTable for the table's group (the handler checks it, once it knows the
	// table): editors of another group are refused.
	TableWrite bool
	// Status is the status of success.
	Status int
	// Request is a value of the JSON body's type, nil when the route takes no JSON body.
	Request any
	// Response is a value of the JSON answer's type, nil when there is none.
	Response any
	// Query lists the query parameters.
	Query []Param
	// IfMatch: the route requires an If-Match header with the resource's ETag.
	IfMatch bool
	// ETag: the answer carries the resource's ETag.
	ETag bool
	// MaxBody bounds the request body; 0 means defaultMaxBody.
	MaxBody int64
	// Timeout bounds the request's reading, handling and writing; 0 means
	// APIConfig.RequestTimeout.
	Timeout time.Duration
	// RawBody describes a body that is not JSON (an uploaded file): its media type.
	RawBody string

	handler http.HandlerFunc
}

// Param is a query parameter.
type Param struct {
	Name        string
	Type        string // string, integer, boolean
	Description string
}

const (
	// defaultMaxBody bounds request bodies: a table definition is a few KB.
	defaultMaxBody = 1 << 20
	// defaultTimeout bounds a request from its first byte to its answer.
	defaultTimeout = 30 * time.Second
)

type principalKey struct{}

// principalOf is the caller of a request that passed the route's checks; nil on public
// routes called anonymously.
func principalOf(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// userName is who a change or a run is recorded as.
func userName(ctx context.Context) string {
	if p := principalOf(ctx); p != nil {
		return p.User.Email
	}
	return "anonymous"
}

// guard wraps a route's handler with its limits, authentication and role check.
func (a *api) guard(rt *Route) http.Handler {
	timeout := rt.Timeout
	if timeout == 0 {
		timeout = a.cfg.RequestTimeout
	}
	maxBody := rt.MaxBody
	if maxBody == 0 {
		maxBody = defaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Per-request deadlines, so that a slow client cannot hold a connection, while an
		// upload route may take longer than the server's defaults. The server may not support
		// them (a test recorder): the context deadline still bounds the handler.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
		_ = rc.SetWriteDeadline(time.Now().Add(timeout + 5*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r = r.WithContext(ctx)
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		w.Header().Set("Cache-Control", "no-store")

		p, err := a.auth.authenticate(r)
		switch {
		case errors.Is(err, errUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="maestro"`)
			writeProblem(w, http.StatusUnauthorized, strings.TrimPrefix(err.Error(), errUnauthenticated.Error()+": "))
			return
		case err != nil:
			a.log.Error("authenticating a request", zap.Error(err))
			writeProblem(w, http.StatusInternalServerError, "the request could not be authenticated; see the log")
			return
		}
		role := access.None
		if p != nil {
			role = p.Role
		}
		if role < rt.Role {
			if p == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="maestro"`)
				writeProblem(w, http.StatusUnauthorized, "this route needs an API token (Authorization: Bearer) or an IAP identity")
				return
			}
			if p.Role == access.None {
				writeProblem(w, http.StatusForbidden, p.User.Email+" is not a Maestro user: ask an admin to add you")
				return
			}
			writeProblem(w, http.StatusForbidden, "this route needs the "+rt.Role.String()+" role; "+p.User.Email+" is "+p.Role.String())
			return
		}
		// url.Values drops a pair it cannot parse (a semicolon, a bad escape), which would turn a
		// filter the caller meant into no filter at all.
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			writeProblem(w, http.StatusBadRequest, "the query string is not valid: "+err.Error())
			return
		}
		if p != nil {
			r = r.WithContext(context.WithValue(ctx, principalKey{}, p))
		}
		rt.handler(w, r)
	})
}

// canWriteTable checks the caller's right to write tables of the given groups (the table's
// group before and after a change); it answers 403 and returns false when refused.
func canWriteTable(w http.ResponseWriter, r *http.Request, table string, groups ...string) bool {
	p := principalOf(r.Context())
	for _, g := range groups {
		if p == nil || !access.CanWriteTable(&p.User, g) {
			who, mine := "an anonymous caller", ""
			if p != nil {
				who = p.User.Email
				if p.User.Group != "" {
					mine = " (" + p.User.Group + ")"
				}
			}
			group := "no group (admins only)"
			if g != "" {
				group = "group " + g
			}
			writeProblem(w, http.StatusForbidden, "table "+table+" belongs to "+group+": "+who+mine+" may not change it")
			return false
		}
	}
	return true
}

// RoutesMarkdown renders the route table as the Markdown table of internal/service/README.md.
func RoutesMarkdown() string {
	var b strings.Builder
	b.WriteString("| method | path | least role | summary |\n|---|---|---|---|\n")
	for _, rt := range RouteTable() {
		role := rt.Role.String()
		if rt.Role == access.None {
			role = "public"
		}
		if rt.TableWrite {
			role += ", of the table's group"
		}
		b.WriteString("| " + rt.Method + " | `" + APIPrefix + rt.Path + "` | " + role + " | " + rt.Summary + " |\n")
	}
	return b.String()
}
