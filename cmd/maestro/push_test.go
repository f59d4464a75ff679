package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/queue/memqueue"
	"github.com/maestro-sql/maestro/internal/scheduler"
	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

func TestPush(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	defer st.Close()
	q := memqueue.New(nil)
	defer q.Close()
	sched := scheduler.New(st, q.Topic("tasks"), func(context.Context, []spec.Table) (scheduler.Graph, error) {
		return maestrotest.Graph{}, nil
	}, nil, zap.NewNop(), scheduler.Config{})
	srv := httptest.NewServer(service.API(st, sched, zap.NewNop(), service.APIConfig{DefaultProject: "shop", DefaultDataset: "raw"}))
	defer srv.Close()
	require.NoError(t, st.UserPut(ctx, store.User{Email: "admin@example.com", Role: "admin"}))
	token, _, err := service.NewToken(ctx, st, "admin@example.com", "test", time.Now())
	require.NoError(t, err)
	// The token is found in maestro dev's state folder, as the quickstart has it.
	state := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(state, devTokenFile), []byte(token+"\n"), 0o600))

	project := map[string]string{
		"maestro.yaml":      "default_project: shop\ndefault_dataset: raw\nschedules:\n  - name: daily\n    cron: \"0 5 * * *\"\n",
		"raw/orders.sql":    "SELECT 1 AS id",
		"sales/totals.sql":  "SELECT COUNT(*) AS n FROM raw.orders",
		"sales/totals.yaml": "owner: ana@example.com\nschedules: [daily]\n",
	}
	_, errOut, code := execForTest(t, newPushCmd(), "", "--api", srv.URL, "--state", t.TempDir(), maestrotest.WriteTree(t, project))
	require.Equal(t, 1, code, "no token")
	require.Contains(t, errOut, "401 Unauthorized")
	require.NoError(t, st.UserPut(ctx, store.User{Email: "ed@example.com", Role: "editor", Group: "sales"}))
	edToken, _, err := service.NewToken(ctx, st, "ed@example.com", "test", time.Now())
	require.NoError(t, err)
	_, errOut, code = execForTest(t, newPushCmd(), "", "--api", srv.URL, "--token", edToken, maestrotest.WriteTree(t, project))
	require.Equal(t, 1, code, "an editor cannot replace every definition")
	require.Contains(t, errOut, "403 Forbidden")
	_, err = st.TableGet(ctx, "sales.totals")
	require.ErrorIs(t, err, store.ErrNotFound)

	out, errOut, code := execForTest(t, newPushCmd(), "", "--api", srv.URL, "--state", state, maestrotest.WriteTree(t, project))
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "pushed 2 tables: 2 created, 0 updated, 0 deleted, 0 unchanged\n", out)
	rec, err := st.TableGet(ctx, "sales.totals")
	require.NoError(t, err)
	require.Equal(t, "ana@example.com", rec.Table.Owner)
	require.Equal(t, "admin@example.com", rec.UpdatedBy, "the change is the token owner's")
	schedules, err := st.ScheduleList(ctx)
	require.NoError(t, err)
	require.Len(t, schedules, 1)

	t.Run("ACycleIsRefusedBeforeAnythingIsSent", func(t *testing.T) {
		bad := map[string]string{"raw/orders.sql": "SELECT * FROM sales.totals", "sales/totals.sql": "SELECT * FROM raw.orders"}
		_, errOut, code := execForTest(t, newPushCmd(), "", "--api", srv.URL, "--token", token, maestrotest.WriteTree(t, bad))
		require.Equal(t, 1, code)
		require.Contains(t, errOut, "cycle:")
		rec, err := st.TableGet(ctx, "raw.orders")
		require.NoError(t, err)
		require.Equal(t, "SELECT 1 AS id", rec.Table.SQL, "the stored definition stays")
	})

	t.Run("OtherDefaultsAreRefusedByTheServer", func(t *testing.T) {
		other := map[string]string{"maestro.yaml": "default_project: elsewhere\ndefault_dataset: raw\n", "raw/orders.sql": "SELECT 2 AS id"}
		_, errOut, code := execForTest(t, newPushCmd(), "", "--api", srv.URL, "--token", token, maestrotest.WriteTree(t, other))
		require.Equal(t, 1, code)
		require.Contains(t, errOut, `the project's defaults (project "elsewhere", dataset "raw") differ from this server's`)
		rec, err := st.TableGet(ctx, "raw.orders")
		require.NoError(t, err)
		require.Equal(t, "SELECT 1 AS id", rec.Table.SQL)
	})

	t.Run("ChangesAndDeletions", func(t *testing.T) {
		changed := map[string]string{
			"maestro.yaml":   project["maestro.yaml"],
			"raw/orders.sql": "SELECT 1 AS id, 'x' AS status",
		}
		out, errOut, code := execForTest(t, newPushCmd(), "", "--api", srv.URL, "--token", token, maestrotest.WriteTree(t, changed))
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "pushed 1 tables: 0 created, 1 updated, 1 deleted, 0 unchanged\n", out)
	})
}
