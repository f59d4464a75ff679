package webui

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
)

// dayCost is one day's cost of a chart.
type dayCost struct {
	Day   string // 2006-01-02
	Stats run.Stats
}

// costChart draws daily costs as an inline SVG bar chart: one bar per day from the first day
// to the last, zero days included so the time axis is even. Each bar has a <title> (a tooltip
// and what a screen reader says), and the whole chart a label with its total.
func costChart(days []dayCost, from, to time.Time, pricing spec.Pricing, label string) template.HTML {
	byDay := map[string]run.Stats{}
	for _, d := range days {
		s := byDay[d.Day]
		s.Add(d.Stats)
		byDay[d.Day] = s
	}
	var keys []string
	for d := from.UTC().Truncate(24 * time.Hour); !d.After(to); d = d.AddDate(0, 0, 1) {
		keys = append(keys, d.Format(time.DateOnly))
	}
	if len(keys) == 0 {
		return ""
	}
	value := func(s run.Stats) float64 {
		if usd, ok := cost.Of(pricing, s); ok {
			return usd
		}
		return float64(s.BytesBilled)
	}
	show := func(s run.Stats) string {
		if usd, ok := cost.Of(pricing, s); ok {
			return cost.Format(usd, true)
		}
		return formatBytes(s.BytesBilled) + " billed"
	}
	var total run.Stats
	top := 0.0
	for _, k := range keys {
		s := byDay[k]
		total.Add(s)
		top = max(top, value(s))
	}
	if top == 0 {
		return template.HTML(`<p class="sub">No finished run cost anything in these ` + fmt.Sprint(len(keys)) + ` days.</p>`)
	}
	const w, h, pad, axis = 1200.0, 150.0, 4.0, 18.0
	bw := (w - 2*pad) / float64(len(keys))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s: %s in total over %d days">`,
		w, h, template.HTMLEscapeString(label), template.HTMLEscapeString(show(total)), len(keys))
	fmt.Fprintf(&b, `<line class="axis" x1="0" x2="%.0f" y1="%.1f" y2="%.1f"/>`, w, h-axis, h-axis)
	for i, k := range keys {
		s := byDay[k]
		bh := 0.0
		if top > 0 {
			bh = (h - axis - pad) * value(s) / top
		}
		x := pad + float64(i)*bw
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
			x+1, h-axis-bh, max(bw-2, 1), bh, k, template.HTMLEscapeString(show(s)))
		if i == 0 || i == len(keys)-1 || len(keys) > 7 && i == len(keys)/2 {
			anchor := "middle"
			if i == 0 {
				anchor = "start"
			} else if i == len(keys)-1 {
				anchor = "end"
			}
			tx := x + bw/2
			if i == 0 {
				tx = x
			} else if i == len(keys)-1 {
				tx = x + bw
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, tx, h-4, anchor, k[5:])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
