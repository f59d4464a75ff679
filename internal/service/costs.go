package service

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// costsSinceDefault is how far back GET /costs looks when since is not given.
const costsSinceDefault = 30 * 24 * time.Hour

// costsResponse is GET /costs' answer. USD figures are null when no pricing is configured.
type costsResponse struct {
	By       string        `json:"by"`
	Since    time.Time     `json:"since"`
	Pricing  *spec.Pricing `json:"pricing"`
	Rows     []cost.Row    `json:"rows"`
	TotalUSD *float64      `json:"total_usd"`
}

// costs answers GET /costs?by=table|owner|day|run&since=...: what finished runs cost, summed.
func costs(st store.Store, pricing spec.Pricing, log *zap.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		by := q.Get("by")
		if by == "" {
			by = "table"
		}
		if !slices.Contains(cost.Groupings, by) {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("by must be one of %s, not %q", strings.Join(cost.Groupings, ", "), by))
			return
		}
		since, err := parseSince(q.Get("since"), time.Now())
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, err.Error())
			return
		}
		items, err := cost.Collect(r.Context(), st, since)
		if err != nil {
			log.Error("collecting costs", zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "the costs could not be read; see the log")
			return
		}
		rows, _ := cost.Sum(pricing, by, items) // by is checked above
		out := costsResponse{By: by, Since: since.UTC(), Rows: rows}
		if out.Rows == nil {
			out.Rows = []cost.Row{}
		}
		if pricing.Model != "" {
			p := pricing
			out.Pricing = &p
			total := 0.0
			for _, row := range rows {
				total += *row.USD
			}
			out.TotalUSD = &total
		}
		writeJSON(w, out)
	}
}

// parseSince reads since: a date (2026-03-01, UTC), an RFC 3339 time, or an age such as 7d or
// 36h. Empty: 30 days before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.Add(-costsSinceDefault), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("since must be a date (2026-03-01), an RFC 3339 time or an age (7d, 36h), not %q", s)
}
