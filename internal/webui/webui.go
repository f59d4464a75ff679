// Package webui is Maestro's web interface: server-rendered html/template pages with their
// CSS and small vanilla JavaScript modules embedded in the binary. internal/service mounts it
// at / beside the JSON API, so cmd/api and maestro dev both serve it. Pages read through the
// Backend (the API's own caches and functions) and the store; everything that changes
// something is done by the page's JavaScript calling the JSON API, so there is one copy of
// every rule. See README.md for the conventions.
package webui

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/dag"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

//go:embed templates/*.html static
var files embed.FS

// Viewer is who looks at a page.
type Viewer struct {
	Email string
	Name  string
	Group string
	Role  access.Role
}

// CanEdit reports whether the viewer may start runs and edit tables (of their group).
func (v *Viewer) CanEdit() bool { return v != nil && v.Role >= access.Editor }

// IsAdmin reports whether the viewer is an admin.
func (v *Viewer) IsAdmin() bool { return v != nil && v.Role >= access.Admin }

// CanWriteTable reports whether the viewer may change a table of the given group.
func (v *Viewer) CanWriteTable(group string) bool {
	return v != nil && access.CanWriteTable(&store.User{Email: v.Email, Role: v.Role.String(), Group: v.Group}, group)
}

// ErrBadCredentials: the request carries credentials that do not verify (an unknown or
// revoked token in the session cookie, a bad IAP assertion).
var ErrBadCredentials = errors.New("credentials not valid")

// SessionCookie holds a signed-in browser's API token: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it). The API's guard accepts it as a bearer
// token, so the pages' JavaScript calls the JSON API as the signed-in user.
const SessionCookie = "maestro_session"

// Backend is what the pages need of the API: who is asking, and the answers the JSON API
// computes, so that the pages show exactly what the API would.
type Backend interface {
	// Authenticate returns who makes a request (nil: nobody signed in), or an error wrapping
	// ErrBadCredentials.
	Authenticate(r *http.Request) (*Viewer, error)
	// SignIn returns whose API token this is; an error wrapping ErrBadCredentials when it is
	// not a valid token.
	SignIn(ctx context.Context, token string) (*Viewer, error)
	// Tables is every stored table (the API's listing cache: at most a second stale).
	Tables(ctx context.Context) ([]*store.TableRecord, error)
	// Graph is the dependency graph of the stored tables (with any cycles among them), built
	// once per version of the API's table cache.
	Graph(ctx context.Context) (*dag.Graph, error)
	// Neighbours is where a table stands in the graph of the stored tables.
	Neighbours(ctx context.Context, name string) (*Neighbours, error)
	// ExportFiles are the files a table's exports wrote in a run, with links to read them.
	ExportFiles(ctx context.Context, runID, table string) ([]ExportFile, error)
	// ReadExport opens an export file of the server's bucket; ErrNotFound (wrapped) when there
	// is none or no bucket.
	ReadExport(ctx context.Context, key string) (io.ReadCloser, error)
}

// Neighbours are the tables next to one in the dependency graph.
type Neighbours struct {
	Upstream, Downstream, ExternalSources []string
}

// ExportFile is one file an export wrote (or would write) in a run.
type ExportFile struct {
	Index  int
	Format string
	Key    string
	// Exists is nil when the server cannot tell.
	Exists *bool
	// URL reads the file: signed for a while in production, file:// in maestro dev.
	URL string
}

// Reader is what the pages read of the store directly.
type Reader interface {
	RunList(ctx context.Context, p *store.RunListParams) ([]*run.Run, error)
	RunGet(ctx context.Context, id string) (*run.Run, error)
	NodeList(ctx context.Context, runID string) ([]*run.Node, error)
	TableList(ctx context.Context) ([]*store.TableRecord, error)
	TableRevisions(ctx context.Context, name string) ([]*store.TableRecord, error)
	ScheduleList(ctx context.Context) ([]*store.ScheduleRecord, error)
	ConnectionList(ctx context.Context) ([]spec.Connection, error)
	UserGet(ctx context.Context, email string) (*store.User, error)
	UserList(ctx context.Context) ([]*store.User, error)
	TokenList(ctx context.Context, owner string) ([]*store.Token, error)
}

// Config configures the UI.
type Config struct {
	Backend Backend
	Store   Reader
	// Pricing prices runs' statistics; zero: costs show as bytes only.
	Pricing spec.Pricing
	// TokenSignIn offers the sign-in form that takes an API token (maestro dev, and any
	// deployment without IAP). Behind IAP the proxy signs people in and the form is not needed.
	TokenSignIn bool
	// SignInCodes, when set, are the one-time codes the sign-in page accepts (maestro dev's link).
	SignInCodes *SignInCodes
	// DryRun tells the editor that the server estimates a query's cost as it is typed.
	DryRun bool
	Log    *zap.Logger
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// UI serves the pages. Make one with New.
type UI struct {
	cfg    Config
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static http.Handler
	// version is a hash of the static files, appended to their URLs so that browsers may
	// cache them for good and still never run an old script against a new page.
	version string
	nodes   *nodeCache
}

// New parses the templates and makes the UI; an error means a template does not parse.
func New(cfg Config) (*UI, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	u := &UI{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	st, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("error opening the static files: %w", err)
	}
	if u.version, err = hashFS(st); err != nil {
		return nil, err
	}
	u.static = http.StripPrefix("/static/", http.FileServerFS(st))
	u.nodes = newNodeCache(cfg.Store)
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("error listing the templates: %w", err)
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(u.funcs()).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("error parsing template %s: %w", base, err)
		}
		u.pages[strings.TrimSuffix(base, ".html")] = t
	}
	u.routes()
	return u, nil
}

func hashFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("error hashing the static files: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ServeHTTP serves the pages, the sign-in flow and the static files.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.mux.ServeHTTP(w, r) }

// routes declares every page. A page handler is wrapped by u.page with the least role that
// may see it.
func (u *UI) routes() {
	viewer, admin := access.Viewer, access.Admin
	u.mux.HandleFunc("GET /static/", u.serveStatic)
	u.mux.HandleFunc("GET /signin", u.signinPage)
	u.mux.HandleFunc("POST /signin", u.signin)
	u.mux.HandleFunc("POST /signout", u.signout)

	u.mux.Handle("GET /{$}", u.page(viewer, u.tablesPage))
	u.mux.Handle("GET /tables", u.page(viewer, u.tablesPage))
	u.mux.Handle("GET /tables/new", u.page(access.Editor, u.editPage)) // before {name}: "new" is no table name (those have a dot)
	u.mux.Handle("GET /tables/{name}", u.page(viewer, u.tablePage))
	u.mux.Handle("GET /tables/{name}/edit", u.page(access.Editor, u.editPage))
	u.mux.Handle("GET /tables/{name}/exports/{run}/{index}", u.page(viewer, u.exportFile))
	u.mux.Handle("POST /highlight", u.page(viewer, u.highlight))
	u.mux.Handle("GET /costs", u.page(viewer, u.costsPage))
	u.mux.Handle("GET /graph", u.page(viewer, u.graphPage))
	u.mux.Handle("GET /runs", u.page(viewer, u.runsPage))
	u.mux.Handle("GET /runs/{id}", u.page(viewer, u.runPage))
	u.mux.Handle("GET /runs/{id}/live", u.page(viewer, u.runLive))
	u.mux.Handle("GET /admin/schedules", u.page(viewer, u.schedulesPage))
	u.mux.Handle("GET /admin/connections", u.page(viewer, u.connectionsPage))
	u.mux.Handle("GET /admin/users", u.page(admin, u.usersPage))
	u.mux.Handle("GET /admin/tokens", u.page(viewer, u.tokensPage))

	u.mux.Handle("/", u.page(access.None, func(w http.ResponseWriter, r *http.Request, v *Viewer) {
		u.fail(w, r, v, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	}))
}

func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("v") == u.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	u.static.ServeHTTP(w, r)
}

type viewerKey struct{}

// startKey holds when a page request began, for its Server-Timing.
type startKey struct{}

// ViewerOf is the viewer of a page request (nil on public pages without a signed-in user).
func ViewerOf(ctx context.Context) *Viewer {
	v, _ := ctx.Value(viewerKey{}).(*Viewer)
	return v
}

// pageHandler is a page: it writes the answer for viewer v.
type pageHandler func(w http.ResponseWriter, r *http.Request, v *Viewer)

// page authenticates a page request: nobody signed in goes to the sign-in page (and comes
// back after), a viewer below role sees why not.
func (u *UI) page(role access.Role, h pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := u.cfg.Now()
		w.Header().Set("Cache-Control", "no-store")
		v, err := u.cfg.Backend.Authenticate(r)
		switch {
		case errors.Is(err, ErrBadCredentials):
			clearSession(w, r)
			if role == access.None {
				break
			}
			http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
			return
		case err != nil:
			u.cfg.Log.Error("authenticating a page request", zap.String("path", r.URL.Path), zap.Error(err))
			u.fail(w, r, nil, http.StatusInternalServerError, "Who you are could not be checked; see the server's log.")
			return
		}
		if v == nil && role > access.None {
			http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
			return
		}
		if v != nil && v.Role == access.None && role > access.None {
			u.fail(w, r, v, http.StatusForbidden, v.Email+" is not a Maestro user: ask an admin to add you.")
			return
		}
		if v != nil && v.Role < role {
			u.fail(w, r, v, http.StatusForbidden, "This page needs the "+role.String()+" role; "+v.Email+" is "+v.Role.String()+".")
			return
		}
		ctx := context.WithValue(r.Context(), viewerKey{}, v)
		h(w, r.WithContext(context.WithValue(ctx, startKey{}, start)), v)
	})
}

func signinURL(r *http.Request) string {
	return "/signin?next=" + template.URLQueryEscaper(r.URL.RequestURI())
}

// pageData is what every page template gets: the layout's needs and the page's own Data.
type pageData struct {
	Title  string
	Nav    string // which nav entry is current
	Viewer *Viewer
	// Version is appended to static URLs.
	Version string
	Data    any
}

// render executes a page template into a buffer first, so that a template error gives a
// clean 500 instead of half a page, and says how long the server took (Server-Timing: the
// page's whole time from authentication on as "page", the template's as "render"; browsers'
// developer tools and the end-to-end tests read it).
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	start := u.cfg.Now()
	began, ok := r.Context().Value(startKey{}).(time.Time)
	if !ok {
		began = start
	}
	t := u.pages[name]
	if t == nil {
		u.cfg.Log.Error("no such page template", zap.String("template", name))
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	err := t.ExecuteTemplate(&buf, "layout", pageData{Title: title, Nav: nav, Viewer: ViewerOf(r.Context()), Version: u.version, Data: data})
	if err != nil {
		u.cfg.Log.Error("rendering a page", zap.String("template", name), zap.String("path", r.URL.Path), zap.Error(err))
		http.Error(w, "the page could not be rendered; see the server's log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	end := u.cfg.Now()
	h.Set("Server-Timing", fmt.Sprintf("page;dur=%.2f, render;dur=%.2f", ms(end.Sub(began)), ms(end.Sub(start))))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fail shows an error page with a plain sentence.
// intParam reads the query parameter name as a whole number from lo to hi, def when absent. A
// bad value answers 400 naming the parameter and its range, and ok is false.
func (u *UI) intParam(w http.ResponseWriter, r *http.Request, v *Viewer, name string, lo, hi, def int) (n int, ok bool) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		u.fail(w, r, v, http.StatusBadRequest,
			fmt.Sprintf("%s must be a whole number from %d to %d, not %s.", name, lo, hi, strconv.Quote(s)))
		return 0, false
	}
	return n, true
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, v *Viewer, status int, msg string) {
	if v != nil && ViewerOf(r.Context()) == nil {
		r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
	}
	u.render(w, r, status, "error", http.StatusText(status), "", msg)
}

// storeFailed logs a failed read and shows a 500 page naming what was being done.
func (u *UI) storeFailed(w http.ResponseWriter, r *http.Request, v *Viewer, doing string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		u.fail(w, r, v, http.StatusNotFound, "Not found: "+doing+".")
		return
	}
	u.cfg.Log.Error("page: "+doing, zap.String("path", r.URL.Path), zap.Error(err))
	u.fail(w, r, v, http.StatusInternalServerError, "Something went wrong "+doing+"; see the server's log.")
}
