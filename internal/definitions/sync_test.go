package definitions_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/definitions"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

var (
	admin   = store.User{Email: "root@acme.test", Role: definitions.RoleAdmin}
	ana     = store.User{Email: "ana@acme.test", Role: definitions.RoleEditor, Group: "finance"}
	mark    = store.User{Email: "mark@acme.test", Role: definitions.RoleEditor, Group: "marketing"}
	vera    = store.User{Email: "vera@acme.test", Role: definitions.RoleViewer, Group: "finance"}
	nogroup = store.User{Email: "ned@acme.test", Role: definitions.RoleEditor}
)

func table(name, sql, group string) spec.Table {
	return spec.Table{Name: name, SQL: sql, Kind: "query", Group: group}
}

func project(tables ...spec.Table) *spec.Project { return &spec.Project{Tables: tables} }

func openStore(t *testing.T) store.Store {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// snapshot is every table's name → revision, to show that a refused sync changed nothing.
func snapshot(t *testing.T, st store.Store) map[string]int {
	recs, err := st.TableList(context.Background())
	require.NoError(t, err)
	out := map[string]int{}
	for _, r := range recs {
		out[r.Table.Name] = r.Revision
	}
	return out
}

func TestOwnership(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	base := []spec.Table{table("fin.ledger", "SELECT 1", "finance"), table("mkt.campaigns", "SELECT 2", "marketing")}
	_, err := definitions.Sync(ctx, st, project(base...), admin)
	require.NoError(t, err)

	t.Run("AnEditorChangesTheTablesOfItsGroup", func(t *testing.T) {
		changed := table("fin.ledger", "SELECT 10", "")
		res, err := definitions.Sync(ctx, st, project(changed, base[1]), ana)
		require.NoError(t, err)
		require.Equal(t, definitions.SyncResult{Updated: 1, Unchanged: 1, Changed: []string{"fin.ledger"}}, res)
		rec, err := st.TableGet(ctx, "fin.ledger")
		require.NoError(t, err)
		require.Equal(t, "finance", rec.Table.Group, "a definition naming no group keeps the table's")
		require.Equal(t, "ana@acme.test", rec.UpdatedBy)
		base[0] = changed
	})

	t.Run("ARefusedSyncChangesNothing", func(t *testing.T) {
		before := snapshot(t, st)
		// Mark changes his own table, creates one, and changes finance's: all or nothing.
		_, err := definitions.Sync(ctx, st, project(
			table("fin.ledger", "SELECT 'mark was here'", ""),
			table("mkt.campaigns", "SELECT 3", ""),
			table("mkt.new", "SELECT 4", ""),
		), mark)
		require.ErrorIs(t, err, definitions.ErrForbidden)
		require.EqualError(t, err, "the project was not saved (nothing changed):\n"+
			`user "mark@acme.test" (editor of group marketing) may not change table fin.ledger: it belongs to group finance, and an editor changes only the tables of their own group`)
		var pe *definitions.PermissionError
		require.True(t, errors.As(err, &pe))
		require.Equal(t, "fin.ledger", pe.Table)
		require.Equal(t, before, snapshot(t, st))
	})

	t.Run("ANewTableGetsTheEditorsGroup", func(t *testing.T) {
		res, err := definitions.Sync(ctx, st, project(base[0], base[1], table("mkt.new", "SELECT 4", "")), mark)
		require.NoError(t, err)
		require.Equal(t, 1, res.Created)
		rec, err := st.TableGet(ctx, "mkt.new")
		require.NoError(t, err)
		require.Equal(t, "marketing", rec.Table.Group)
		base = append(base, rec.Table)
	})

	t.Run("EveryRefusalIsNamed", func(t *testing.T) {
		before := snapshot(t, st)
		// Ana deletes marketing's tables (left out), creates in marketing and moves hers there.
		_, err := definitions.Sync(ctx, st, project(
			table("fin.ledger", "SELECT 10", "marketing"),
			table("fin.other", "SELECT 5", "marketing"),
		), ana)
		require.ErrorIs(t, err, definitions.ErrForbidden)
		for _, want := range []string{
			`user "ana@acme.test" (editor of group finance) may not change table fin.ledger: only an admin gives a table to another group (group marketing)`,
			`may not create table fin.other: an editor creates tables in their own group, not in group marketing`,
			`may not delete table mkt.campaigns: it belongs to group marketing`,
			`may not delete table mkt.new: it belongs to group marketing`,
		} {
			require.Contains(t, err.Error(), want)
		}
		require.Equal(t, before, snapshot(t, st))
	})

	t.Run("ViewersAndEditorsWithoutAGroupChangeNothing", func(t *testing.T) {
		before := snapshot(t, st)
		_, err := definitions.Sync(ctx, st, project(table("fin.ledger", "SELECT 11", ""), base[1], base[2]), vera)
		require.EqualError(t, err, "the project was not saved (nothing changed):\n"+
			`user "vera@acme.test" (viewer of group finance) may not change table fin.ledger: viewers change no table`)
		_, err = definitions.Sync(ctx, st, project(base[0], base[1], base[2], table("x.y", "SELECT 1", "")), nogroup)
		require.ErrorContains(t, err, `user "ned@acme.test" (editor) may not create table x.y: an editor without a group changes no table`)
		_, err = definitions.Sync(ctx, st, project(table("fin.ledger", "SELECT 11", "")), store.User{Email: "who"})
		require.ErrorContains(t, err, `user "who" (no role) may not change table fin.ledger: only editors and admins change tables`)
		require.Equal(t, before, snapshot(t, st))

		res, err := definitions.Sync(ctx, st, project(base...), vera)
		require.NoError(t, err, "an unchanged project needs no right")
		require.Equal(t, 3, res.Unchanged)

		withSchedule := project(base...)
		withSchedule.Schedules = []spec.Schedule{{Name: "daily", Cron: "@daily"}}
		_, err = definitions.Sync(ctx, st, withSchedule, vera)
		require.EqualError(t, err, "the project was not saved (nothing changed):\n"+
			`user "vera@acme.test" (viewer of group finance) may not change the project's schedules and connections: only editors and admins change them`)
		schedules, err := st.ScheduleList(ctx)
		require.NoError(t, err)
		require.Empty(t, schedules)
		_, err = definitions.Sync(ctx, st, withSchedule, mark)
		require.NoError(t, err, "editors keep the project's settings")
		_, err = definitions.Sync(ctx, st, withSchedule, vera)
		require.NoError(t, err, "unchanged settings need no right")
	})

	t.Run("AnAdminDoesAnything", func(t *testing.T) {
		res, err := definitions.Sync(ctx, st, project(table("fin.ledger", "SELECT 12", "marketing")), admin)
		require.NoError(t, err)
		require.Equal(t, definitions.SyncResult{Updated: 1, Deleted: 2, Changed: []string{"fin.ledger"}}, res)
		rec, err := st.TableGet(ctx, "fin.ledger")
		require.NoError(t, err)
		require.Equal(t, "marketing", rec.Table.Group)
	})
}
