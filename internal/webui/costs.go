package webui

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/run"
)

// moverDays is the window top movers compare: the last moverDays against the moverDays before.
const moverDays = 7

// costRow is a line of a costs table.
type costRow struct {
	Key   string
	Nodes int
	Runs  int
	Stats run.Stats
	Cost  string
}

// mover is a table whose cost changed most between two windows.
type mover struct {
	Table         string
	Before, After string
	Change        string
	Up            bool
}

// costsData is the costs page's.
type costsData struct {
	Days       int
	DayChoices []int
	Total      string
	Chart      template.HTML
	ByOwner    []costRow
	// ByTable are the costliest tables, at most 25 of TablesTotal.
	ByTable     []costRow
	TablesTotal int
	Movers      []mover
	Priced      bool
}

func (u *UI) costsPage(w http.ResponseWriter, r *http.Request, v *Viewer) {
	ctx := r.Context()
	days, ok := u.intParam(w, r, v, "days", 1, 366, costDays)
	if !ok {
		return
	}
	now := u.cfg.Now()
	since := now.AddDate(0, 0, -days+1).UTC().Truncate(24 * time.Hour)
	// The movers compare two whole windows, which may reach back further than the chart.
	from := since
	if m := now.AddDate(0, 0, -2*moverDays+1).UTC().Truncate(24 * time.Hour); m.Before(from) {
		from = m
	}
	items, err := cost.Collect(ctx, u.reader(), from)
	if err != nil {
		u.storeFailed(w, r, v, "summing the costs", err)
		return
	}
	inRange := items[:0:0]
	var dayItems []dayCost
	var total run.Stats
	sinceDay := since.Format(time.DateOnly)
	for _, it := range items {
		if it.Day >= sinceDay {
			inRange = append(inRange, it)
			dayItems = append(dayItems, dayCost{Day: it.Day, Stats: it.Stats})
			total.Add(it.Stats)
		}
	}
	d := costsData{Days: days, DayChoices: []int{7, 30, 90}, Total: u.showCost(total), Priced: u.cfg.Pricing.Model != ""}
	d.Chart = costChart(dayItems, since, now, u.cfg.Pricing, "Daily cost of every table")
	d.ByOwner = u.costRows(inRange, "owner")
	d.ByTable = u.costRows(inRange, "table")
	d.TablesTotal = len(d.ByTable)
	if len(d.ByTable) > 25 {
		d.ByTable = d.ByTable[:25]
	}
	d.Movers = u.movers(items, now)
	u.render(w, r, http.StatusOK, "costs", "Costs", "costs", d)
}

// costRows sums items the way GET /api/v1/costs does (cost.Sum), costliest first.
func (u *UI) costRows(items []cost.Item, by string) []costRow {
	rows, _ := cost.Sum(u.cfg.Pricing, by, items) // by is one of cost.Groupings
	out := make([]costRow, 0, len(rows))
	for _, row := range rows {
		s := run.Stats{BytesProcessed: row.BytesProcessed, BytesBilled: row.BytesBilled, SlotMillis: row.SlotMillis}
		out = append(out, costRow{Key: row.Key, Nodes: row.Nodes, Runs: row.Runs, Stats: s, Cost: u.showCost(s)})
	}
	return out
}

// movers compares each table's cost over the last moverDays with the moverDays before and
// returns the ten largest changes either way.
func (u *UI) movers(items []cost.Item, now time.Time) []mover {
	cut := now.AddDate(0, 0, -moverDays+1).UTC().Format(time.DateOnly)
	start := now.AddDate(0, 0, -2*moverDays+1).UTC().Format(time.DateOnly)
	before, after := map[string]*run.Stats{}, map[string]*run.Stats{}
	for _, it := range items {
		if it.Day < start {
			continue
		}
		m := after
		if it.Day < cut {
			m = before
		}
		if m[it.Table] == nil {
			m[it.Table] = &run.Stats{}
		}
		m[it.Table].Add(it.Stats)
	}
	value := func(s *run.Stats) float64 {
		if s == nil {
			return 0
		}
		if usd, ok := cost.Of(u.cfg.Pricing, *s); ok {
			return usd
		}
		return float64(s.BytesBilled)
	}
	type change struct {
		table  string
		b, a   float64
		sb, sa run.Stats
	}
	var all []change
	for i, m := range []map[string]*run.Stats{before, after} {
		for t := range m {
			if i == 1 && before[t] != nil {
				continue // counted with before
			}
			c := change{table: t, b: value(before[t]), a: value(after[t])}
			if before[t] != nil {
				c.sb = *before[t]
			}
			if after[t] != nil {
				c.sa = *after[t]
			}
			if c.a != c.b {
				all = append(all, c)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool {
		di, dj := abs(all[i].a-all[i].b), abs(all[j].a-all[j].b)
		if di != dj {
			return di > dj
		}
		return all[i].table < all[j].table
	})
	if len(all) > 10 {
		all = all[:10]
	}
	out := make([]mover, len(all))
	for i, c := range all {
		m := mover{Table: c.table, Before: u.showCost(c.sb), After: u.showCost(c.sa), Up: c.a > c.b}
		switch {
		case c.b == 0:
			m.Change = "new"
		default:
			m.Change = strconv.FormatFloat((c.a-c.b)/c.b*100, 'f', 0, 64) + "%"
			if c.a > c.b {
				m.Change = "+" + m.Change
			}
		}
		out[i] = m
	}
	return out
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
