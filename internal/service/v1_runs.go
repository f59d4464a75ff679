package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/definitions"
	"github.com/maestro-sql/maestro/internal/exporter"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/schedule"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// runRequest starts a run: a schedule's tables, or the named tables (and, with downstream,
// every table downstream of them).
type runRequest struct {
	Schedule   string   `json:"schedule,omitempty"`
	Tables     []string `json:"tables,omitempty"`
	Downstream bool     `json:"downstream,omitempty"`
}

type runListJSON struct {
	Runs []RunJSON `json:"runs"`
}

type deliveryListJSON struct {
	Deliveries []DeliveryJSON `json:"deliveries"`
}

// runFailed answers a scheduler or store error of a run route.
func (a *api) runFailed(w http.ResponseWriter, r *http.Request, err error, id string) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeProblem(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict), errors.Is(err, scheduler.ErrNothingToRun):
		writeProblem(w, http.StatusConflict, err.Error())
	default:
		a.log.Error("run request failed", zap.String("run_id", id), zap.Error(err))
		writeProblem(w, http.StatusInternalServerError, "the run request failed; see the log")
	}
}

func (a *api) listRuns(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(w, r.URL.Query().Get("limit"))
	if !ok {
		return
	}
	runs, err := a.st.RunList(r.Context(), &store.RunListParams{State: run.RunState(r.URL.Query().Get("state")), Limit: limit})
	if err != nil {
		a.storeFailed(w, r, err, "listing runs", "")
		return
	}
	out := runListJSON{Runs: make([]RunJSON, len(runs))}
	for i, rn := range runs {
		out.Runs[i] = newRunJSON(rn, nil)
	}
	writeJSON(w, out)
}

func (a *api) startRun(w http.ResponseWriter, r *http.Request) {
	var req runRequest
	if !decodeBody(w, r, defaultMaxBody, &req) {
		return
	}
	if (req.Schedule == "") == (len(req.Tables) == 0) {
		writeProblem(w, http.StatusUnprocessableEntity, "give exactly one of schedule or tables",
			FieldError{Field: "schedule", Reason: "exactly one of schedule or tables"}, FieldError{Field: "tables", Reason: "exactly one of schedule or tables"})
		return
	}
	if a.sched == nil {
		writeProblem(w, http.StatusServiceUnavailable, "this server starts no runs")
		return
	}
	if req.Downstream && len(req.Tables) == 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "downstream applies to tables", FieldError{Field: "downstream", Reason: "only with tables"})
		return
	}
	rn, err := a.sched.Start(r.Context(), scheduler.StartParams{Schedule: req.Schedule, Tables: req.Tables,
		WithDownstream: req.Downstream, Trigger: run.TriggerManual, User: userName(r.Context()), At: a.cfg.Now()})
	if err != nil {
		a.runFailed(w, r, err, "")
		return
	}
	a.writeRun(w, r, rn.ID, http.StatusCreated)
}

// writeRun answers a run with its nodes.
func (a *api) writeRun(w http.ResponseWriter, r *http.Request, id string, status int) {
	rn, err := a.st.RunGet(r.Context(), id)
	if err != nil {
		a.runFailed(w, r, err, id)
		return
	}
	nodes, err := a.st.NodeList(r.Context(), id)
	if err != nil {
		a.runFailed(w, r, err, id)
		return
	}
	if status == http.StatusCreated {
		w.Header().Set("Location", APIPrefix+"/runs/"+id)
	}
	out := newRunJSON(rn, nodes)
	if out.Counts == nil {
		// A running run's counts are not stored (no hot document): count them here.
		out.Counts = map[run.NodeState]int{}
		for _, n := range nodes {
			out.Counts[n.State]++
		}
	}
	writeJSONStatus(w, status, out)
}

func (a *api) getRun(w http.ResponseWriter, r *http.Request) {
	a.writeRun(w, r, r.PathValue("id"), http.StatusOK)
}

func (a *api) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if a.sched == nil {
		writeProblem(w, http.StatusServiceUnavailable, "this server starts no runs")
		return
	}
	if err := a.sched.Cancel(r.Context(), id); err != nil {
		a.runFailed(w, r, err, id)
		return
	}
	a.log.Info("run cancelled", zap.String("run_id", id), zap.String("user", userName(r.Context())))
	a.writeRun(w, r, id, http.StatusOK)
}

func (a *api) resumeRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if a.sched == nil {
		writeProblem(w, http.StatusServiceUnavailable, "this server starts no runs")
		return
	}
	rn, err := a.sched.Resume(r.Context(), id, userName(r.Context()))
	if err != nil {
		a.runFailed(w, r, err, id)
		return
	}
	a.writeRun(w, r, rn.ID, http.StatusCreated)
}

func (a *api) listDeliveries(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.st.RunGet(r.Context(), id); err != nil {
		a.runFailed(w, r, err, id)
		return
	}
	ds, err := a.st.DeliveryList(r.Context(), id)
	if err != nil {
		a.storeFailed(w, r, err, "listing the deliveries of run "+id, "")
		return
	}
	writeJSON(w, deliveryListJSON{Deliveries: newDeliveriesJSON(ds)})
}

type scheduleJSON struct {
	spec.Schedule
	LastFiredAt *time.Time `json:"last_fired_at,omitempty"`
}

type scheduleListJSON struct {
	Schedules []scheduleJSON `json:"schedules"`
}

func (a *api) listSchedules(w http.ResponseWriter, r *http.Request) {
	recs, err := a.st.ScheduleList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing schedules", "")
		return
	}
	out := scheduleListJSON{Schedules: make([]scheduleJSON, len(recs))}
	for i, rec := range recs {
		out.Schedules[i] = scheduleJSON{Schedule: rec.Schedule, LastFiredAt: optionalTime(rec.LastFiredAt)}
	}
	writeJSON(w, out)
}

func (a *api) putSchedule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var s spec.Schedule
	if !decodeBody(w, r, defaultMaxBody, &s) {
		return
	}
	if s.Name != "" && s.Name != name {
		writeProblem(w, http.StatusUnprocessableEntity, "the body names another schedule than the path", FieldError{Field: "name", Reason: "must be " + name})
		return
	}
	s.Name = name
	var errs []FieldError
	if !identRE.MatchString(name) {
		errs = append(errs, FieldError{Field: "name", Reason: "must be letters, digits and underscores"})
	}
	if _, err := schedule.ParseSchedule(s); err != nil {
		errs = append(errs, FieldError{Field: "cron", Reason: err.Error()})
	}
	if s.MaxParallel < 0 {
		errs = append(errs, FieldError{Field: "max_parallel", Reason: "must not be negative"})
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "schedule "+name+" is not valid", errs...)
		return
	}
	if err := a.st.SchedulePut(r.Context(), s); err != nil {
		a.storeFailed(w, r, err, "saving schedule "+name, "")
		return
	}
	a.log.Info("schedule saved", zap.String("schedule", name), zap.String("user", userName(r.Context())))
	writeJSON(w, scheduleJSON{Schedule: s})
}

func (a *api) deleteSchedule(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	recs, err := a.st.TableList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	var users []string
	for _, rec := range recs {
		for _, s := range rec.Table.Schedules {
			if s == name {
				users = append(users, rec.Table.Name)
			}
		}
	}
	if len(users) > 0 {
		writeProblem(w, http.StatusConflict, "schedule "+name+" runs "+strings.Join(users, ", ")+": take it out of them first")
		return
	}
	if err := a.st.ScheduleDelete(r.Context(), name); err != nil {
		a.storeFailed(w, r, err, "deleting schedule "+name, "no schedule "+name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type connectionListJSON struct {
	Connections []spec.Connection `json:"connections"`
}

func (a *api) listConnections(w http.ResponseWriter, r *http.Request) {
	cs, err := a.st.ConnectionList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing connections", "")
		return
	}
	if cs == nil {
		cs = []spec.Connection{}
	}
	writeJSON(w, connectionListJSON{Connections: cs})
}

// secretRefPrefixes are the kinds of secret reference a connection may hold; anything else
// might be a secret pasted in by mistake, and is refused rather than stored.
var secretRefPrefixes = []string{"env:", "file:", "secretmanager:"}

func (a *api) putConnection(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var c spec.Connection
	if !decodeBody(w, r, defaultMaxBody, &c) {
		return
	}
	if c.Name != "" && c.Name != name {
		writeProblem(w, http.StatusUnprocessableEntity, "the body names another connection than the path", FieldError{Field: "name", Reason: "must be " + name})
		return
	}
	c.Name = name
	var errs []FieldError
	if !identRE.MatchString(name) {
		errs = append(errs, FieldError{Field: "name", Reason: "must be letters, digits and underscores"})
	}
	if c.Driver != "postgres" && c.Driver != "mysql" && c.Driver != "sqlite" {
		errs = append(errs, FieldError{Field: "driver", Reason: "must be postgres, mysql or sqlite"})
	}
	if !hasAnyPrefix(c.SecretRef, secretRefPrefixes) {
		// The value is not echoed: it may be the secret itself.
		errs = append(errs, FieldError{Field: "secret_ref", Reason: "must reference a secret (env:NAME, file:PATH or secretmanager:projects/P/secrets/S/versions/V), never hold one"})
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "connection "+name+" is not valid", errs...)
		return
	}
	if err := a.st.ConnectionPut(r.Context(), c); err != nil {
		a.storeFailed(w, r, err, "saving connection "+name, "")
		return
	}
	writeJSON(w, c)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) && len(s) > len(p) {
			return true
		}
	}
	return false
}

func (a *api) deleteConnection(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	recs, err := a.st.TableList(r.Context())
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	for _, rec := range recs {
		if rec.Table.Import != nil && rec.Table.Import.Connection == name {
			writeProblem(w, http.StatusConflict, "connection "+name+" is read by table "+rec.Table.Name+": change it first")
			return
		}
	}
	if err := a.st.ConnectionDelete(r.Context(), name); err != nil {
		a.storeFailed(w, r, err, "deleting connection "+name, "no connection "+name)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxProjectBytes bounds a synced project: 10,000 tables of 3 KB each, with room to spare.
const maxProjectBytes = 64 << 20

type syncJSON struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Deleted   int `json:"deleted"`
	Unchanged int `json:"unchanged"`
	// Warnings name changed tables whose dry-run estimate costs more than the pricing's
	// estimate_warn_usd.
	Warnings []cost.Warning `json:"warnings,omitempty"`
	// HistoryError says why the Git history could not be brought up to date; the definitions are
	// saved all the same, and the next sync retries.
	HistoryError string `json:"history_error,omitempty"`
}

func (a *api) putProject(w http.ResponseWriter, r *http.Request) {
	var p spec.Project
	if !decodeBody(w, r, maxProjectBytes, &p) {
		return
	}
	// Names resolve at run time against the services' defaults, so a project written for
	// other defaults would silently read other tables.
	if p.DefaultProject != "" && !strings.EqualFold(p.DefaultProject, a.cfg.DefaultProject) ||
		p.DefaultDataset != "" && !strings.EqualFold(p.DefaultDataset, a.cfg.DefaultDataset) {
		writeProblem(w, http.StatusUnprocessableEntity, fmt.Sprintf(
			"the project's defaults (project %q, dataset %q) differ from this server's (MAESTRO_DEFAULT_PROJECT %q, MAESTRO_DEFAULT_DATASET %q)",
			p.DefaultProject, p.DefaultDataset, a.cfg.DefaultProject, a.cfg.DefaultDataset),
			FieldError{Field: "default_project", Reason: "must match the server's"})
		return
	}
	p.DefaultProject, p.DefaultDataset = a.cfg.DefaultProject, a.cfg.DefaultDataset
	// The whole project is checked before anything is saved: a table that does not parse or
	// a cycle leaves every stored definition as it was.
	if _, err := project.Graph(&p); err != nil {
		writeProblem(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if errs := checkProjectURLs(&p); len(errs) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "the project names callback or webhook URLs that can never be sent to", errs...)
		return
	}
	var actor store.User
	if pr := principalOf(r.Context()); pr != nil {
		actor = pr.User
	}
	res, err := definitions.Sync(r.Context(), a.st, &p, actor)
	a.tablesChanged()
	if errors.Is(err, definitions.ErrForbidden) {
		writeProblem(w, http.StatusForbidden, err.Error())
		return
	}
	if err != nil {
		a.storeFailed(w, r, err, "syncing the project", "")
		return
	}
	answer := syncJSON{Created: res.Created, Updated: res.Updated, Deleted: res.Deleted, Unchanged: res.Unchanged}
	if warnings, err := cost.EstimateWarnings(r.Context(), a.cfg.DryRun, &p, a.cfg.Pricing, res.Changed); err != nil {
		a.log.Warn("estimating pushed tables", zap.Error(err))
	} else {
		answer.Warnings = warnings
	}
	answer.HistoryError = syncHistory(r.Context(), a.cfg.History, a.log)
	writeJSON(w, answer)
}

// exportFileJSON is one file export of a table in a run: where its file is, and how to read it.
type exportFileJSON struct {
	// Index is the export's position among the table's exports, from 1 (sheet and PostgreSQL
	// exports count too, though they have no file and are not listed).
	Index  int    `json:"index"`
	Format string `json:"format"`
	Header bool   `json:"header,omitempty"`
	Gzip   bool   `json:"gzip,omitempty"`
	// Key is the file's object key in the bucket.
	Key string `json:"key"`
	// Exists says whether the file is in the bucket; absent when the server has no bucket.
	Exists *bool `json:"exists,omitempty"`
	// URL fetches the file: a signed https URL in production, a file:// URL with maestro dev;
	// absent when the server cannot make one.
	URL string `json:"url,omitempty"`
}

// exportListJSON answers GET /runs/{id}/tables/{table}/exports.
type exportListJSON struct {
	RunID string `json:"run_id"`
	Table string `json:"table"`
	// State is the table's node state in the run: its files are the run's only once it succeeded.
	State   run.NodeState    `json:"state"`
	Exports []exportFileJSON `json:"exports"`
}

// exportURLExpiry is how long a signed URL of an export file is valid.
const exportURLExpiry = 15 * time.Minute

// listExports names the files a table's file exports (CSV, JSON, Parquet) write in a run, so a
// client can read the table's data without a callback. The keys come from the table's current
// definition (a run keeps no copy of it); Exists tells whether the run actually wrote each one.
func (a *api) listExports(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), strings.ToLower(r.PathValue("table"))
	out, err := a.exportFiles(r.Context(), id, name)
	if err != nil {
		a.storeFailed(w, r, err, "listing the export files of table "+name+" in run "+id, fmt.Sprintf("run %q has no table %q, or the table no longer exists", id, name))
		return
	}
	writeJSON(w, out)
}

// exportFiles is listExports' answer: ErrNotFound (wrapped) when the run has no such table
// or the table no longer exists.
func (a *api) exportFiles(ctx context.Context, id, name string) (*exportListJSON, error) {
	n, err := a.st.NodeGet(ctx, id, name)
	if err != nil {
		return nil, fmt.Errorf("error reading table %s of run %s: %w", name, id, err)
	}
	rec, err := a.st.TableGet(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("error reading table %s: %w", name, err)
	}
	out := &exportListJSON{RunID: id, Table: rec.Table.Name, State: n.State, Exports: []exportFileJSON{}}
	for i, x := range rec.Table.Exports {
		if x.Sheet != nil || x.Postgres != nil {
			continue
		}
		f := exportFileJSON{Index: i + 1, Format: x.Format, Header: x.Header, Gzip: x.Gzip, Key: exporter.Key(x, rec.Table.Name, id)}
		if b := a.cfg.External.Bucket; b != nil {
			// Buckets list by prefix; the file exists when its exact key is among them.
			keys, err := b.List(ctx, f.Key)
			if err != nil {
				return nil, fmt.Errorf("error looking for export file %s: %w", f.Key, err)
			}
			exists := slices.Contains(keys, f.Key)
			f.Exists = &exists
		}
		if f.URL, err = a.exportURL(ctx, f.Key); err != nil {
			return nil, fmt.Errorf("error making the URL of export file %s: %w", f.Key, err)
		}
		out.Exports = append(out.Exports, f)
	}
	return out, nil
}

// exportURL is how a client fetches an export file: APIConfig.ExportURL, else a GET URL
// signed by the upload signer, else none.
func (a *api) exportURL(ctx context.Context, key string) (string, error) {
	switch {
	case a.cfg.ExportURL != nil:
		return a.cfg.ExportURL(ctx, key)
	case a.cfg.External.Signer != nil:
		return a.cfg.External.Signer.SignedURL(ctx, key, http.MethodGet, exportURLExpiry)
	}
	return "", nil
}

// checkProjectURLs refuses the export callbacks and webhooks of a project that point at the
// cloud metadata server or a link-local address (callback.CheckSavedURL).
func checkProjectURLs(p *spec.Project) []FieldError {
	var errs []FieldError
	check := func(field, raw string) {
		if err := callback.CheckSavedURL(raw); err != nil {
			errs = append(errs, FieldError{Field: field, Reason: strings.TrimPrefix(err.Error(), "callback address refused: ")})
		}
	}
	for i, t := range p.Tables {
		for j, e := range t.Exports {
			if e.Callback != nil {
				check(fmt.Sprintf("tables[%d].exports[%d].callback.url", i, j), e.Callback.URL)
			}
		}
	}
	for i, wh := range p.Notify.Webhooks {
		check(fmt.Sprintf("notify.webhooks[%d].url", i), wh.URL)
	}
	return errs
}
