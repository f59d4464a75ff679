package history_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

// gitOut runs the git binary and returns its output. The file transport of go-git runs git's
// own upload-pack and receive-pack too, so these tests need it.
func gitOut(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func needGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git binary is needed for a repository on disk as remote")
	}
}

func openStore(t *testing.T) store.Store {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

func put(t *testing.T, st store.Store, user string, tb spec.Table) *store.TableRecord {
	t.Helper()
	if tb.Kind == "" {
		tb.Kind = "query"
	}
	if tb.Disposition == "" {
		tb.Disposition = spec.DispositionTruncate
	}
	if tb.Retries == 0 {
		tb.Retries = 2
	}
	rec, err := st.TablePut(context.Background(), &store.TablePutParams{Table: tb, User: user, Message: "synced from " + tb.Name})
	require.NoError(t, err)
	return rec
}

func openMirror(t *testing.T, st store.Store, dir, remote string) *history.Mirror {
	m, err := history.Open(st, history.Config{Dir: dir, Remote: remote, Attempts: 2, Backoff: time.Millisecond}, zaptest.NewLogger(t))
	require.NoError(t, err)
	return m
}

func TestMirror(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	st := openStore(t)
	require.NoError(t, st.UserPut(ctx, store.User{Email: "ana@acme.test", Name: "Ana Lopez", Role: "editor", Group: "sales"}))
	remote := filepath.Join(t.TempDir(), "history.git")
	gitOut(t, "init", "--bare", "--initial-branch=main", remote)
	local := filepath.Join(t.TempDir(), "history")
	m := openMirror(t, st, local, remote)

	orders := spec.Table{Name: "sales.orders", SQL: "SELECT id,\n  total\nFROM raw.orders\n", Schedules: []string{"daily"}, Group: "sales"}
	created := put(t, st, "ana@acme.test", orders)
	res, err := m.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, res.Commits)
	require.True(t, res.Pushed)

	orders.SQL = "SELECT id,\n  total,\n  status\nFROM raw.orders\n"
	orders.Schedules = []string{"hourly"}
	byAna := put(t, st, "ana@acme.test", orders)
	orders.SQL = "SELECT id,\n  total * 100 AS cents,\n  status\nFROM raw.orders\n"
	byBob := put(t, st, "bob", orders)
	res, err = m.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, res.Commits)

	log := gitOut(t, "--git-dir", remote, "log", "--reverse", "--format=%an <%ae>|%cn|%at|%ct|%s|%(trailers:key=Maestro-Revision,valueonly,separator=)", "main")
	require.Equal(t, strings.Join([]string{
		"Ana Lopez <ana@acme.test>|Maestro|" + unix(created) + "|" + unix(created) + "|create sales.orders|sales.orders@1",
		"Ana Lopez <ana@acme.test>|Maestro|" + unix(byAna) + "|" + unix(byAna) + "|sales.orders: SQL changed; schedules daily → hourly|sales.orders@2",
		"bob <bob>|Maestro|" + unix(byBob) + "|" + unix(byBob) + "|sales.orders: SQL changed|sales.orders@3",
	}, "\n")+"\n", log, "one commit per revision, authored by who made it, at its time, pushed")

	// Each commit's diff is the revision's change, SQL as plain lines.
	show := gitOut(t, "--git-dir", remote, "show", "--format=", "main~1")
	require.Contains(t, show, "--- a/sales/orders.sql\n+++ b/sales/orders.sql\n")
	require.Contains(t, show, "-  total\n+  total,\n+  status\n")
	require.Contains(t, show, "-schedules: [daily]\n+schedules: [hourly]\n")
	show = gitOut(t, "--git-dir", remote, "show", "--format=", "main")
	require.Contains(t, show, "-  total,\n+  total * 100 AS cents,\n")
	require.NotContains(t, show, "orders.yaml", "bob changed only the SQL")
	blame := gitOut(t, "-C", local, "blame", "--line-porcelain", "sales/orders.sql")
	require.Contains(t, blame, "author bob\n", "blame works in the local repository's work tree")
	require.Contains(t, blame, "author Ana Lopez\n")

	t.Run("SyncingAgainAddsNothing", func(t *testing.T) {
		res, err := m.Sync(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, res.Commits)
		// Another instance with an empty folder derives the same history from the remote's trailers.
		other := openMirror(t, st, filepath.Join(t.TempDir(), "other"), remote)
		res2, err := other.Sync(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, res2.Commits)
		require.Equal(t, res.Head, res2.Head)
	})

	t.Run("ADeletionAndTablesInTimeOrder", func(t *testing.T) {
		put(t, st, "ana@acme.test", spec.Table{Name: "sales.daily", SQL: "SELECT 1\n", Retries: 5, Owner: "ana@acme.test"})
		require.NoError(t, st.TableDelete(ctx, "sales.orders", "bob"))
		res, err := m.Sync(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, res.Commits)
		log := gitOut(t, "--git-dir", remote, "log", "--format=%an|%s", "-2", "main")
		require.Equal(t, "bob|delete sales.orders\nAna Lopez|create sales.daily\n", log)
		require.Equal(t, "sales/daily.sql\nsales/daily.yaml\n", gitOut(t, "--git-dir", remote, "ls-tree", "-r", "--name-only", "main"))
		require.Equal(t, "owner: ana@acme.test\nretries: 5\n", gitOut(t, "--git-dir", remote, "show", "main:sales/daily.yaml"))
		_, err = os.Stat(filepath.Join(local, "sales", "orders.sql"))
		require.ErrorIs(t, err, os.ErrNotExist, "the work tree follows")
	})
}

func unix(rec *store.TableRecord) string { return strconv.FormatInt(rec.UpdatedAt.Unix(), 10) }

func TestARefusedPushKeepsTheCommits(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	st := openStore(t)
	remote := filepath.Join(t.TempDir(), "not-yet.git")
	local := filepath.Join(t.TempDir(), "history")
	m := openMirror(t, st, local, remote)

	put(t, st, "ana", spec.Table{Name: "ds.a", SQL: "SELECT 1\n"})
	put(t, st, "ana", spec.Table{Name: "ds.a", SQL: "SELECT 2\n"})
	res, err := m.Sync(ctx)
	require.Error(t, err, "the remote does not exist")
	require.Contains(t, err.Error(), remote)
	require.Equal(t, 2, res.Commits, "committed locally all the same")
	require.False(t, res.Pushed)
	require.Contains(t, m.Status().Error, remote)
	require.Equal(t, "ds.a: SQL changed\ncreate ds.a\n", gitOut(t, "-C", local, "log", "--format=%s"))

	// A sync that still cannot push commits what is new and keeps it too.
	put(t, st, "ana", spec.Table{Name: "ds.b", SQL: "SELECT 3\n"})
	res, err = m.Sync(ctx)
	require.Error(t, err)
	require.Equal(t, 1, res.Commits)

	gitOut(t, "init", "--bare", "--initial-branch=main", remote)
	res, err = m.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, res.Commits, "the kept commits are pushed, not made again")
	require.True(t, res.Pushed)
	require.Empty(t, m.Status().Error)
	require.Equal(t, "create ds.b\nds.a: SQL changed\ncreate ds.a\n", gitOut(t, "--git-dir", remote, "log", "--format=%s", "main"))
}

func TestDivergedInstancesLoseNothing(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	st := openStore(t)
	remote := filepath.Join(t.TempDir(), "history.git")
	gitOut(t, "init", "--bare", "--initial-branch=main", remote)
	one := openMirror(t, st, filepath.Join(t.TempDir(), "one"), remote)
	twoDir := filepath.Join(t.TempDir(), "two")
	// Another committer name makes two's commits differ from one's: their histories diverge.
	two, err := history.Open(st, history.Config{Dir: twoDir, Remote: remote, Attempts: 1, CommitterName: "Maestro 2"}, zaptest.NewLogger(t))
	require.NoError(t, err)

	put(t, st, "ana", spec.Table{Name: "ds.a", SQL: "SELECT 1\n"})
	_, err = one.Sync(ctx)
	require.NoError(t, err)

	// Two commits both revisions while it cannot reach the remote...
	put(t, st, "ana", spec.Table{Name: "ds.b", SQL: "SELECT 2\n"})
	moved := filepath.Join(t.TempDir(), "moved.git")
	require.NoError(t, os.Rename(remote, moved))
	res, err := two.Sync(ctx)
	require.Error(t, err)
	require.Equal(t, 2, res.Commits)
	require.NoError(t, os.Rename(moved, remote))
	// ...while one pushes them and one more.
	put(t, st, "bob", spec.Table{Name: "ds.c", SQL: "SELECT 3\n"})
	_, err = one.Sync(ctx)
	require.NoError(t, err)

	res, err = two.Sync(ctx)
	require.NoError(t, err)
	require.Equal(t, 0, res.Commits, "the remote holds every revision already")
	want := "Maestro|create ds.a\nMaestro|create ds.b\nMaestro|create ds.c\n"
	require.Equal(t, want, gitOut(t, "--git-dir", remote, "log", "--reverse", "--format=%cn|%s", "main"), "every revision once, in the order made")
	require.Equal(t, want, gitOut(t, "-C", twoDir, "log", "--reverse", "--format=%cn|%s"), "two follows the remote")
}
