package main

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/store"
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

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

type runView struct {
	Run   *run.Run
	Nodes []*run.Node
}

// statusHandler serves /healthz, a plain status page of recent runs, and run triggers, until
// the API and UI land.
func statusHandler(st store.Store, sched *scheduler.Scheduler, log *zap.Logger) http.Handler {
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
			WithDownstream: req.Downstream, Trigger: run.TriggerManual, User: "dev", At: time.Now()})
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
		rn, err := sched.Resume(r.Context(), r.PathValue("id"), "dev")
		writeRunResult(w, rn, err, log)
	})
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
