package sqlitestore

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

func TestOpen(t *testing.T) {
	t.Parallel()

	t.Run("ReopeningKeepsEverythingAndAppliesNoMigrationTwice", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		path := filepath.Join(t.TempDir(), "maestro.db")
		s, err := Open(ctx, path)
		require.NoError(t, err)
		_, err = s.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "a.t", SQL: "SELECT 1"}, User: "ana"})
		require.NoError(t, err)
		require.NoError(t, s.SchedulePut(ctx, spec.Schedule{Name: "daily", Cron: "@daily"}))
		require.NoError(t, s.RunCreate(ctx, &run.Run{ID: "r1", State: run.RunRunning, CreatedAt: time.Unix(100, 0).UTC()},
			[]*run.Node{{Name: "a.t", State: run.NodeReady, Attempt: 1}}))
		before := appliedMigrations(t, s)
		require.NotEmpty(t, before)
		require.NoError(t, s.Close())

		s, err = Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		require.Equal(t, before, appliedMigrations(t, s), "nothing re-applied")
		rec, err := s.TableGet(ctx, "a.t")
		require.NoError(t, err)
		require.Equal(t, "SELECT 1", rec.Table.SQL)
		scheds, err := s.ScheduleList(ctx)
		require.NoError(t, err)
		require.Len(t, scheds, 1)
		n, err := s.NodeGet(ctx, "r1", "a.t")
		require.NoError(t, err)
		require.Equal(t, run.NodeReady, n.State)
	})

	t.Run("AFileFromANewerVersionIsRefused", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		path := filepath.Join(t.TempDir(), "maestro.db")
		s, err := Open(ctx, path)
		require.NoError(t, err)
		require.NoError(t, s.tx(ctx, func(t *tx) error {
			_, err := t.exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 1)`)
			return err
		}))
		require.NoError(t, s.Close())
		_, err = Open(ctx, path)
		require.ErrorContains(t, err, "newer than this program")
	})

	t.Run("AFileThatIsNotADatabaseGivesAClearError", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "maestro.db")
		require.NoError(t, os.WriteFile(path, []byte("this is not an sqlite database, just some text that is long enough"), 0o600))
		_, err := Open(t.Context(), path)
		require.Error(t, err)
		require.Contains(t, err.Error(), path)
		require.Contains(t, err.Error(), "not a database")
	})

	t.Run("AMissingDirectoryGivesAClearError", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "no", "such", "dir", "maestro.db")
		_, err := Open(t.Context(), path)
		require.Error(t, err)
		require.Contains(t, err.Error(), path)
		require.ErrorIs(t, err, os.ErrNotExist)
	})

	t.Run("ADirectoryIsRefused", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		_, err := Open(t.Context(), dir)
		require.ErrorContains(t, err, "it is a directory")
	})

	t.Run("AReadOnlyFileIsRefused", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "maestro.db")
		require.NoError(t, os.WriteFile(path, nil, 0o400))
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			_ = f.Close()
			t.Skip("running with privileges that ignore file permissions")
		}
		_, err := Open(t.Context(), path)
		require.Error(t, err)
		require.Contains(t, err.Error(), path)
	})
}

func appliedMigrations(t *testing.T, s *Store) map[int]int64 {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var v int
		var at int64
		require.NoError(t, rows.Scan(&v, &at))
		out[v] = at
	}
	require.NoError(t, rows.Err())
	return out
}
