// Package schedule decides which schedules are due, from a snapshot: it parses cron expressions
// in their time zones and compares their ticks with when each schedule last fired. It reads no
// clock and no store; the scheduler passes `now` and commits the fires with conditional writes.
//
// Ticks follow the wall clock of the schedule's zone, once per wall-clock time:
//   - a tick that falls in a daylight-saving gap (02:30 on the day clocks jump from 02:00 to
//     03:00) fires at the end of the gap (03:00), so a daily job still runs that day;
//   - a wall-clock time that happens twice (02:30 on the day clocks fall back from 03:00 to
//     02:00) fires only the first time.
//
// @every schedules count elapsed time instead and ignore the zone.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"
	// Zones must resolve in FROM-scratch images, which have no zoneinfo files.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"

	"github.com/maestro-sql/maestro/internal/spec"
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Cron is a parsed cron expression in a time zone.
type Cron struct {
	expr string
	loc  *time.Location
	// Exactly one of wall and every is set.
	wall  *cron.SpecSchedule // evaluated on wall-clock times expressed in UTC
	every time.Duration
}

// Parse parses a five-field cron expression (minute hour day-of-month month day-of-week) or a
// descriptor (@yearly, @monthly, @weekly, @daily, @hourly, @every 1h30m) in the IANA zone (empty
// means UTC). Errors name the expression and say what is wrong.
func Parse(expr, zone string) (*Cron, error) {
	c, err := parse(expr, zone)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %w", expr, err)
	}
	return c, nil
}

func parse(expr, zone string) (*Cron, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("empty")
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("set the time zone in the schedule's time_zone, not in the expression")
	}
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil || zone == "Local" {
			return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Paris)", zone)
		}
		loc = l
	}
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		// The parser silently turns a zero, negative or sub-second interval into one second.
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("bad interval: %w", err)
		}
		if d < time.Second {
			return nil, fmt.Errorf("interval %s is shorter than one second", d)
		}
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, err
	}
	c := &Cron{expr: expr, loc: loc}
	switch s := s.(type) {
	case *cron.SpecSchedule:
		s.Location = time.UTC
		c.wall = s
		// A schedule such as "0 0 30 2 *" parses but never fires.
		if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
			return nil, errors.New("it never fires (no date matches its day and month fields)")
		}
	case cron.ConstantDelaySchedule:
		c.every = s.Delay
	default:
		return nil, fmt.Errorf("unsupported schedule type %T", s)
	}
	return c, nil
}

// ParseSchedule parses a schedule's expression in its zone. Errors name the schedule.
func ParseSchedule(s spec.Schedule) (*Cron, error) {
	if strings.TrimSpace(s.Name) == "" {
		return nil, errors.New("invalid schedule: the name is empty")
	}
	c, err := Parse(s.Cron, s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("invalid schedule %q: %w", s.Name, err)
	}
	if s.MaxParallel < 0 {
		return nil, fmt.Errorf("invalid schedule %q: max_parallel must not be negative", s.Name)
	}
	return c, nil
}

// String returns the expression.
func (c *Cron) String() string { return c.expr }

// Location returns the schedule's time zone.
func (c *Cron) Location() *time.Location { return c.loc }

// Next returns the first tick strictly after `after`, in the schedule's zone, or the zero time if
// there is none within five years.
func (c *Cron) Next(after time.Time) time.Time {
	if c.every > 0 {
		return after.Add(c.every).In(c.loc)
	}
	after = after.In(c.loc)
	w := wallOf(after)
	// Ticks are generated in wall-clock order; in a repeated hour some map to instants before
	// `after` and are passed over. An hour holds at most 60 ticks of a five-field expression.
	for range 200 {
		w = c.wall.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if t := instant(w, c.loc); t.After(after) {
			return t
		}
	}
	return time.Time{}
}

// Allows reports whether a table's conditions allow a run fired at fireTime, judged in the
// schedule's zone.
func (c *Cron) Allows(cond spec.Conditions, fireTime time.Time) bool {
	return cond.Allows(fireTime.In(c.loc))
}

// latest returns the last tick at or before now, given that first (a tick) is at or before now.
func (c *Cron) latest(first, now time.Time) time.Time {
	if c.every > 0 {
		return first.Add(now.Sub(first) / c.every * c.every)
	}
	// Jump close to now instead of stepping through a long outage tick by tick: find a start
	// point in a window before now that still has a tick after it, doubling the window.
	t := first
	for window := time.Hour; ; window *= 2 {
		s := now.Add(-window)
		if !s.After(t) {
			break
		}
		if n := c.Next(s); !n.IsZero() && !n.After(now) {
			t = n
			break
		}
	}
	for {
		n := c.Next(t)
		if n.IsZero() || n.After(now) {
			return t
		}
		t = n
	}
}

// wallOf returns t's wall-clock reading as a UTC time, so that cron fields can be matched
// without the zone's offset changes getting in the way.
func wallOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// instant returns the instant at which the zone's clocks read w (a wall clock time in UTC): the
// end of the gap if they skip it, the first time if they read it twice.
func instant(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
	start, end := t.ZoneBounds()
	if !wallOf(t).Equal(w) {
		// In a gap: time.Date moved the reading across the transition one way or the other.
		if wallOf(t).After(w) {
			return start
		}
		return end
	}
	if !start.IsZero() {
		// A repeated reading: the same wall time in the zone period before this one.
		_, before := start.Add(-time.Nanosecond).Zone()
		_, cur := t.Zone()
		if before > cur {
			if e := t.Add(-time.Duration(before-cur) * time.Second); e.Before(start) && wallOf(e.In(loc)).Equal(w) {
				return e
			}
		}
	}
	return t
}
