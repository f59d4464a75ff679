package service

import (
	"context"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/store"
)

// HistorySyncer commits the store's new table revisions to the Git history (history.Mirror).
type HistorySyncer interface {
	Sync(ctx context.Context) (history.Result, error)
}

// syncHistory brings the Git history up to date after definitions changed. The definitions are
// saved whatever happens here; the returned text, if not empty, tells the caller the history
// lags (the next sync catches up).
func syncHistory(ctx context.Context, h HistorySyncer, log *zap.Logger) string {
	if h == nil {
		return ""
	}
	if _, err := h.Sync(ctx); err != nil {
		log.Error("syncing the history", zap.Error(err))
		return "the definitions are saved, but the Git history could not be synced (the next sync retries): " + err.Error()
	}
	return ""
}

// tableHistoryJSON is GET /tables/{name}/history's answer.
type tableHistoryJSON struct {
	Table     string          `json:"table"`
	Revisions []history.Entry `json:"revisions"`
}

// handleTableHistory serves GET /tables/{name}/history: every revision of the table, oldest
// first, with who made it, when, what changed and the diff of its files.
func handleTableHistory(st store.Store, log *zap.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		entries, err := history.TableLog(r.Context(), st, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSONError(w, http.StatusNotFound, "table "+name+" was never saved")
		case err != nil:
			log.Error("reading a table's history", zap.String("table", name), zap.Error(err))
			writeJSONError(w, http.StatusInternalServerError, "the history could not be read; see the log")
		default:
			writeJSON(w, tableHistoryJSON{Table: name, Revisions: entries})
		}
	}
}
