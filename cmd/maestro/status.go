package main

import (
	"html/template"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/run"
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

type runView struct {
	Run   *run.Run
	Nodes []*run.Node
}

// statusHandler serves /healthz and a plain status page of recent runs until the API and UI land.
func statusHandler(st store.Store, log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
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
