package schedule

import (
	"errors"
	"slices"
	"time"

	"github.com/maestro-sql/maestro/internal/spec"
)

// Entry is one schedule as the scheduler last saw it.
type Entry struct {
	Schedule spec.Schedule
	// LastFiredAt is the tick of the schedule's last fire (Fire.At), zero if it never fired.
	LastFiredAt time.Time
	// CreatedAt is when the schedule was saved. A never-fired schedule counts from here, so it
	// first fires at its first tick after it was created. If both are zero the schedule is not
	// due: the caller records LastFiredAt = now and it fires at its first tick after that.
	CreatedAt time.Time
}

// Fire is one schedule falling due.
type Fire struct {
	Schedule spec.Schedule
	// At is the latest tick at or before now, in the schedule's zone. Record it as LastFiredAt.
	At time.Time
	// First is the earliest tick not yet fired; it is before At when ticks were missed (the
	// scheduler was down) and were coalesced into this one fire.
	First time.Time
}

// Coalesced reports whether the fire stands for more than one missed tick.
func (f Fire) Coalesced() bool { return !f.First.Equal(f.At) }

// Due returns the schedules that have a tick after their last fire and at or before now, one Fire
// each however many ticks passed, in the order of entries. A schedule that does not parse (it
// should have been rejected when saved) is left out and its error is joined into err, so one bad
// schedule does not stop the others.
func Due(entries []Entry, now time.Time) ([]Fire, error) {
	var fires []Fire
	var errs []error
	for _, e := range entries {
		c, err := ParseSchedule(e.Schedule)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		last := e.LastFiredAt
		if last.IsZero() {
			last = e.CreatedAt
		}
		if last.IsZero() {
			continue
		}
		first := c.Next(last)
		if first.IsZero() || first.After(now) {
			continue
		}
		fires = append(fires, Fire{Schedule: e.Schedule, At: c.latest(first, now), First: first})
	}
	return fires, errors.Join(errs...)
}

// TablesFor returns the tables that belong to the schedule named in fire and whose Conditions
// allow a run at fire.At in the schedule's zone, in the order given.
func TablesFor(tables []spec.Table, fire Fire) ([]spec.Table, error) {
	c, err := ParseSchedule(fire.Schedule)
	if err != nil {
		return nil, err
	}
	var out []spec.Table
	for _, t := range tables {
		if slices.Contains(t.Schedules, fire.Schedule.Name) && c.Allows(t.Conditions, fire.At) {
			out = append(out, t)
		}
	}
	return out, nil
}
