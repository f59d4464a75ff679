package sqlitestore

import (
	"errors"
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

// TestBatchRerun checks the writes that run without a savepoint: when one of them fails inside
// a batch, its changes are undone and the other writes of the batch still count, each once.
func TestBatchRerun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "maestro.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.tx(ctx, func(t *tx) error {
		_, err := t.exec(`CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
		return err
	}))
	add := func(t *tx, name string) error {
		_, err := t.exec(`INSERT INTO counters (name, n) VALUES (?, 1)
			ON CONFLICT (name) DO UPDATE SET n = n + 1`, name)
		return err
	}

	// The first write holds the writer until the others are queued, so they join its batch.
	release := make(chan struct{})
	started := make(chan struct{})
	errc := make(chan error, 4)
	go func() {
		errc <- s.txRerun(ctx, func(t *tx) error {
			select {
			case <-started:
			default:
				close(started)
				<-release
			}
			return add(t, "first")
		})
	}()
	<-started
	boom := errors.New("boom")
	queued := func(n int) {
		require.Eventually(t, func() bool {
			s.pendMu.Lock()
			defer s.pendMu.Unlock()
			return len(s.pending) == n
		}, 5*time.Second, time.Millisecond)
	}
	// In this order: the failing write runs without a savepoint, so the batch runs again.
	go func() {
		errc <- s.txRerun(ctx, func(t *tx) error {
			if err := add(t, "failed"); err != nil {
				return err
			}
			return boom
		})
	}()
	queued(1)
	go func() { errc <- s.single(ctx, func(t *tx) error { return add(t, "alone") }) }()
	queued(2)
	go func() { errc <- s.tx(ctx, func(t *tx) error { return add(t, "savepoint") }) }()
	queued(3)
	close(release)
	var errs []error
	for range 4 {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], boom)

	rows, err := s.read.QueryContext(ctx, `SELECT name, n FROM counters ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		require.NoError(t, rows.Scan(&name, &n))
		got[name] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int{"first": 1, "alone": 1, "savepoint": 1}, got)
}
