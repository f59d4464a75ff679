// Package service assembles the production services (scheduler, worker, api) from their parts
// and serves them over HTTP, independent of which backends they run on: the Cloud Run binaries
// pass the Google Cloud backends, `maestro dev` the embedded ones.
package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/definitions"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"dur": func(n *run.Node) string {
		if n.StartedAt.IsZero() || n.FinishedAt.IsZero() {
			return ""
		}
		return n.FinishedAt.Sub(n.StartedAt).Round(time.Millisecond).String()
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Maestro</title>
<meta http-equiv="refresh" content="2">
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:2em}
td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}.succeeded{color:#17653a}.failed{color:#b00020}
.running,.ready{color:#8a5a00}.skipped,.cancelled,.pending{color:#666}</style></head><body>
<h1>Maestro</h1>
{{range .}}<h2>Run {{.Run.ID}} <span class="{{.Run.State}}">{{.Run.State}}</span></h2>
<p>{{.Run.Trigger}} {{.Run.Schedule}} · started {{.Run.CreatedAt.Format "2006-01-02 15:04:05"}}</p>
<table><tr><th>Table</th><th>State</th><th>Attempt</th><th>Duration</th><th>Rows</th><th>Error</th></tr>
{{range .Nodes}}<tr><td>{{.Name}}</td><td class="{{.State}}">{{.State}}</td><td>{{.Attempt}}</td><td>{{dur .}}</td><td>{{.Stats.Rows}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>No runs yet.</p>{{end}}
</body></html>`))

func writeRunResult(w http.ResponseWriter, rn *run.Run, err error, log *zap.Logger) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict), errors.Is(err, scheduler.ErrNothingToRun):
		writeJSONError(w, http.StatusConflict, err.Error())
	case err != nil:
		log.Error("run request failed", zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the run could not be started; see the log")
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": rn.ID, "state": rn.State, "schedule": rn.Schedule, "trigger": rn.Trigger})
	}
}

// maxProjectBytes bounds a synced project: 10,000 tables of 3 KB each, with room to spare.
const maxProjectBytes = 64 << 20

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type runJSON struct {
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
	Nodes       []nodeJSON            `json:"nodes,omitempty"`
}

type nodeJSON struct {
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

func newRunJSON(rn *run.Run, nodes []*run.Node) runJSON {
	out := runJSON{ID: rn.ID, Schedule: rn.Schedule, Trigger: rn.Trigger, ResumedFrom: rn.ResumedFrom, State: rn.State,
		CreatedBy: rn.CreatedBy, CreatedAt: rn.CreatedAt, FinishedAt: optionalTime(rn.FinishedAt), Stats: rn.Stats, Counts: rn.Counts}
	for _, n := range nodes {
		out.Nodes = append(out.Nodes, nodeJSON{Name: n.Name, Kind: n.Kind, State: n.State, Attempt: n.Attempt,
			Upstream: n.Upstream, JobID: n.JobID, Stats: n.Stats, Error: n.Error,
			StartedAt: optionalTime(n.StartedAt), FinishedAt: optionalTime(n.FinishedAt)})
	}
	return out
}

// deliveryJSON is one callback delivery attempt as the API shows it.
type deliveryJSON struct {
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

func newDeliveriesJSON(ds []*store.Delivery) []deliveryJSON {
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = deliveryJSON{RunID: d.RunID, Table: d.Table, DeliveryID: d.DeliveryID, URL: d.URL, Event: d.Event,
			Attempt: d.Attempt, StartedAt: d.Started, DurationMS: d.Duration.Milliseconds(), StatusCode: d.StatusCode, Error: d.Error}
	}
	return out
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

type runView struct {
	Run   *run.Run
	Nodes []*run.Node
}

// APIConfig configures the API handler.
type APIConfig struct {
	// User is recorded as who started runs and changed definitions, until the API has
	// authentication of its own.
	User string
	// UserRole and UserGroup are User's role and group (what it may change, see
	// definitions.Check) when the store has no user of that name; a stored user wins. Empty:
	// such a user changes no table.
	UserRole, UserGroup string
	// DefaultProject and DefaultDataset resolve table names of synced projects.
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
}

// API serves /healthz, a plain status page of recent runs, run triggers and listings, and
// project sync, until the full API and UI land.
func API(st store.Store, sched *scheduler.Scheduler, log *zap.Logger, cfg APIConfig) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /runs", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Schedule   string   `json:"schedule"`
			Tables     []string `json:"tables"`
			Downstream bool     `json:"downstream"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSONError(w, http.StatusBadRequest, "the body must be {\"schedule\": NAME} or {\"tables\": [...], \"downstream\": BOOL}: "+err.Error())
			return
		}
		if (req.Schedule == "") == (len(req.Tables) == 0) {
			writeJSONError(w, http.StatusBadRequest, "give exactly one of schedule or tables")
			return
		}
		rn, err := sched.Start(r.Context(), scheduler.StartParams{Schedule: req.Schedule, Tables: req.Tables,
			WithDownstream: req.Downstream, Trigger: run.TriggerManual, User: cfg.User, At: time.Now()})
		writeRunResult(w, rn, err, log)
	})
	mux.HandleFunc("POST /runs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := sched.Cancel(r.Context(), id); err != nil {
			writeRunResult(w, nil, err, log)
			return
		}
		rn, err := st.RunGet(r.Context(), id)
		writeRunResult(w, rn, err, log)
	})
	mux.HandleFunc("POST /runs/{id}/resume", func(w http.ResponseWriter, r *http.Request) {
		rn, err := sched.Resume(r.Context(), r.PathValue("id"), cfg.User)
		writeRunResult(w, rn, err, log)
	})
	mux.HandleFunc("GET /runs", func(w http.ResponseWriter, r *http.Request) {
		runs, err := st.RunList(r.Context(), &store.RunListParams{State: run.RunState(r.URL.Query().Get("state")), Limit: 100})
		if err != nil {
			log.Error("listing runs", zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "the runs could not be listed; see the log")
			return
		}
		out := make([]runJSON, len(runs))
		for i, rn := range runs {
			out[i] = newRunJSON(rn, nil)
		}
		writeJSON(w, map[string]any{"runs": out})
	})
	mux.HandleFunc("GET /runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		rn, err := st.RunGet(r.Context(), id)
		if err != nil {
			writeRunResult(w, nil, err, log)
			return
		}
		nodes, err := st.NodeList(r.Context(), id)
		if err != nil {
			writeRunResult(w, nil, err, log)
			return
		}
		writeJSON(w, newRunJSON(rn, nodes))
	})
	mux.HandleFunc("GET /runs/{id}/deliveries", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if _, err := st.RunGet(r.Context(), id); err != nil {
			writeRunResult(w, nil, err, log)
			return
		}
		ds, err := st.DeliveryList(r.Context(), id)
		if err != nil {
			log.Error("listing deliveries", zap.String("run_id", id), zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "the deliveries could not be listed; see the log")
			return
		}
		writeJSON(w, map[string]any{"deliveries": newDeliveriesJSON(ds)})
	})
	mux.HandleFunc("PUT /project", func(w http.ResponseWriter, r *http.Request) {
		var p spec.Project
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxProjectBytes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			writeJSONError(w, http.StatusBadRequest, "the body must be a project as `maestro push` sends it: "+err.Error())
			return
		}
		// Names resolve at run time against the services' defaults, so a project written for
		// other defaults would silently read other tables.
		if p.DefaultProject != "" && !strings.EqualFold(p.DefaultProject, cfg.DefaultProject) ||
			p.DefaultDataset != "" && !strings.EqualFold(p.DefaultDataset, cfg.DefaultDataset) {
			writeJSONError(w, http.StatusUnprocessableEntity, fmt.Sprintf(
				"the project's defaults (project %q, dataset %q) differ from this server's (MAESTRO_DEFAULT_PROJECT %q, MAESTRO_DEFAULT_DATASET %q)",
				p.DefaultProject, p.DefaultDataset, cfg.DefaultProject, cfg.DefaultDataset))
			return
		}
		p.DefaultProject, p.DefaultDataset = cfg.DefaultProject, cfg.DefaultDataset
		// The whole project is checked before anything is saved: a table that does not parse or
		// a cycle leaves every stored definition as it was.
		if _, err := project.Graph(&p); err != nil {
			writeJSONError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		actor, err := cfg.actor(r.Context(), st)
		if err != nil {
			log.Error("loading the acting user", zap.String("user", cfg.User), zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "the project could not be saved; see the log")
			return
		}
		res, err := definitions.Sync(r.Context(), st, &p, actor)
		if errors.Is(err, definitions.ErrForbidden) {
			writeJSONError(w, http.StatusForbidden, err.Error())
			return
		}
		if err != nil {
			log.Error("syncing the project", zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "the project could not be saved; see the log")
			return
		}
		answer := map[string]any{"created": res.Created, "updated": res.Updated, "deleted": res.Deleted, "unchanged": res.Unchanged}
		if warnings, err := cost.EstimateWarnings(r.Context(), cfg.DryRun, &p, cfg.Pricing, res.Changed); err != nil {
			log.Warn("estimating pushed tables", zap.Error(err))
		} else if len(warnings) > 0 {
			answer["warnings"] = warnings
		}
		if msg := syncHistory(r.Context(), cfg.History, log); msg != "" {
			answer["history_error"] = msg
		}
		writeJSON(w, answer)
	})
	registerExternal(mux, st, log, cfg.External)
	mux.HandleFunc("GET /costs", costs(st, cfg.Pricing, log))
	mux.HandleFunc("GET /tables/{name}/history", handleTableHistory(st, log))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		runs, err := st.RunList(r.Context(), &store.RunListParams{Limit: 10})
		if err != nil {
			log.Error("status page: listing runs", zap.Error(err))
			http.Error(w, "could not list runs", http.StatusInternalServerError)
			return
		}
		views := make([]runView, 0, len(runs))
		for _, rn := range runs {
			nodes, err := st.NodeList(r.Context(), rn.ID)
			if err != nil {
				log.Error("status page: listing nodes", zap.String("run_id", rn.ID), zap.Error(err))
				http.Error(w, "could not list nodes", http.StatusInternalServerError)
				return
			}
			views = append(views, runView{Run: rn, Nodes: nodes})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, views); err != nil {
			log.Warn("status page: rendering", zap.Error(err))
		}
	})
	return mux
}
