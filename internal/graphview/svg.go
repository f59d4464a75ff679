package graphview

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Style is how a state is drawn: fill and border colours (dark text on every fill keeps a
// contrast above 4.5:1), and a symbol, so that the state does not rest on colour alone.
type Style struct {
	Fill, Stroke, Symbol, Word string
}

// Styles maps a last state to its drawing; "" is a table that never ran.
var styles = map[string]Style{
	"succeeded": {"#d5f0dc", "#1e7b3a", "✓", "succeeded"},
	"failed":    {"#fad4d2", "#b3261e", "✗", "failed"},
	"running":   {"#fff0bf", "#8a6100", "▶", "running"},
	"ready":     {"#fff0bf", "#8a6100", "▶", "ready"},
	"pending":   {"#e9eef5", "#52606d", "…", "pending"},
	"skipped":   {"#e6e6e6", "#616161", "↷", "skipped"},
	"cancelled": {"#e6e6e6", "#616161", "⊘", "cancelled"},
	"":          {"#ffffff", "#52606d", "○", "not run yet"},
}

// StyleOf is the drawing of a state.
func StyleOf(state string) Style {
	if s, ok := styles[state]; ok {
		return s
	}
	return Style{"#ffffff", "#52606d", "?", state}
}

// LegendStates are the states a legend shows, in order.
var LegendStates = []string{"succeeded", "failed", "running", "pending", "skipped", "cancelled", ""}

// maxLabel is the most characters of a label that fit a box; longer ones are cut with an
// ellipsis (the full name is the box's title).
const maxLabel = 27

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// SVG draws the layout. Every box with a link is a keyboard-focusable <a>; each box has a
// <title> naming the table and its state for screen readers and tooltips. Every string is
// escaped.
func (l *Layout) SVG(label string) template.HTML {
	var b strings.Builder
	b.Grow(512 + 420*len(l.Boxes) + 160*len(l.Edges))
	fmt.Fprintf(&b, `<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" role="group" aria-label="%s">`,
		f(l.Width), f(l.Height), f(l.Width), f(l.Height), html.EscapeString(label))
	b.WriteString(`<defs><marker id="gv-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0L8,4L0,8z" fill="#5b6470"/></marker></defs>`)
	b.WriteString(`<style>.graph a:focus{outline:none}.graph a:focus>rect,.graph a:hover>rect{stroke-width:3;stroke:#1a4fd6}.graph text{font:12px system-ui,sans-serif;fill:#111}.graph .n{font-size:11px;fill:#333}.graph.hl path.e{stroke-opacity:.1}.graph.hl path.e.on{stroke-opacity:1;stroke:#1a4fd6;stroke-width:2.5}</style>`)
	// Many edges are drawn lighter, so that the boxes stay legible above them.
	opacity := ".75"
	if len(l.Edges) > 150 {
		opacity = ".4"
	}
	b.WriteString(`<g fill="none" stroke="#5b6470" stroke-opacity="` + opacity + `">`)
	for _, e := range l.Edges {
		if len(e.Points) < 2 {
			continue
		}
		// A dataset edge standing for many reads is thicker, by the log of their number.
		w := 1.2 + 0.6*min(math.Log2(float64(max(e.Count, 1))), 5)
		fmt.Fprintf(&b, `<path class="e" data-from="%s" data-to="%s" d="M`, html.EscapeString(e.From), html.EscapeString(e.To))
		p0 := e.Points[0]
		b.WriteString(f(p0.X) + "," + f(p0.Y))
		for _, p1 := range e.Points[1:] {
			dx := (p1.X - p0.X) / 2
			b.WriteString(" C" + f(p0.X+dx) + "," + f(p0.Y) + " " + f(p1.X-dx) + "," + f(p1.Y) + " " + f(p1.X) + "," + f(p1.Y))
			p0 = p1
		}
		fmt.Fprintf(&b, `" stroke-width="%s" marker-end="url(#gv-arrow)"`, f(w))
		if e.Back {
			b.WriteString(` stroke-dasharray="5 3" stroke="#b3261e"`)
		}
		b.WriteString(`><title>`)
		b.WriteString(html.EscapeString(e.To + " reads " + e.From))
		if e.Count > 1 {
			b.WriteString(" (" + strconv.Itoa(e.Count) + " reads)")
		}
		b.WriteString(`</title></path>`)
	}
	b.WriteString(`</g>`)
	for i := range l.Boxes {
		writeBox(&b, &l.Boxes[i])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every dynamic string above is escaped
}

func writeBox(b *strings.Builder, bx *Box) {
	st := StyleOf(bx.State)
	title := bx.Label + ": " + st.Word
	if bx.External && bx.Tables == 0 {
		title = bx.Label + ": external source (not built by Maestro)"
	}
	if bx.Tables > 0 {
		title = fmt.Sprintf("dataset %s: %d tables", bx.Label, bx.Tables)
		for _, s := range LegendStates {
			if n := bx.States[s]; n > 0 {
				title += fmt.Sprintf(", %d %s", n, StyleOf(s).Word)
			}
		}
		if bx.Href != "" {
			title += " (open to show its tables)"
		}
	}
	attrs := fmt.Sprintf(`data-id="%s" data-state="%s"`, html.EscapeString(bx.ID), html.EscapeString(bx.State))
	if bx.Href != "" {
		fmt.Fprintf(b, `<a href="%s" %s>`, html.EscapeString(bx.Href), attrs)
	} else {
		fmt.Fprintf(b, `<g %s>`, attrs)
	}
	b.WriteString(`<title>` + html.EscapeString(title) + `</title>`)
	sw := "1.5"
	if bx.Focus {
		sw = "3.5"
	}
	dash := ""
	if bx.External {
		dash = ` stroke-dasharray="4 3"`
	}
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="5" fill="%s" stroke="%s" stroke-width="%s"%s/>`,
		f(bx.X), f(bx.Y), f(bx.W), f(bx.H), st.Fill, st.Stroke, sw, dash)
	label := bx.Label
	if bx.Tables > 0 {
		label = "▸ " + label
	} else {
		label = st.Symbol + " " + label
	}
	fmt.Fprintf(b, `<text x="%s" y="%s">%s</text>`, f(bx.X+8), f(bx.Y+19), html.EscapeString(cut(label, maxLabel)))
	if bx.Tables > 0 {
		// A bar of the dataset's tables by state, and their count.
		x, w := bx.X+8, bx.W-70
		for _, s := range LegendStates {
			n := bx.States[s]
			if n == 0 {
				continue
			}
			sw := w * float64(n) / float64(bx.Tables)
			fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="8" fill="%s" stroke="%s" stroke-width=".5"/>`,
				f(x), f(bx.Y+28), f(sw), StyleOf(s).Stroke, StyleOf(s).Stroke)
			x += sw
		}
		fmt.Fprintf(b, `<text class="n" x="%s" y="%s">%d tables</text>`, f(bx.X+bx.W-58), f(bx.Y+36), bx.Tables)
	}
	if bx.Href != "" {
		b.WriteString(`</a>`)
	} else {
		b.WriteString(`</g>`)
	}
}
