package service

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/project"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/store"
)

// tableCheckJSON is POST /check's answer: what saving the draft would say, without
// saving it.
type tableCheckJSON struct {
	// Valid: saving the draft would be accepted.
	Valid bool `json:"valid"`
	// Errors are why it would be refused, each naming its field (and, for SQL that does not
	// parse, its line and column).
	Errors []FieldError `json:"errors"`
	// Upstream, Downstream and ExternalSources are where the draft would stand in the graph of
	// the stored tables; empty while its SQL does not parse.
	Upstream        []string `json:"upstream"`
	Downstream      []string `json:"downstream"`
	ExternalSources []string `json:"external_sources"`
	// Estimate is the dry run's, when the server's warehouse dry-runs and the draft is a valid
	// query.
	Estimate *cost.Estimate `json:"estimate,omitempty"`
}

// draftName stands in for a draft that has no valid name yet, so its SQL still shows what it reads.
const draftName = "maestro_draft.draft"

// checkTable answers POST /check: the checks saving makes (fields, parse, cycles, other
// tables that would break), the draft's neighbours in the graph, and a dry-run estimate. The
// web UI's editor calls it as one types. With ?create=true the draft is a new table, and a
// stored table of its name is an error.
func (a *api) checkTable(w http.ResponseWriter, r *http.Request) {
	var t spec.Table
	if !decodeBody(w, r, defaultMaxBody, &t) {
		return
	}
	ctx := r.Context()
	t.Name = strings.ToLower(strings.TrimSpace(t.Name))
	out := tableCheckJSON{Errors: []FieldError{}, Upstream: []string{}, Downstream: []string{}, ExternalSources: []string{}}
	errs, ok := a.validateDraft(w, r, &t)
	if !ok {
		return
	}
	out.Errors = append(out.Errors, errs...)
	recs, err := a.tablesForList(ctx)
	if err != nil {
		a.storeFailed(w, r, err, "listing tables", "")
		return
	}
	if r.URL.Query().Get("create") == "true" && slices.ContainsFunc(recs, func(rec *store.TableRecord) bool { return rec.Table.Name == t.Name }) {
		out.Errors = append(out.Errors, FieldError{Field: "name", Reason: "table " + t.Name + " exists"})
	}
	if !tableNameRE.MatchString(t.Name) {
		t.Name = draftName
	}
	// The draft alone first: a typo is found without parsing every other table.
	if sqlErr := a.parseDraft(&t); sqlErr != nil {
		out.Errors = append(out.Errors, *sqlErr)
		writeJSON(w, out)
		return
	}
	p := a.projectOf(recs, &t, "")
	g, err := project.Graph(p)
	if err != nil {
		out.Errors = append(out.Errors, graphErrors(t.Name, err)...)
	}
	if g != nil {
		gj := graphOf(g, p, t.Name)
		out.Upstream, out.Downstream, out.ExternalSources = gj.Upstream, gj.Downstream, gj.ExternalSources
	}
	out.Valid = len(out.Errors) == 0
	if out.Valid {
		out.Estimate, err = cost.EstimateTable(ctx, a.cfg.DryRun, a.cfg.DefaultProject, a.cfg.DefaultDataset, a.cfg.Pricing, &t)
		if err != nil && !errors.Is(err, context.Canceled) {
			a.log.Warn("estimating a draft", zap.String("table", t.Name), zap.Error(err))
		}
	}
	writeJSON(w, out)
}

// parseDraft parses a query draft's SQL as the graph would, returning the error with its
// position, or nil.
func (a *api) parseDraft(t *spec.Table) *FieldError {
	if t.Kind != "query" || strings.TrimSpace(t.SQL) == "" {
		return nil
	}
	_, err := sqlref.Extract(t.SQL, sqlref.Options{DefaultProject: a.cfg.DefaultProject, DefaultDataset: a.cfg.DefaultDataset})
	if err == nil {
		return nil
	}
	fe := &FieldError{Field: "sql", Reason: err.Error()}
	var se *sqlref.Error
	if errors.As(err, &se) {
		fe.Line, fe.Column = se.Line, se.Column
	}
	return fe
}
