// Package definitions keeps the store's table, schedule and connection definitions in step with
// a project: `maestro dev` syncs its folder at start, the API syncs what `maestro push` sends.
package definitions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// SyncResult counts what a sync changed.
type SyncResult struct {
	Created, Updated, Deleted, Unchanged int
	// Changed names the tables created or updated, in the project's order.
	Changed []string
}

// Sync makes the store's definitions match a project: new and changed tables get a revision by
// user, tables gone from the project are deleted, schedules are replaced. Every change is checked
// against user's rights first (Check for tables; schedules and connections need an editor or an
// admin): if any is refused nothing is saved, and the error joins a *PermissionError
// (errors.Is ErrForbidden) for each refusal.
func Sync(ctx context.Context, st store.Store, p *spec.Project, user store.User) (SyncResult, error) {
	var res SyncResult
	current, err := st.TableList(ctx)
	if err != nil {
		return res, fmt.Errorf("error listing stored tables: %w", err)
	}
	stored := make(map[string]*store.TableRecord, len(current))
	for _, rec := range current {
		stored[rec.Table.Name] = rec
	}
	type put struct {
		params  *store.TablePutParams
		created bool
	}
	var (
		puts    []put
		deletes []string
		refused []error
	)
	for _, t := range p.Tables {
		rec, ok := stored[t.Name]
		delete(stored, t.Name)
		var cur *spec.Table
		if ok {
			cur = &rec.Table
		}
		t = WithGroup(user, cur, t)
		if ok && sameDefinition(rec.Table, t) {
			res.Unchanged++
			continue
		}
		if err := Check(user, t.Name, cur, &t); err != nil {
			refused = append(refused, err)
			continue
		}
		params := &store.TablePutParams{Table: t, User: user.Email, Message: "synced from " + t.File}
		if ok {
			params.IfRevision = rec.Revision
		} else {
			params.Create = true
		}
		puts = append(puts, put{params, !ok})
	}
	for name, rec := range stored {
		if err := Check(user, name, &rec.Table, nil); err != nil {
			refused = append(refused, err)
			continue
		}
		deletes = append(deletes, name)
	}
	schedules, err := st.ScheduleList(ctx)
	if err != nil {
		return res, fmt.Errorf("error listing schedules: %w", err)
	}
	connections, err := st.ConnectionList(ctx)
	if err != nil {
		return res, fmt.Errorf("error listing connections: %w", err)
	}
	if settingsChanged(schedules, connections, p) && user.Role != RoleAdmin && user.Role != RoleEditor {
		refused = append(refused, &PermissionError{User: user, Action: ActionChange, Reason: "only editors and admins change them",
			Table: "", what: "the project's schedules and connections"})
	}
	if len(refused) > 0 {
		sort.Slice(refused, func(i, j int) bool { return refused[i].Error() < refused[j].Error() })
		return SyncResult{}, fmt.Errorf("the project was not saved (nothing changed):\n%w", errors.Join(refused...))
	}
	sort.Strings(deletes)

	for _, u := range puts {
		if _, err := st.TablePut(ctx, u.params); err != nil {
			return res, fmt.Errorf("error saving table %q: %w", u.params.Table.Name, err)
		}
		if u.created {
			res.Created++
		} else {
			res.Updated++
		}
		res.Changed = append(res.Changed, u.params.Table.Name)
	}
	for _, name := range deletes {
		if err := st.TableDelete(ctx, name, user.Email); err != nil && !errors.Is(err, store.ErrNotFound) {
			return res, fmt.Errorf("error deleting table %q: %w", name, err)
		}
		res.Deleted++
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

// settingsChanged reports whether syncing p would change the stored schedules or connections.
func settingsChanged(schedules []*store.ScheduleRecord, connections []spec.Connection, p *spec.Project) bool {
	if len(schedules) != len(p.Schedules) {
		return true
	}
	stored := make(map[string]spec.Schedule, len(schedules))
	for _, s := range schedules {
		stored[s.Schedule.Name] = s.Schedule
	}
	for _, s := range p.Schedules {
		if cur, ok := stored[s.Name]; !ok || cur != s {
			return true
		}
	}
	conns := make(map[string]spec.Connection, len(connections))
	for _, c := range connections {
		conns[c.Name] = c
	}
	for _, c := range p.Connections {
		if cur, ok := conns[c.Name]; !ok || cur != c {
			return true
		}
	}
	return false
}

func sameDefinition(a, b spec.Table) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
