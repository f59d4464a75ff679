// Package service assembles the production services (scheduler, worker, api) from their parts
// and serves them over HTTP, independent of which backends they run on: the Cloud Run binaries
// pass the Google Cloud backends, `maestro dev` the embedded ones.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/warehouse"
	"github.com/maestro-sql/maestro/internal/webui"
)

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type RunJSON struct {
	ID          string                `json:"id"`
	Schedule    string                `json:"schedule,omitempty"`
	Trigger     run.Trigger           `json:"trigger"`
	ResumedFrom string                `json:"resumed_from,omitempty"`
	State       run.RunState          `json:"state"`
	CreatedBy   string                `json:"created_by"`
	CreatedAt   time.Time             `json:"created_at"`
	FinishedAt  *time.Time            `json:"finished_at,omitempty"`
	Stats       run.Stats             `json:"stats"`
	Counts      map[run.NodeState]int `json:"counts,omitempty"`
	Nodes       []NodeJSON            `json:"nodes,omitempty"`
}

type NodeJSON struct {
	Name       string        `json:"name"`
	Kind       string        `json:"kind"`
	State      run.NodeState `json:"state"`
	Attempt    int           `json:"attempt"`
	Upstream   []string      `json:"upstream,omitempty"`
	JobID      string        `json:"job_id,omitempty"`
	Stats      run.Stats     `json:"stats"`
	Error      string        `json:"error,omitempty"`
	StartedAt  *time.Time    `json:"started_at,omitempty"`
	FinishedAt *time.Time    `json:"finished_at,omitempty"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func newRunJSON(rn *run.Run, nodes []*run.Node) RunJSON {
	out := RunJSON{ID: rn.ID, Schedule: rn.Schedule, Trigger: rn.Trigger, ResumedFrom: rn.ResumedFrom, State: rn.State,
		CreatedBy: rn.CreatedBy, CreatedAt: rn.CreatedAt, FinishedAt: optionalTime(rn.FinishedAt), Stats: rn.Stats, Counts: rn.Counts}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, NodeJSON{Name: n.Name, Kind: n.Kind, State: n.State, Attempt: n.Attempt,
			Upstream: n.Upstream, JobID: n.JobID, Stats: n.Stats, Error: n.Error,
			StartedAt: optionalTime(n.StartedAt), FinishedAt: optionalTime(n.FinishedAt)})
	}
	return out
}

// DeliveryJSON is one callback delivery attempt as the API shows it.
type DeliveryJSON struct {
	RunID      string    `json:"run_id"`
	Table      string    `json:"table"`
	DeliveryID string    `json:"delivery_id"`
	URL        string    `json:"url"`
	Event      string    `json:"event,omitempty"`
	Attempt    int       `json:"attempt"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS int64     `json:"duration_ms"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
}

func newDeliveriesJSON(ds []*store.Delivery) []DeliveryJSON {
	out := make([]DeliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = DeliveryJSON{RunID: d.RunID, Table: d.Table, DeliveryID: d.DeliveryID, URL: d.URL, Event: d.Event,
			Attempt: d.Attempt, StartedAt: d.Started, DurationMS: d.Duration.Milliseconds(), StatusCode: d.StatusCode, Error: d.Error}
	}
	return out
}

// APIConfig configures the API handler.
type APIConfig struct {
	// DefaultProject and DefaultDataset resolve table names of synced projects and of tables
	// saved through the API.
	DefaultProject string
	DefaultDataset string
	// External configures the upload routes of external tables.
	External ExternalConfig
	// Pricing prices GET /costs and the estimates of pushed tables. Zero: costs are unknown.
	Pricing spec.Pricing
	// DryRun estimates pushed tables (nil: no estimates); a table whose estimate costs more than
	// Pricing.EstimateWarnUSD is named in the push's answer.
	DryRun warehouse.DryRunner
	// History, when set, is synced after each project sync.
	History HistorySyncer
	// IAP, when its Audience is set, accepts Identity-Aware Proxy's signed identity.
	IAP IAPConfig
	// IAPDefaultRole is the role of an IAP user the store does not know; empty: such users are
	// refused (403) until an admin adds them.
	IAPDefaultRole string
	// ExportURL makes the URL a client reads an export file at (GET /runs/{id}/tables/{table}/exports):
	// maestro dev's file:// URLs. Nil: a GET URL signed by External.Signer, or none without one.
	ExportURL func(ctx context.Context, key string) (string, error)
	// Slack serves Slack's buttons and slash command when its SigningSecret is set.
	Slack SlackConfig
	// TriggerKey derives the secret of every trigger URL (TriggerSecret). Empty: no trigger
	// can be made, and deliveries are refused.
	TriggerKey []byte
	// SignInCodes are one-time codes the web UI's sign-in accepts (maestro dev prints a link with
	// one); nil: none.
	SignInCodes *webui.SignInCodes
	// RequestTimeout bounds a request of a route without its own timeout; defaults to 30 s.
	RequestTimeout time.Duration
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// api is the JSON API's state: what every handler needs.
type api struct {
	st    store.Store
	sched *scheduler.Scheduler
	log   *zap.Logger
	cfg   APIConfig
	auth  *authenticator
	ext   *externalAPI
	// openapi is the OpenAPI document, rendered once.
	openapi []byte
	// tables caches the stored tables for listings.
	tables tableCache
	// graph caches the web UI's graph of the cached tables.
	graph graphCache
}

// API serves the JSON API under /api/v1 (see RouteTable), GET /healthz (open) and the web UI
// (internal/webui) at every other path.
func API(st store.Store, sched *scheduler.Scheduler, log *zap.Logger, cfg APIConfig) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = defaultTimeout
	}
	iapDefault := access.None
	if cfg.IAPDefaultRole != "" {
		if r, err := access.ParseRole(cfg.IAPDefaultRole); err == nil {
			iapDefault = r
		} else {
			log.Warn("ignoring the IAP default role", zap.Error(err))
		}
	}
	a := &api{st: st, sched: sched, log: log, cfg: cfg,
		auth: &authenticator{st: st, iap: newIAPVerifier(cfg.IAP), now: cfg.Now, iapDefault: iapDefault, used: map[string]time.Time{}},
		ext:  newExternalAPI(st, log, cfg.External)}
	routes := a.routeTable()
	a.openapi = openAPIDocument(routes)

	mux := http.NewServeMux()
	methods := map[string][]string{}
	var paths []string
	for i := range routes {
		rt := &routes[i]
		mux.Handle(rt.Method+" "+APIPrefix+rt.Path, a.guard(rt))
		if methods[rt.Path] == nil {
			paths = append(paths, rt.Path)
		}
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
		if rt.Method == http.MethodGet {
			methods[rt.Path] = append(methods[rt.Path], http.MethodHead)
		}
	}
	// A known path with another method: 405 as a problem, with Allow (the mux's own is text).
	for _, path := range paths {
		allow := strings.Join(methods[path], ", ")
		mux.HandleFunc(APIPrefix+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeProblem(w, http.StatusMethodNotAllowed, r.Method+" is not a method of "+r.URL.Path+"; it takes "+allow)
		})
	}
	mux.HandleFunc(APIPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path+": "+APIPrefix+"/openapi.json lists them")
	})
	mux.HandleFunc("GET /healthz", healthz)
	// The web UI takes every other path: its pages authenticate as the API does (a token, the
	// session cookie its sign-in sets, or IAP's assertion) and send a stranger to sign in.
	ui, err := newUI(a)
	if err != nil {
		// The templates are embedded and parsed by the package's tests: this is a build bug.
		panic(err)
	}
	mux.Handle("/", ui)
	// Behind IAP a browser's cookie is an ambient credential: a page elsewhere must not make it
	// POST here. Browsers say where a request comes from (Sec-Fetch-Site, Origin); the CLI and
	// other programs send neither and pass.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusForbidden, "a cross-origin browser request may not change anything here")
	}))
	return csrf.Handler(mux)
}

// RouteTable is every route of the JSON API, for documentation and tests; its handlers are
// not usable.
func RouteTable() []Route {
	return (&api{}).routeTable()
}

// routeTable declares the JSON API. Adding a route is adding a line here.
func (a *api) routeTable() []Route {
	viewer, editor, admin := access.Viewer, access.Editor, access.Admin
	tableQuery := []Param{
		{Name: "owner", Type: "string", Description: "only tables of this owner"},
		{Name: "group", Type: "string", Description: "only tables of this group"},
		{Name: "dataset", Type: "string", Description: "only tables of this dataset"},
		{Name: "kind", Type: "string", Description: "only tables of this kind (query, import, external)"},
		{Name: "limit", Type: "integer", Description: "page size, 1 to 1000 (default 100)"},
		{Name: "cursor", Type: "string", Description: "the next_cursor of the previous page"},
	}
	saveQuery := []Param{{Name: "message", Type: "string", Description: "the revision's message, kept with it and in the Git history (default: saved through the API)"}}
	return []Route{
		{Method: "GET", Path: "/openapi.json", Tag: "meta", Summary: "This API's OpenAPI 3.1 document", Role: access.None, Status: 200, Response: map[string]any{}, handler: a.getOpenAPI},
		{Method: "GET", Path: "/me", Tag: "meta", Summary: "The caller", Role: viewer, Status: 200, Response: userJSON{}, handler: a.getMe},

		{Method: "GET", Path: "/tables", Tag: "tables", Summary: "List tables, by name, a page at a time", Role: viewer, Status: 200, Response: TableListJSON{}, Query: tableQuery, handler: a.listTables},
		{Method: "POST", Path: "/tables", Tag: "tables", Summary: "Create a table", Role: editor, TableWrite: true, Status: 201, Request: spec.Table{}, Response: TableJSON{}, ETag: true, Query: saveQuery, handler: a.createTable},
		{Method: "POST", Path: "/check", Tag: "tables", Summary: "Check an unsaved table: what saving it would refuse (with line and column), its upstream and downstream, a dry-run estimate", Role: viewer, Status: 200, Request: spec.Table{}, Response: tableCheckJSON{},
			Query: []Param{{Name: "create", Type: "boolean", Description: "the draft is a new table: a stored table of its name is an error"}}, handler: a.checkTable},
		{Method: "GET", Path: "/tables/{name}", Tag: "tables", Summary: "A table with its upstream and downstream tables", Role: viewer, Status: 200, Response: TableJSON{}, ETag: true, handler: a.getTable},
		{Method: "PUT", Path: "/tables/{name}", Tag: "tables", Summary: "Change a table (If-Match: its ETag)", Role: editor, TableWrite: true, Status: 200, Request: spec.Table{}, Response: TableJSON{}, IfMatch: true, ETag: true, Query: saveQuery, handler: a.updateTable},
		{Method: "DELETE", Path: "/tables/{name}", Tag: "tables", Summary: "Delete a table (If-Match: its ETag)", Role: editor, TableWrite: true, Status: 204, IfMatch: true, handler: a.deleteTable},
		{Method: "GET", Path: "/tables/{name}/history", Tag: "tables", Summary: "Every revision of a table: who, when, what changed, the diff", Role: viewer, Status: 200, Response: tableHistoryJSON{}, handler: handleTableHistory(a.st, a.log)},
		{Method: "GET", Path: "/costs", Tag: "costs", Summary: "What finished runs cost, by table, owner, day or run", Role: viewer, Status: 200, Response: costsResponse{},
			Query: []Param{{Name: "by", Type: "string", Description: "table (default), owner, day or run"}, {Name: "since", Type: "string", Description: "a date, an RFC 3339 time or an age such as 7d (default 30d)"}}, handler: costs(a.st, a.cfg.Pricing, a.log)},
		{Method: "GET", Path: "/graph", Tag: "tables", Summary: "The dependency graph of every table", Role: viewer, Status: 200, Response: graphJSON{}, handler: a.getGraph},

		{Method: "GET", Path: "/schedules", Tag: "schedules", Summary: "List schedules", Role: viewer, Status: 200, Response: scheduleListJSON{}, handler: a.listSchedules},
		{Method: "PUT", Path: "/schedules/{name}", Tag: "schedules", Summary: "Create or replace a schedule", Role: admin, Status: 200, Request: spec.Schedule{}, Response: scheduleJSON{}, handler: a.putSchedule},
		{Method: "DELETE", Path: "/schedules/{name}", Tag: "schedules", Summary: "Delete a schedule", Role: admin, Status: 204, handler: a.deleteSchedule},

		{Method: "GET", Path: "/connections", Tag: "connections", Summary: "List connections (secret references, never secrets)", Role: viewer, Status: 200, Response: connectionListJSON{}, handler: a.listConnections},
		{Method: "PUT", Path: "/connections/{name}", Tag: "connections", Summary: "Create or replace a connection", Role: admin, Status: 200, Request: spec.Connection{}, Response: spec.Connection{}, handler: a.putConnection},
		{Method: "DELETE", Path: "/connections/{name}", Tag: "connections", Summary: "Delete a connection", Role: admin, Status: 204, handler: a.deleteConnection},

		{Method: "GET", Path: "/runs", Tag: "runs", Summary: "List runs, newest first", Role: viewer, Status: 200, Response: runListJSON{},
			Query: []Param{{Name: "state", Type: "string", Description: "only runs in this state"}, {Name: "limit", Type: "integer", Description: "at most this many, 1 to 1000 (default 100)"}}, handler: a.listRuns},
		{Method: "POST", Path: "/runs", Tag: "runs", Summary: "Start a run: a schedule, or tables (and their downstream)", Role: editor, Status: 201, Request: runRequest{}, Response: RunJSON{}, handler: a.startRun},
		{Method: "GET", Path: "/runs/{id}", Tag: "runs", Summary: "A run with its nodes and statistics", Role: viewer, Status: 200, Response: RunJSON{}, handler: a.getRun},
		{Method: "POST", Path: "/runs/{id}/cancel", Tag: "runs", Summary: "Cancel a running run", Role: editor, Status: 200, Response: RunJSON{}, handler: a.cancelRun},
		{Method: "POST", Path: "/runs/{id}/resume", Tag: "runs", Summary: "Re-run the failed and skipped nodes of a finished run, as a new run", Role: editor, Status: 201, Response: RunJSON{}, handler: a.resumeRun},
		{Method: "GET", Path: "/runs/{id}/deliveries", Tag: "runs", Summary: "The callback deliveries of a run", Role: viewer, Status: 200, Response: deliveryListJSON{}, handler: a.listDeliveries},
		{Method: "GET", Path: "/runs/{id}/tables/{table}/exports", Tag: "runs", Summary: "The files a table's exports wrote in a run, with URLs to read them", Role: viewer, Status: 200, Response: exportListJSON{}, handler: a.listExports},
		{Method: "POST", Path: "/runs/{id}/tables/{table}/upload", Tag: "external", Summary: "Where to PUT an external table's file", Role: editor, TableWrite: true, Status: 200, Response: uploadJSON{}, handler: a.ext.upload},
		{Method: "PUT", Path: "/runs/{id}/tables/{table}/data", Tag: "external", Summary: "An external table's file, when the server takes it itself (maestro dev)", Role: editor, TableWrite: true, Status: 204, RawBody: "text/csv",
			MaxBody: 1 << 40, Timeout: time.Hour, handler: a.ext.data},
		{Method: "POST", Path: "/runs/{id}/tables/{table}/uploaded", Tag: "external", Summary: "The file is complete: the run loads it", Role: editor, TableWrite: true, Status: 200, Response: uploadedJSON{}, handler: a.ext.uploaded},

		{Method: "GET", Path: "/mutes", Tag: "mutes", Summary: "Tables whose Slack alerts are muted, and until when", Role: viewer, Status: 200, Response: muteListJSON{}, handler: a.listMutes},
		{Method: "PUT", Path: "/mutes/{name}", Tag: "mutes", Summary: "Mute a table's Slack alerts (hours, default 24)", Role: editor, TableWrite: true, Status: 200, Request: muteRequest{}, Response: MuteJSON{}, handler: a.putMute},
		{Method: "DELETE", Path: "/mutes/{name}", Tag: "mutes", Summary: "Unmute a table's Slack alerts", Role: editor, TableWrite: true, Status: 204, handler: a.deleteMute},

		{Method: "GET", Path: "/triggers", Tag: "triggers", Summary: "List trigger URLs (never their secrets)", Role: viewer, Status: 200, Response: triggerListJSON{}, handler: a.listTriggers},
		{Method: "POST", Path: "/triggers", Tag: "triggers", Summary: "Make a trigger URL for a table (or a schedule, admins), its secret shown once", Role: editor, TableWrite: true, Status: 201, Request: triggerRequest{}, Response: TriggerJSON{}, handler: a.createTrigger},
		{Method: "POST", Path: "/triggers/{id}/rotate", Tag: "triggers", Summary: "Give a trigger a new secret, shown once (the old one stops working)", Role: editor, TableWrite: true, Status: 200, Response: TriggerJSON{}, handler: a.rotateTrigger},
		{Method: "DELETE", Path: "/triggers/{id}", Tag: "triggers", Summary: "Delete a trigger URL", Role: editor, TableWrite: true, Status: 204, handler: a.deleteTrigger},
		{Method: "GET", Path: "/triggers/{id}/deliveries", Tag: "triggers", Summary: "A trigger's deliveries, newest first: accepted, duplicate or refused, and why", Role: viewer, Status: 200, Response: triggerDeliveryListJSON{},
			Query: []Param{{Name: "limit", Type: "integer", Description: "at most this many, 1 to 1000 (default 100)"}}, handler: a.listTriggerDeliveries},
		{Method: "POST", Path: "/hooks/{id}", Tag: "triggers", Summary: "A trigger's delivery: signed with its secret (Maestro-Signature), Idempotency-Key optional; starts its run", Role: access.None, Status: 202, RawBody: "application/json", Response: hookAnswerJSON{}, handler: a.fireTrigger},
		{Method: "POST", Path: "/slack/interactions", Tag: "slack", Summary: "Slack's button presses (signed by Slack)", Role: access.None, Status: 200, RawBody: "application/x-www-form-urlencoded", handler: a.slackInteraction},
		{Method: "POST", Path: "/slack/commands", Tag: "slack", Summary: "The /maestro slash command (signed by Slack)", Role: access.None, Status: 200, RawBody: "application/x-www-form-urlencoded", handler: a.slackCommand},

		{Method: "PUT", Path: "/project", Tag: "project", Summary: "Replace every definition with a project's (maestro push)", Role: admin, Status: 200, Request: spec.Project{}, Response: syncJSON{},
			MaxBody: maxProjectBytes, Timeout: 5 * time.Minute, handler: a.putProject},

		{Method: "GET", Path: "/users", Tag: "users", Summary: "List users", Role: admin, Status: 200, Response: userListJSON{}, handler: a.listUsers},
		{Method: "GET", Path: "/users/{email}", Tag: "users", Summary: "A user", Role: admin, Status: 200, Response: userJSON{}, handler: a.getUser},
		{Method: "PUT", Path: "/users/{email}", Tag: "users", Summary: "Create or replace a user", Role: admin, Status: 200, Request: userJSON{}, Response: userJSON{}, handler: a.putUser},
		{Method: "DELETE", Path: "/users/{email}", Tag: "users", Summary: "Remove a user (their tokens stop working)", Role: admin, Status: 204, handler: a.deleteUser},

		{Method: "GET", Path: "/tokens", Tag: "tokens", Summary: "The caller's API tokens (an admin: ?owner=EMAIL, or ?all=true)", Role: viewer, Status: 200, Response: tokenListJSON{},
			Query: []Param{{Name: "owner", Type: "string", Description: "admins: this user's tokens"}, {Name: "all", Type: "boolean", Description: "admins: everyone's tokens"}}, handler: a.listTokens},
		{Method: "POST", Path: "/tokens", Tag: "tokens", Summary: "Create an API token, shown once (an admin may name another owner)", Role: viewer, Status: 201, Request: tokenRequest{}, Response: newTokenJSON{}, handler: a.createToken},
		{Method: "DELETE", Path: "/tokens/{id}", Tag: "tokens", Summary: "Revoke a token (one's own; an admin, anyone's)", Role: viewer, Status: 204, handler: a.revokeToken},
	}
}

func (a *api) getOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(a.openapi)
}

// storeFailed answers 404 for ErrNotFound (with notFound as the detail), 409 for ErrConflict,
// and 500 (logged) otherwise.
func (a *api) storeFailed(w http.ResponseWriter, r *http.Request, err error, doing, notFound string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeProblem(w, http.StatusNotFound, notFound)
	case errors.Is(err, store.ErrConflict):
		writeProblem(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeProblem(w, http.StatusServiceUnavailable, doing+" took too long")
	default:
		a.log.Error(doing, zap.String("path", r.URL.Path), zap.Error(err))
		writeProblem(w, http.StatusInternalServerError, doing+" failed; see the log")
	}
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
