package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/schedule"
	"github.com/maestro-sql/maestro/internal/spec"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func TestParse(t *testing.T) {
	t.Parallel()

	t.Run("RejectsBadExpressionsWithTheReason", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			expr, zone string
			why        string
		}{
			{"", "", "empty"},
			{"* * *", "", "expected exactly 5 fields"},
			{"* * * * * *", "", "expected exactly 5 fields"},
			{"61 * * * *", "", "61"},
			{"0 25 * * *", "", "25"},
			{"@fortnightly", "", "unrecognized descriptor"},
			{"TZ=Europe/Paris 0 2 * * *", "", "time_zone"},
			{"0 2 * * *", "Mars/Olympus_Mons", `unknown time zone "Mars/Olympus_Mons"`},
			{"0 0 30 2 *", "", "never fires"},
			{"@every -1h", "", "shorter than one second"},
			{"@every 0s", "", "shorter than one second"},
			{"@every soon", "", "bad interval"},
		} {
			_, err := schedule.Parse(tc.expr, tc.zone)
			require.Error(t, err, "%q", tc.expr)
			require.Contains(t, err.Error(), `invalid cron expression "`+tc.expr+`"`)
			require.Contains(t, err.Error(), tc.why, "%q", tc.expr)
		}
	})

	t.Run("AcceptsFieldsAndDescriptors", func(t *testing.T) {
		t.Parallel()
		for _, expr := range []string{"*/15 * * * *", "0 9 * * 1-5", "30 2 1,15 * *", "0 0 * JAN-MAR SUN", "@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@every 1h30m", " 0 6 * * * "} {
			c, err := schedule.Parse(expr, "Europe/Paris")
			require.NoError(t, err, expr)
			require.Equal(t, "Europe/Paris", c.Location().String())
		}
	})

	t.Run("ScheduleErrorsNameTheSchedule", func(t *testing.T) {
		t.Parallel()
		_, err := schedule.ParseSchedule(spec.Schedule{Name: "nightly", Cron: "0 99 * * *"})
		require.ErrorContains(t, err, `invalid schedule "nightly": invalid cron expression "0 99 * * *"`)
		_, err = schedule.ParseSchedule(spec.Schedule{Name: "", Cron: "@daily"})
		require.ErrorContains(t, err, "name is empty")
		c, err := schedule.ParseSchedule(spec.Schedule{Name: "utc", Cron: "@daily"})
		require.NoError(t, err)
		require.Equal(t, time.UTC, c.Location(), "no zone means UTC")
	})
}

func TestNext(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return ts
	}
	for _, tc := range []struct {
		name, expr, zone string
		after, want      string
	}{
		{"EveryQuarterHour", "*/15 * * * *", "", "2026-03-02T10:07:00Z", "2026-03-02T10:15:00Z"},
		{"StrictlyAfter", "*/15 * * * *", "", "2026-03-02T10:15:00Z", "2026-03-02T10:30:00Z"},
		{"Daily", "@daily", "", "2026-03-02T10:07:00Z", "2026-03-03T00:00:00Z"},
		{"WeekdaysSkipWeekend", "0 9 * * 1-5", "", "2026-03-06T10:00:00Z", "2026-03-09T09:00:00Z"},
		{"InZone", "0 9 * * *", "America/New_York", "2026-01-10T15:00:00Z", "2026-01-11T14:00:00Z"},
		{"InZoneSummer", "0 9 * * *", "America/New_York", "2026-07-10T15:00:00Z", "2026-07-11T13:00:00Z"},
		{"DailyInZoneIsLocalMidnight", "@daily", "Asia/Tokyo", "2026-03-02T10:00:00Z", "2026-03-02T15:00:00Z"},
		{"EveryCountsElapsedTime", "@every 90m", "Europe/Paris", "2026-03-29T00:30:00Z", "2026-03-29T02:00:00Z"},
		{"LeapDay", "0 0 29 2 *", "", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"SpringGapFiresAtGapEnd", "30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
		{"QuarterHourAcrossGap", "*/15 * * * *", "Europe/Paris", "2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z"},
		{"QuarterHourAfterGap", "*/15 * * * *", "Europe/Paris", "2026-03-29T01:00:00Z", "2026-03-29T01:15:00Z"},
		{"RepeatedHourFiresFirstTime", "30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
		{"RepeatedHourNotAgain", "30 2 * * *", "Europe/Paris", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		{"FromInsideRepeatedHour", "0 * * * *", "Europe/Paris", "2026-10-25T01:10:00Z", "2026-10-25T02:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := schedule.Parse(tc.expr, tc.zone)
			require.NoError(t, err)
			got := c.Next(utc(tc.after))
			require.Equal(t, utc(tc.want).UTC(), got.UTC())
			require.Equal(t, c.Location(), got.Location(), "Next answers in the schedule's zone")
		})
	}
}

// fireTimes simulates a scheduler calling Due every five minutes from start to end and returns the
// fires it would record. Ticking every five minutes misses nothing a minute tick would catch
// for these hour-granular schedules, and keeps the test fast.
func fireTimes(t *testing.T, s spec.Schedule, start, end time.Time) []time.Time {
	t.Helper()
	entry := schedule.Entry{Schedule: s, LastFiredAt: start}
	var fired []time.Time
	for now := start; !now.After(end); now = now.Add(5 * time.Minute) {
		fires, err := schedule.Due([]schedule.Entry{entry}, now)
		require.NoError(t, err)
		for _, f := range fires {
			require.False(t, f.Coalesced(), "a scheduler ticking often misses no tick")
			fired = append(fired, f.At)
			entry.LastFiredAt = f.At
		}
	}
	return fired
}

func TestDaylightSaving(t *testing.T) {
	t.Parallel()
	paris := zone(t, "Europe/Paris")
	day := func(ts time.Time) string { return ts.In(paris).Format("2006-01-02") }

	for _, tc := range []struct {
		name       string
		from, to   time.Time
		wantLocals []string
	}{
		{
			name: "SpringForward",
			from: time.Date(2026, 3, 27, 12, 0, 0, 0, paris), to: time.Date(2026, 3, 31, 12, 0, 0, 0, paris),
			wantLocals: []string{"2026-03-28 02:30 CET", "2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST", "2026-03-31 02:30 CEST"},
		},
		{
			name: "FallBack",
			from: time.Date(2026, 10, 23, 12, 0, 0, 0, paris), to: time.Date(2026, 10, 27, 12, 0, 0, 0, paris),
			wantLocals: []string{"2026-10-24 02:30 CEST", "2026-10-25 02:30 CEST", "2026-10-26 02:30 CET", "2026-10-27 02:30 CET"},
		},
	} {
		t.Run("DailyAt0230FiresOncePerDay"+tc.name, func(t *testing.T) {
			t.Parallel()
			fired := fireTimes(t, spec.Schedule{Name: "s", Cron: "30 2 * * *", TimeZone: "Europe/Paris"}, tc.from, tc.to)
			var got []string
			perDay := map[string]int{}
			for _, f := range fired {
				got = append(got, f.In(paris).Format("2006-01-02 15:04 MST"))
				perDay[day(f)]++
			}
			require.Equal(t, tc.wantLocals, got)
			for d, n := range perDay {
				require.Equal(t, 1, n, "fires on %s", d)
			}
		})
	}

	t.Run("HourlyOnceForEveryWallClockHour", func(t *testing.T) {
		t.Parallel()
		s := spec.Schedule{Name: "s", Cron: "0 * * * *", TimeZone: "Europe/Paris"}
		spring := fireTimes(t, s, time.Date(2026, 3, 28, 23, 30, 0, 0, paris), time.Date(2026, 3, 29, 23, 30, 0, 0, paris))
		require.Len(t, spring, 23, "the spring-forward day has 23 hours")
		fall := fireTimes(t, s, time.Date(2026, 10, 24, 23, 30, 0, 0, paris), time.Date(2026, 10, 25, 23, 30, 0, 0, paris))
		require.Len(t, fall, 24, "the repeated hour fires once")
		for _, fs := range [][]time.Time{spring, fall} {
			for i := 1; i < len(fs); i++ {
				require.True(t, fs[i].After(fs[i-1]))
			}
		}
	})
}

func TestDue(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 14, 12, 0, 30, 0, time.UTC)
	daily := spec.Schedule{Name: "daily", Cron: "0 6 * * *"}
	for _, tc := range []struct {
		name      string
		entry     schedule.Entry
		wantAt    time.Time // zero: not due
		wantFirst time.Time
	}{
		{
			name:  "NeverFiredWithoutCreationIsNotDue",
			entry: schedule.Entry{Schedule: daily},
		},
		{
			name:   "NeverFiredFiresAtFirstTickAfterCreation",
			entry:  schedule.Entry{Schedule: daily, CreatedAt: time.Date(2026, 5, 14, 5, 0, 0, 0, time.UTC)},
			wantAt: time.Date(2026, 5, 14, 6, 0, 0, 0, time.UTC), wantFirst: time.Date(2026, 5, 14, 6, 0, 0, 0, time.UTC),
		},
		{
			name:  "CreatedAfterTodaysTickWaitsForTomorrow",
			entry: schedule.Entry{Schedule: daily, CreatedAt: time.Date(2026, 5, 14, 7, 0, 0, 0, time.UTC)},
		},
		{
			name:  "AlreadyFiredForThisTick",
			entry: schedule.Entry{Schedule: daily, LastFiredAt: time.Date(2026, 5, 14, 6, 0, 0, 0, time.UTC)},
		},
		{
			name:  "LastFiredWinsOverCreation",
			entry: schedule.Entry{Schedule: daily, LastFiredAt: time.Date(2026, 5, 14, 6, 0, 0, 0, time.UTC), CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		},
		{
			name:   "MissedTicksCoalesceIntoOneFire",
			entry:  schedule.Entry{Schedule: daily, LastFiredAt: time.Date(2026, 5, 10, 6, 0, 0, 0, time.UTC)},
			wantAt: time.Date(2026, 5, 14, 6, 0, 0, 0, time.UTC), wantFirst: time.Date(2026, 5, 11, 6, 0, 0, 0, time.UTC),
		},
		{
			name:   "DueExactlyAtTheTick",
			entry:  schedule.Entry{Schedule: spec.Schedule{Name: "noon", Cron: "0 12 * * *"}, LastFiredAt: time.Date(2026, 5, 13, 12, 0, 0, 0, time.UTC)},
			wantAt: time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC), wantFirst: time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC),
		},
		{
			name:   "YearLongOutageOfAMinutelySchedule",
			entry:  schedule.Entry{Schedule: spec.Schedule{Name: "m", Cron: "* * * * *"}, LastFiredAt: time.Date(2025, 5, 14, 12, 0, 0, 0, time.UTC)},
			wantAt: time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC), wantFirst: time.Date(2025, 5, 14, 12, 1, 0, 0, time.UTC),
		},
		{
			name:   "EveryCountsFromLastFire",
			entry:  schedule.Entry{Schedule: spec.Schedule{Name: "e", Cron: "@every 2h"}, LastFiredAt: time.Date(2026, 5, 14, 1, 0, 0, 0, time.UTC)},
			wantAt: time.Date(2026, 5, 14, 11, 0, 0, 0, time.UTC), wantFirst: time.Date(2026, 5, 14, 3, 0, 0, 0, time.UTC),
		},
		{
			name:   "AtIsInTheSchedulesZone",
			entry:  schedule.Entry{Schedule: spec.Schedule{Name: "p", Cron: "0 8 * * *", TimeZone: "Europe/Paris"}, LastFiredAt: time.Date(2026, 5, 13, 6, 0, 0, 0, time.UTC)},
			wantAt: time.Date(2026, 5, 14, 6, 0, 0, 0, time.UTC), wantFirst: time.Date(2026, 5, 14, 6, 0, 0, 0, time.UTC),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fires, err := schedule.Due([]schedule.Entry{tc.entry}, now)
			require.NoError(t, err)
			if tc.wantAt.IsZero() {
				require.Empty(t, fires)
				return
			}
			require.Len(t, fires, 1)
			f := fires[0]
			require.Equal(t, tc.entry.Schedule, f.Schedule)
			require.True(t, tc.wantAt.Equal(f.At), "At %s, want %s", f.At, tc.wantAt)
			require.True(t, tc.wantFirst.Equal(f.First), "First %s, want %s", f.First, tc.wantFirst)
			require.Equal(t, !tc.wantAt.Equal(tc.wantFirst), f.Coalesced())
			if tc.entry.Schedule.TimeZone != "" {
				require.Equal(t, tc.entry.Schedule.TimeZone, f.At.Location().String())
			}
		})
	}

	t.Run("BadScheduleDoesNotStopTheOthers", func(t *testing.T) {
		t.Parallel()
		last := time.Date(2026, 5, 13, 0, 0, 0, 0, time.UTC)
		fires, err := schedule.Due([]schedule.Entry{
			{Schedule: spec.Schedule{Name: "a", Cron: "@daily"}, LastFiredAt: last},
			{Schedule: spec.Schedule{Name: "broken", Cron: "not cron"}, LastFiredAt: last},
			{Schedule: spec.Schedule{Name: "b", Cron: "@hourly"}, LastFiredAt: last},
		}, now)
		require.ErrorContains(t, err, `invalid schedule "broken"`)
		require.Len(t, fires, 2)
		require.Equal(t, "a", fires[0].Schedule.Name)
		require.Equal(t, "b", fires[1].Schedule.Name)
	})
}

func TestTablesFor(t *testing.T) {
	t.Parallel()
	paris := spec.Schedule{Name: "paris", Cron: "30 23 * * *", TimeZone: "Europe/Paris"}
	tables := []spec.Table{
		{Name: "d.always", Schedules: []string{"paris"}},
		{Name: "d.other_schedule", Schedules: []string{"hourly"}},
		{Name: "d.mondays", Schedules: []string{"hourly", "paris"}, Conditions: spec.Conditions{Weekdays: []int{1}}},
		{Name: "d.first_of_month", Schedules: []string{"paris"}, Conditions: spec.Conditions{Days: []int{1}}},
		{Name: "d.late_evening", Schedules: []string{"paris"}, Conditions: spec.Conditions{Hours: []int{23}}},
	}
	names := func(ts []spec.Table) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want []string
	}{
		// 21:30 UTC on Monday 1 June 2026 is 23:30 in Paris, still Monday the 1st.
		{"JudgedInTheSchedulesZone", time.Date(2026, 6, 1, 21, 30, 0, 0, time.UTC), []string{"d.always", "d.mondays", "d.first_of_month", "d.late_evening"}},
		// 22:30 UTC on Sunday 31 May is 00:30 on Monday 1 June in Paris.
		{"ZoneShiftsTheDay", time.Date(2026, 5, 31, 22, 30, 0, 0, time.UTC), []string{"d.always", "d.mondays", "d.first_of_month"}},
		{"ConditionsExclude", time.Date(2026, 6, 2, 21, 30, 0, 0, time.UTC), []string{"d.always", "d.late_evening"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := schedule.TablesFor(tables, schedule.Fire{Schedule: paris, At: tc.at, First: tc.at})
			require.NoError(t, err)
			require.Equal(t, tc.want, names(got))
		})
	}

	t.Run("InvalidScheduleIsAnError", func(t *testing.T) {
		t.Parallel()
		_, err := schedule.TablesFor(tables, schedule.Fire{Schedule: spec.Schedule{Name: "x", Cron: "bad"}})
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), `"x"`))
	})
}
