package devmode

import (
	"context"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/history"
)

// openHistory opens the Git history of table changes in the state folder (STATE/history, a
// plain repository: `git -C .maestro/history log -p`) and commits the revisions it lacks. A
// history that cannot be kept is logged and leaves maestro dev running without one (nil).
func openHistory(ctx context.Context, st history.Store, stateDir string, log *zap.Logger) *history.Mirror {
	dir := filepath.Join(stateDir, "history")
	m, err := history.Open(st, history.Config{Dir: dir}, log)
	if err != nil {
		log.Warn("the Git history of table changes is off", zap.Error(err))
		return nil
	}
	if res, err := m.Sync(ctx); err == nil && res.Commits > 0 {
		log.Info("table changes committed to the Git history", zap.String("dir", dir), zap.Int("commits", res.Commits))
	}
	return m
}
