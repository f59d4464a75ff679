package webui

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/run"
)

// funcs are the template functions every page may use.
func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"static": func(version, name string) string { return "/static/" + name + "?v=" + version },
		"dur":    formatDuration,
		"bytes":  formatBytes,
		"usd":    func(usd float64) string { return cost.Format(usd, true) },
		"cost": func(s run.Stats) string {
			usd, ok := cost.Of(u.cfg.Pricing, s)
			if !ok {
				return formatBytes(s.BytesBilled)
			}
			return cost.Format(usd, true)
		},
		"when":    func(t time.Time) string { return formatWhen(t, u.cfg.Now()) },
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"sql":     highlightSQL,
		"diff":    highlightDiff,
		"join":    strings.Join,
		"dataset": datasetOf,
		"add":     func(a, b, c int) int { return a + b + c },
		"trimdot": func(s string) string { return strings.TrimPrefix(s, ".") },
		"deref":   func(b *bool) bool { return b != nil && *b },
		// pct and ganttRows draw the run page's timeline (runs.go).
		"pct":       func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "%" },
		"ganttRows": u.ganttRows,
	}
}

func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

func formatBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// formatWhen says a past time relative to now ("5 min ago"), a date past a week.
func formatWhen(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return t.UTC().Format("2006-01-02 15:04")
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case d < 7*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return t.UTC().Format("2006-01-02")
}

func datasetOf(table string) string {
	ds, _, _ := strings.Cut(table, ".")
	return ds
}
