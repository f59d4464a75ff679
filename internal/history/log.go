package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/maestro-sql/maestro/internal/store"
)

// Entry is one revision of a table as the API shows it.
type Entry struct {
	Revision int    `json:"revision"`
	Deleted  bool   `json:"deleted,omitempty"`
	User     string `json:"user"`
	// UserName is the store's name for User, if it has one.
	UserName string    `json:"user_name,omitempty"`
	At       time.Time `json:"at"`
	// Summary says what changed, as the history's commit does.
	Summary string `json:"summary"`
	// Message is the message saved with the revision.
	Message string `json:"message,omitempty"`
	// Diff is the unified diff of the table's SQL and sidecar files from the revision before.
	Diff string `json:"diff"`
}

// LogStore is what TableLog reads.
type LogStore interface {
	TableRevisions(ctx context.Context, name string) ([]*store.TableRecord, error)
	UserGet(ctx context.Context, email string) (*store.User, error)
}

// TableLog returns every revision of a table, oldest first, with what each changed. It reads the
// store, so it needs no repository. ErrNotFound (wrapped) if the table was never saved.
func TableLog(ctx context.Context, st LogStore, name string) ([]Entry, error) {
	revs, err := st.TableRevisions(ctx, name)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	out := make([]Entry, len(revs))
	for i, rec := range revs {
		var prev *store.TableRecord
		if i > 0 {
			prev = revs[i-1]
		}
		userName, ok := names[rec.UpdatedBy]
		if !ok {
			u, err := st.UserGet(ctx, rec.UpdatedBy)
			switch {
			case err == nil:
				userName = u.Name
			case !errors.Is(err, store.ErrNotFound):
				return nil, fmt.Errorf("error loading user %q: %w", rec.UpdatedBy, err)
			}
			names[rec.UpdatedBy] = userName
		}
		out[i] = Entry{Revision: rec.Revision, Deleted: rec.Deleted, User: rec.UpdatedBy, UserName: userName,
			At: rec.UpdatedAt, Summary: Summary(prev, rec), Message: rec.Message, Diff: RevisionDiff(prev, rec)}
	}
	return out, nil
}

// RevisionDiff is the unified diff of a table's files (DATASET/TABLE.sql and .yaml) from prev
// (nil: none) to rec, as git diff shows the history's commit.
func RevisionDiff(prev, rec *store.TableRecord) string {
	ds, base, ok := tablePaths(rec.Table.Name)
	if !ok {
		ds, base = "_", rec.Table.Name
	}
	files := func(r *store.TableRecord) (string, string, bool, bool) {
		if r == nil || r.Deleted {
			return "", "", false, false
		}
		sql, side := Files(&r.Table)
		return sql, string(side), true, side != nil
	}
	aSQL, aSide, aHasSQL, aHasSide := files(prev)
	bSQL, bSide, bHasSQL, bHasSide := files(rec)
	name := func(prefix, file string, exists bool) string {
		if !exists {
			return ""
		}
		return prefix + ds + "/" + file
	}
	return UnifiedDiff(name("a/", base+".sql", aHasSQL), name("b/", base+".sql", bHasSQL), aSQL, bSQL) +
		UnifiedDiff(name("a/", base+".yaml", aHasSide), name("b/", base+".yaml", bHasSide), aSide, bSide)
}
