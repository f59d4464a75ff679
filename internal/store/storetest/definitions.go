package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// fullTable sets every field of a definition, so a lost field fails the round trip.
func fullTable(name string) spec.Table {
	return spec.Table{
		Name:          name,
		SQL:           "SELECT id, SUM(amount) AS total\nFROM `shop.orders`\nGROUP BY id",
		Kind:          "query",
		Description:   "Totals per customer; “quoted” ünïcode",
		Owner:         "ana@example.com",
		Group:         "finance",
		Schedules:     []string{"daily", "hourly"},
		Disposition:   spec.DispositionAppend,
		PartitionBy:   "DATE(created_at)",
		ClusterBy:     []string{"customer_id", "country"},
		Retries:       4,
		RetryBackoff:  90 * time.Second,
		Conditions:    spec.Conditions{Months: []int{1, 12}, Weekdays: []int{0, 6}, Days: []int{1, 15, 31}, Hours: []int{0, 23}},
		ReadsPrevious: []string{"shop.customers"},
		Import:        &spec.Import{Connection: "shopdb", Watermark: "updated_at"},
		File:          "tables/finance/totals.sql",
	}
}

func put(t *testing.T, ctx context.Context, s store.Store, p store.TablePutParams) *store.TableRecord {
	t.Helper()
	rec, err := s.TablePut(ctx, &p)
	require.NoError(t, err)
	return rec
}

func (h *harness) tables(t *testing.T) {
	h.test(t, "SavesADefinitionThatReadsBackExactly", func(t *testing.T, ctx context.Context, s store.Store) {
		before := time.Now()
		rec := put(t, ctx, s, store.TablePutParams{Table: fullTable("finance.totals"), User: "ana@example.com",
			Message: "first version", Create: true})
		require.Equal(t, 1, rec.Revision)

		got, err := s.TableGet(ctx, "finance.totals")
		require.NoError(t, err)
		require.Equal(t, fullTable("finance.totals"), got.Table)
		require.Equal(t, 1, got.Revision)
		require.False(t, got.Deleted)
		require.Equal(t, "first version", got.Message)
		require.Equal(t, "ana@example.com", got.CreatedBy)
		require.Equal(t, "ana@example.com", got.UpdatedBy)
		require.WithinDuration(t, before, got.CreatedAt, time.Minute)
		require.Equal(t, got.CreatedAt, got.UpdatedAt)

		// A minimal definition (nil slices, zero durations) survives too.
		minimal := spec.Table{Name: "finance.min", SQL: "SELECT 1", Kind: "query"}
		put(t, ctx, s, store.TablePutParams{Table: minimal, User: "ana@example.com"})
		got, err = s.TableGet(ctx, "finance.min")
		require.NoError(t, err)
		require.Equal(t, minimal, got.Table)
	})

	h.test(t, "CreateConflictsWhenTheTableExists", func(t *testing.T, ctx context.Context, s store.Store) {
		put(t, ctx, s, store.TablePutParams{Table: fullTable("a.t"), User: "ana", Create: true})
		other := fullTable("a.t")
		other.SQL = "SELECT 2"
		_, err := s.TablePut(ctx, &store.TablePutParams{Table: other, User: "bob", Create: true})
		require.ErrorIs(t, err, store.ErrConflict)

		got, err := s.TableGet(ctx, "a.t")
		require.NoError(t, err)
		require.Equal(t, fullTable("a.t"), got.Table, "the losing create must not change the table")
		require.Equal(t, 1, got.Revision)
	})

	h.test(t, "IfRevisionConflictsWhenSomeoneElseSavedFirst", func(t *testing.T, ctx context.Context, s store.Store) {
		put(t, ctx, s, store.TablePutParams{Table: fullTable("a.t"), User: "ana", Create: true})
		anas, bobs := fullTable("a.t"), fullTable("a.t")
		anas.SQL, bobs.SQL = "SELECT 'ana'", "SELECT 'bob'"

		rec := put(t, ctx, s, store.TablePutParams{Table: anas, User: "ana", IfRevision: 1})
		require.Equal(t, 2, rec.Revision)
		_, err := s.TablePut(ctx, &store.TablePutParams{Table: bobs, User: "bob", IfRevision: 1})
		require.ErrorIs(t, err, store.ErrConflict)

		got, err := s.TableGet(ctx, "a.t")
		require.NoError(t, err)
		require.Equal(t, "SELECT 'ana'", got.Table.SQL)
		require.Equal(t, 2, got.Revision)

		_, err = s.TablePut(ctx, &store.TablePutParams{Table: fullTable("a.missing"), User: "bob", IfRevision: 1})
		require.ErrorIs(t, err, store.ErrConflict, "an expected revision of a table that does not exist")
	})

	h.test(t, "RevisionsIncreaseAndKeepTheCreator", func(t *testing.T, ctx context.Context, s store.Store) {
		for i, user := range []string{"ana", "bob", "cy"} {
			tb := fullTable("a.t")
			tb.SQL = "SELECT " + user
			rec := put(t, ctx, s, store.TablePutParams{Table: tb, User: user, Message: "by " + user})
			require.Equal(t, i+1, rec.Revision)
		}
		got, err := s.TableGet(ctx, "a.t")
		require.NoError(t, err)
		require.Equal(t, 3, got.Revision)
		require.Equal(t, "ana", got.CreatedBy)
		require.Equal(t, "cy", got.UpdatedBy)
		require.False(t, got.UpdatedAt.Before(got.CreatedAt))

		revs, err := s.TableRevisions(ctx, "a.t")
		require.NoError(t, err)
		require.Len(t, revs, 3)
		for i, user := range []string{"ana", "bob", "cy"} {
			require.Equal(t, i+1, revs[i].Revision)
			require.Equal(t, "SELECT "+user, revs[i].Table.SQL)
			require.Equal(t, "by "+user, revs[i].Message)
			require.Equal(t, user, revs[i].UpdatedBy)
			require.Equal(t, "ana", revs[i].CreatedBy)
		}
	})

	h.test(t, "DeleteRecordsARevisionAndHidesTheTable", func(t *testing.T, ctx context.Context, s store.Store) {
		put(t, ctx, s, store.TablePutParams{Table: fullTable("a.t"), User: "ana", Create: true})
		put(t, ctx, s, store.TablePutParams{Table: fullTable("a.u"), User: "ana", Create: true})
		require.NoError(t, s.TableDelete(ctx, "a.t", "bob"))

		_, err := s.TableGet(ctx, "a.t")
		require.ErrorIs(t, err, store.ErrNotFound)
		list, err := s.TableList(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "a.u", list[0].Table.Name)

		revs, err := s.TableRevisions(ctx, "a.t")
		require.NoError(t, err)
		require.Len(t, revs, 2)
		require.False(t, revs[0].Deleted)
		require.True(t, revs[1].Deleted)
		require.Equal(t, 2, revs[1].Revision)
		require.Equal(t, "bob", revs[1].UpdatedBy)

		require.ErrorIs(t, s.TableDelete(ctx, "a.t", "bob"), store.ErrNotFound, "deleting twice")

		// Creating it again continues the history.
		rec := put(t, ctx, s, store.TablePutParams{Table: fullTable("a.t"), User: "cy", Create: true})
		require.Equal(t, 3, rec.Revision)
		got, err := s.TableGet(ctx, "a.t")
		require.NoError(t, err)
		require.Equal(t, 3, got.Revision)
		require.Equal(t, "cy", got.CreatedBy)
	})

	h.test(t, "UnknownTablesAreNotFound", func(t *testing.T, ctx context.Context, s store.Store) {
		_, err := s.TableGet(ctx, "a.nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, s.TableDelete(ctx, "a.nope", "ana"), store.ErrNotFound)
		_, err = s.TableRevisions(ctx, "a.nope")
		require.ErrorIs(t, err, store.ErrNotFound)
		list, err := s.TableList(ctx)
		require.NoError(t, err)
		require.Empty(t, list)
	})

	h.test(t, "ListReturnsCurrentRevisionsOrderedByName", func(t *testing.T, ctx context.Context, s store.Store) {
		for _, name := range []string{"b.x", "a.z", "a.y"} {
			put(t, ctx, s, store.TablePutParams{Table: fullTable(name), User: "ana"})
		}
		changed := fullTable("a.z")
		changed.SQL = "SELECT 'new'"
		put(t, ctx, s, store.TablePutParams{Table: changed, User: "ana"})

		list, err := s.TableList(ctx)
		require.NoError(t, err)
		var names []string
		for _, rec := range list {
			names = append(names, rec.Table.Name)
		}
		require.Equal(t, []string{"a.y", "a.z", "b.x"}, names)
		require.Equal(t, 2, list[1].Revision)
		require.Equal(t, "SELECT 'new'", list[1].Table.SQL)
	})
}

func (h *harness) schedules(t *testing.T) {
	hourly := spec.Schedule{Name: "hourly", Cron: "0 * * * *", TimeZone: "Europe/Paris", Description: "every hour", MaxParallel: 3}
	daily := spec.Schedule{Name: "daily", Cron: "@daily"}

	h.test(t, "PutAndListRoundTripOrderedByName", func(t *testing.T, ctx context.Context, s store.Store) {
		require.NoError(t, s.SchedulePut(ctx, hourly))
		require.NoError(t, s.SchedulePut(ctx, daily))
		list, err := s.ScheduleList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.ScheduleRecord{{Schedule: daily}, {Schedule: hourly}}, list)
	})

	h.test(t, "PutReplacesTheDefinitionButKeepsLastFiredAt", func(t *testing.T, ctx context.Context, s store.Store) {
		require.NoError(t, s.SchedulePut(ctx, hourly))
		require.NoError(t, s.ScheduleFire(ctx, "hourly", time.Time{}, t0))
		changed := hourly
		changed.Cron = "30 * * * *"
		require.NoError(t, s.SchedulePut(ctx, changed))
		list, err := s.ScheduleList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.ScheduleRecord{{Schedule: changed, LastFiredAt: t0}}, list)
	})

	h.test(t, "FireMovesLastFiredAtOnlyFromTheExpectedTime", func(t *testing.T, ctx context.Context, s store.Store) {
		require.NoError(t, s.SchedulePut(ctx, hourly))
		require.NoError(t, s.ScheduleFire(ctx, "hourly", time.Time{}, at(time.Hour)))
		require.ErrorIs(t, s.ScheduleFire(ctx, "hourly", time.Time{}, at(2*time.Hour)), store.ErrConflict)
		require.NoError(t, s.ScheduleFire(ctx, "hourly", at(time.Hour), at(2*time.Hour)))
		require.ErrorIs(t, s.ScheduleFire(ctx, "hourly", at(time.Hour), at(3*time.Hour)), store.ErrConflict)

		list, err := s.ScheduleList(ctx)
		require.NoError(t, err)
		require.Equal(t, at(2*time.Hour), list[0].LastFiredAt)

		require.ErrorIs(t, s.ScheduleFire(ctx, "nope", time.Time{}, t0), store.ErrNotFound)
	})

	h.test(t, "ConcurrentFiresWithTheSamePreviousTimeStartOneRun", func(t *testing.T, ctx context.Context, s store.Store) {
		require.NoError(t, s.SchedulePut(ctx, hourly))
		require.NoError(t, s.ScheduleFire(ctx, "hourly", time.Time{}, t0))
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.ScheduleFire(ctx, "hourly", t0, at(time.Duration(i+1)*time.Minute))
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, won, "two fires won")
				won = i
				continue
			}
			require.ErrorIs(t, err, store.ErrConflict)
		}
		require.NotEqual(t, -1, won, "no fire won")
		list, err := s.ScheduleList(ctx)
		require.NoError(t, err)
		require.Equal(t, at(time.Duration(won+1)*time.Minute), list[0].LastFiredAt)
	})

	h.test(t, "DeleteRemovesTheSchedule", func(t *testing.T, ctx context.Context, s store.Store) {
		require.NoError(t, s.SchedulePut(ctx, hourly))
		require.NoError(t, s.SchedulePut(ctx, daily))
		require.NoError(t, s.ScheduleDelete(ctx, "hourly"))
		list, err := s.ScheduleList(ctx)
		require.NoError(t, err)
		require.Equal(t, []*store.ScheduleRecord{{Schedule: daily}}, list)
		require.ErrorIs(t, s.ScheduleDelete(ctx, "hourly"), store.ErrNotFound)
	})
}

func (h *harness) connections(t *testing.T) {
	h.test(t, "PutReplacesAndListIsOrderedByName", func(t *testing.T, ctx context.Context, s store.Store) {
		pg := spec.Connection{Name: "shop", Driver: "postgres", SecretRef: "env:SHOP_DSN"}
		my := spec.Connection{Name: "crm", Driver: "mysql", SecretRef: "file:/run/secrets/crm"}
		require.NoError(t, s.ConnectionPut(ctx, pg))
		require.NoError(t, s.ConnectionPut(ctx, my))
		pg.SecretRef = "secretmanager:projects/p/secrets/shop/versions/2"
		require.NoError(t, s.ConnectionPut(ctx, pg))

		list, err := s.ConnectionList(ctx)
		require.NoError(t, err)
		require.Equal(t, []spec.Connection{my, pg}, list)
	})
}

func (h *harness) users(t *testing.T) {
	h.test(t, "PutGetAndReplace", func(t *testing.T, ctx context.Context, s store.Store) {
		u := store.User{Email: "ana@example.com", Name: "Ana", Role: "editor", Group: "finance"}
		require.NoError(t, s.UserPut(ctx, u))
		got, err := s.UserGet(ctx, u.Email)
		require.NoError(t, err)
		require.Equal(t, u, *got)

		u.Role = "admin"
		require.NoError(t, s.UserPut(ctx, u))
		got, err = s.UserGet(ctx, u.Email)
		require.NoError(t, err)
		require.Equal(t, "admin", got.Role)

		_, err = s.UserGet(ctx, "nobody@example.com")
		require.True(t, errors.Is(err, store.ErrNotFound), "got %v", err)
	})
}
