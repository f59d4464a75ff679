package sqlitestore

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// openStore opens a store in a new folder, closed when the test ends (closing twice is no error),
// and returns it with its path.
func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "maestro.db")
	s, err := Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, path
}

// chainRun creates a running run a → b → c.
func chainRun(t *testing.T, s *Store, id string) {
	t.Helper()
	nodes := []*run.Node{
		{Name: "a", Kind: "query", State: run.NodeReady, Attempt: 1, MaxAttempts: 1, Downstream: []string{"b"}},
		{Name: "b", Kind: "query", State: run.NodePending, Attempt: 1, MaxAttempts: 1, Upstream: []string{"a"},
			Downstream: []string{"c"}, PendingUpstream: 1, Depth: 1},
		{Name: "c", Kind: "query", State: run.NodePending, Attempt: 1, MaxAttempts: 1, Upstream: []string{"b"},
			PendingUpstream: 1, Depth: 2},
	}
	require.NoError(t, s.RunCreate(t.Context(), &run.Run{ID: id, State: run.RunRunning, CreatedAt: t0}, nodes))
}

// succeed claims and finishes a node of run id.
func succeed(t *testing.T, s *Store, id, name string) {
	t.Helper()
	ctx := t.Context()
	n, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: id, Name: name, Attempt: 1, Lease: "w-" + name,
		LeaseExpiresAt: t0.Add(time.Minute), JobID: run.JobID(id, name, 1), Now: t0})
	require.NoError(t, err)
	_, _, err = s.NodeFinish(ctx, &store.NodeRecordOutcomeParams{RunID: id, Name: name, Attempt: n.Attempt,
		Lease: n.Lease, State: run.NodeSucceeded, Stats: run.Stats{Rows: 7}, Now: t0.Add(time.Second)})
	require.NoError(t, err)
}

// copyFiles copies the store's file and its WAL to a new folder, as a crash would leave them.
func copyFiles(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crashed.db")
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(path + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		require.NoError(t, err)
		out, err := os.Create(dst + suffix)
		require.NoError(t, err)
		_, err = io.Copy(out, in)
		require.NoError(t, err)
		require.NoError(t, in.Close())
		require.NoError(t, out.Close())
	}
	return dst
}

func TestLiveRuns(t *testing.T) {
	t.Parallel()

	t.Run("ARunningRunIsRebuiltFromItsJournalAfterAReopen", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, path := openStore(t)
		chainRun(t, s, "r1")
		succeed(t, s, "r1", "a")
		before, err := s.NodeList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, run.NodeReady, before[1].State, "b was unlocked")
		require.NoError(t, s.Close())

		s, err = Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		after, err := s.NodeList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, before, after)
		// It is live again: dispatch and the sweeper see it.
		got, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0.Add(time.Minute)})
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "b", got[0].Name)
	})

	t.Run("WhatSyncConfirmedSurvivesACrash", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, path := openStore(t)
		chainRun(t, s, "r1")
		succeed(t, s, "r1", "a")
		succeed(t, s, "r1", "b")
		require.NoError(t, s.Sync(ctx))
		want, err := s.NodeList(ctx, "r1")
		require.NoError(t, err)

		// The store is still open, its writer idle: the files are what a kill -9 would leave.
		crashed, err := Open(ctx, copyFiles(t, path))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, crashed.Close()) })
		got, err := crashed.NodeList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.Equal(t, run.NodeSucceeded, got[1].State)
		require.Equal(t, run.NodeReady, got[2].State)
	})

	t.Run("AFinishedRunIsWrittenToTheNodesTableAndLeavesMemory", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, _ := openStore(t)
		chainRun(t, s, "r1")
		for _, name := range []string{"a", "b", "c"} {
			succeed(t, s, "r1", name)
		}
		want, err := s.NodeList(ctx, "r1")
		require.NoError(t, err)
		require.NoError(t, s.RunFinish(ctx, &store.RunFinishParams{ID: "r1", State: run.RunSucceeded, FinishedAt: t0.Add(time.Minute)}))
		require.Eventually(t, func() bool {
			_, live := s.live.getRun("r1")
			return !live
		}, 5*time.Second, time.Millisecond, "the run stays in memory")

		var journal int
		require.NoError(t, s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM run_journal`).Scan(&journal))
		require.Zero(t, journal, "its journal is gone")
		got, err := s.NodeList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, want, got, "read from the nodes table, the same")
		r, err := s.RunGet(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, run.RunSucceeded, r.State)
		// A late duplicate changes nothing, through SQL now.
		_, err = s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r1", Name: "a", Attempt: 1, Lease: "late", Now: t0})
		require.ErrorIs(t, err, store.ErrConflict)
	})

	t.Run("ARunThatEndedBeforeACrashIsCompactedWhenReopened", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, path := openStore(t)
		chainRun(t, s, "r1")
		succeed(t, s, "r1", "a")
		require.NoError(t, s.RunCancel(ctx, "r1", t0.Add(time.Minute)))
		want, err := s.NodeList(ctx, "r1")
		require.NoError(t, err)
		// Cancel waited for its write; the copy may or may not hold the compaction.
		crashed, err := Open(ctx, copyFiles(t, path))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, crashed.Close()) })
		_, live := crashed.live.getRun("r1")
		require.False(t, live, "a cancelled run is not live")
		got, err := crashed.NodeList(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.Equal(t, run.NodeCancelled, got[2].State)
	})

	t.Run("ALongRunsJournalStaysBounded", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, path := openStore(t)
		chainRun(t, s, "r1")
		n, err := s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r1", Name: "a", Attempt: 1, Lease: "w",
			LeaseExpiresAt: t0, Now: t0})
		require.NoError(t, err)
		for i := range 500 {
			require.NoError(t, s.NodeHeartbeat(ctx, &store.NodeHeartbeatParams{RunID: "r1", Name: "a", Attempt: 1,
				Lease: n.Lease, LeaseExpiresAt: t0.Add(time.Duration(i+1) * time.Second)}))
			require.NoError(t, s.Sync(ctx)) // a write each: the worst case for the journal
		}
		var records int
		rows, err := s.read.QueryContext(ctx, `SELECT entry FROM run_journal WHERE run_id = 'r1'`)
		require.NoError(t, err)
		for rows.Next() {
			var blob []byte
			require.NoError(t, rows.Scan(&blob))
			nodes, err := decodeNodes("r1", blob)
			require.NoError(t, err)
			records += len(nodes)
		}
		require.NoError(t, rows.Err())
		require.LessOrEqual(t, records, 4*3+64+3, "checkpoints replace the older entries")
		require.NoError(t, s.Close())

		s, err = Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		a, err := s.NodeGet(ctx, "r1", "a")
		require.NoError(t, err)
		require.Equal(t, t0.Add(500*time.Second), a.LeaseExpiresAt)
	})

	t.Run("ASecondOpenOfTheSameFileIsRefused", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		path := filepath.Join(t.TempDir(), "maestro.db")
		s, err := Open(ctx, path)
		require.NoError(t, err)
		_, err = Open(ctx, path)
		require.ErrorIs(t, err, ErrInUse)
		require.ErrorContains(t, err, "another Maestro has it open")
		require.NoError(t, s.Close())
		s, err = Open(ctx, path)
		require.NoError(t, err, "closing released it")
		require.NoError(t, s.Close())
	})

	t.Run("MovesAfterCloseAreRefused", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		s, err := Open(ctx, filepath.Join(t.TempDir(), "maestro.db"))
		require.NoError(t, err)
		chainRun(t, s, "r1")
		require.NoError(t, s.Close())
		_, err = s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r1", Name: "a", Attempt: 1, Lease: "w", Now: t0})
		require.ErrorIs(t, err, errClosed)
		_, err = s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0})
		require.ErrorIs(t, err, errClosed)
	})
}

func TestJournalEntriesRoundTrip(t *testing.T) {
	t.Parallel()
	nodes := []run.Node{
		{RunID: "r1", Name: "ds.a", Kind: "query", State: run.NodeRunning, Attempt: 2, MaxAttempts: 3,
			Downstream: []string{"ds.b", "ds.c"}, Upstream: []string{}, PendingUpstream: 0, Depth: 0,
			NotBefore: t0, DispatchedAt: t0.Add(time.Second), Lease: "w-1", LeaseExpiresAt: t0.Add(time.Minute),
			JobID: "maestro_r1_ds-a_a2", Stats: run.Stats{BytesProcessed: 1 << 40, BytesBilled: 10, SlotMillis: 3, Rows: -1,
				CacheHit: true, DurationMillis: 9}, Error: "boom\nline two", StartedAt: t0, FinishedAt: t0.Add(time.Hour)},
		{RunID: "r1", Name: "ds.b", State: run.NodeSkipped, Propagated: true, Upstream: []string{"ds.a"}},
	}
	got, err := decodeNodes("r1", encodeNodes(nil, nodes))
	require.NoError(t, err)
	require.Equal(t, nodes, got)
}

// FuzzJournalEntry: no entry, however damaged, makes decoding panic, and what decodes encodes
// back to the same bytes.
func FuzzJournalEntry(f *testing.F) {
	f.Add(encodeNodes(nil, []run.Node{{Name: "a", State: run.NodeReady, Attempt: 1, Upstream: []string{"x"}}}))
	f.Add(encodeNodes(nil, nil))
	f.Add([]byte{journalVersion, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, err := decodeNodes("r", b)
		if err != nil {
			require.ErrorIs(t, err, errJournal)
			return
		}
		again, err := decodeNodes("r", encodeNodes(nil, nodes))
		require.NoError(t, err)
		require.Equal(t, nodes, again)
	})
}

func TestTableCache(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := openStore(t)
	_, err := s.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "ds.a", SQL: "SELECT 1",
		Schedules: []string{"daily"}, Exports: []spec.Export{{Format: "csv", Callback: &spec.Callback{URL: "https://x"}}}}, User: "ana"})
	require.NoError(t, err)
	_, err = s.TableList(ctx) // fills the cache
	require.NoError(t, err)

	got, err := s.TableGet(ctx, "ds.a")
	require.NoError(t, err)
	got.Table.Schedules[0] = "changed"
	got.Table.Exports[0].Callback.URL = "changed"
	again, err := s.TableGet(ctx, "ds.a")
	require.NoError(t, err)
	require.Equal(t, "daily", again.Table.Schedules[0], "a caller's change reaches no other caller")
	require.Equal(t, "https://x", again.Table.Exports[0].Callback.URL)

	_, err = s.TablePut(ctx, &store.TablePutParams{Table: spec.Table{Name: "ds.a", SQL: "SELECT 2"}, User: "ana"})
	require.NoError(t, err)
	again, err = s.TableGet(ctx, "ds.a")
	require.NoError(t, err)
	require.Equal(t, "SELECT 2", again.Table.SQL, "a save replaces what was cached")
	require.NoError(t, s.TableDelete(ctx, "ds.a", "ana"))
	_, err = s.TableGet(ctx, "ds.a")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestEquallyDeepNodesGoLastReadyFirst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := openStore(t)
	// a → c and b → d: c and d are equally deep.
	nodes := []*run.Node{
		{Name: "a", State: run.NodeReady, Attempt: 1, Downstream: []string{"c"}},
		{Name: "b", State: run.NodeReady, Attempt: 1, Downstream: []string{"d"}},
		{Name: "c", State: run.NodePending, Attempt: 1, Upstream: []string{"a"}, PendingUpstream: 1, Depth: 1},
		{Name: "d", State: run.NodePending, Attempt: 1, Upstream: []string{"b"}, PendingUpstream: 1, Depth: 1},
	}
	require.NoError(t, s.RunCreate(ctx, &run.Run{ID: "r1", State: run.RunRunning, CreatedAt: t0}, nodes))
	first, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0, Max: 1})
	require.NoError(t, err)
	require.Equal(t, "a", first[0].Name, "ready together: by name")
	succeed(t, s, "r1", "a")
	succeed(t, s, "r1", "b")
	got, err := s.NodesDispatch(ctx, &store.NodesDispatchParams{Now: t0, Max: 1})
	require.NoError(t, err)
	require.Equal(t, "d", got[0].Name, "d became ready after c")
}
