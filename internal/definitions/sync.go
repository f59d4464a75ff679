// Package definitions keeps the store's table, schedule and connection definitions in step with
// a project: `maestro dev` syncs its folder at start, the API syncs what `maestro push` sends.
package definitions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// SyncResult counts what a sync changed.
type SyncResult struct {
	Created, Updated, Deleted, Unchanged int
	// Changed names the tables created or updated, in the project's order.
	Changed []string
}

// Sync makes the store's definitions match a project folder: new and changed tables get a
// revision by user, tables gone from the folder are deleted, schedules are replaced.
func Sync(ctx context.Context, st store.Store, p *spec.Project, user string) (SyncResult, error) {
	var res SyncResult
	current, err := st.TableList(ctx)
	if err != nil {
		return res, fmt.Errorf("error listing stored tables: %w", err)
	}
	stored := make(map[string]*store.TableRecord, len(current))
	for _, rec := range current {
		stored[rec.Table.Name] = rec
	}
	for _, t := range p.Tables {
		rec, ok := stored[t.Name]
		delete(stored, t.Name)
		if ok && sameDefinition(rec.Table, t) {
			res.Unchanged++
			continue
		}
		params := &store.TablePutParams{Table: t, User: user, Message: "synced from " + t.File}
		if ok {
			params.IfRevision = rec.Revision
			res.Updated++
		} else {
			params.Create = true
			res.Created++
		}
		if _, err := st.TablePut(ctx, params); err != nil {
			return res, fmt.Errorf("error saving table %q: %w", t.Name, err)
		}
		res.Changed = append(res.Changed, t.Name)
	}
	for name := range stored {
		if err := st.TableDelete(ctx, name, user); err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, fmt.Errorf("error deleting table %q: %w", name, err)
		}
		res.Deleted++
	}

	schedules, err := st.ScheduleList(ctx)
	if err != nil {
		return res, fmt.Errorf("error listing schedules: %w", err)
	}
	keep := map[string]bool{}
	for _, s := range p.Schedules {
		keep[s.Name] = true
		if err := st.SchedulePut(ctx, s); err != nil {
			return res, fmt.Errorf("error saving schedule %q: %w", s.Name, err)
		}
	}
	for _, s := range schedules {
		if !keep[s.Schedule.Name] {
			if err := st.ScheduleDelete(ctx, s.Schedule.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
				return res, fmt.Errorf("error deleting schedule %q: %w", s.Schedule.Name, err)
			}
		}
	}
	for _, c := range p.Connections {
		if err := st.ConnectionPut(ctx, c); err != nil {
			return res, fmt.Errorf("error saving connection %q: %w", c.Name, err)
		}
	}
	return res, nil
}

func sameDefinition(a, b spec.Table) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
