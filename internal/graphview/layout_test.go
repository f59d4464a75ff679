package graphview

import (
	"fmt"
	"strings"
	"testing"
)

// graphOf builds an input from "reader: read read ..." lines.
func graphOf(lines ...string) Input {
	in := Input{Upstream: map[string][]string{}}
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			in.Nodes = append(in.Nodes, Node{Key: k})
		}
	}
	for _, ln := range lines {
		k, reads, _ := strings.Cut(ln, ":")
		k = strings.TrimSpace(k)
		add(k)
		for _, r := range strings.Fields(reads) {
			add(r)
			in.Upstream[k] = append(in.Upstream[k], r)
		}
	}
	return in
}

// layered makes a project shaped like a warehouse's: datasets in tiers of eight (raw, staging,
// marts, ...), each table reading two tables of the tier before it (a few of the one before
// that), picked by a fixed rule so that the graph is wide and its edges cross. The e2e test
// generates its 2,000-table project by the same rule (e2e/bigproject.mjs).
func layered(datasets, perDataset int) Input {
	in := Input{Upstream: map[string][]string{}}
	for d := range datasets {
		tier := d / 8
		for t := range perDataset {
			k := fmt.Sprintf("ds%02d.t%03d", d, t)
			in.Nodes = append(in.Nodes, Node{Key: k, State: []string{"succeeded", "failed", "", "running", "skipped"}[(d+t)%5]})
			if tier == 0 {
				continue
			}
			for j := range 2 {
				ut := tier - 1
				if (t+j)%7 == 0 && tier > 1 {
					ut = tier - 2
				}
				ud := ut*8 + (d*3+t*5+j*11)%8
				in.Upstream[k] = append(in.Upstream[k], fmt.Sprintf("ds%02d.t%03d", ud, (t*13+j*5+d)%perDataset))
			}
		}
	}
	return in
}

func boxByID(t *testing.T, l *Layout, id string) *Box {
	t.Helper()
	for i := range l.Boxes {
		if l.Boxes[i].ID == id {
			return &l.Boxes[i]
		}
	}
	t.Fatalf("no box %q among %d", id, len(l.Boxes))
	return nil
}

// checkGeometry asserts what makes a drawing readable: every edge runs left to right (but
// those closing a cycle), no two boxes overlap, and everything is inside the drawing.
func checkGeometry(t *testing.T, l *Layout) {
	t.Helper()
	ids := map[string]*Box{}
	for i := range l.Boxes {
		b := &l.Boxes[i]
		ids[b.ID] = b
		if b.X < 0 || b.Y < 0 || b.X+b.W > l.Width+0.01 || b.Y+b.H > l.Height+0.01 {
			t.Errorf("box %s at (%.0f,%.0f) is outside the %.0f×%.0f drawing", b.ID, b.X, b.Y, l.Width, l.Height)
		}
	}
	for _, e := range l.Edges {
		from, to := ids[e.From], ids[e.To]
		if !e.Back && from.Layer >= to.Layer {
			t.Errorf("edge %s -> %s runs from layer %d to layer %d", e.From, e.To, from.Layer, to.Layer)
		}
	}
	byLayer := map[int][]*Box{}
	for i := range l.Boxes {
		byLayer[l.Boxes[i].Layer] = append(byLayer[l.Boxes[i].Layer], &l.Boxes[i])
	}
	for ly, bs := range byLayer {
		for i, a := range bs {
			for _, b := range bs[i+1:] {
				if a.Y < b.Y+b.H && b.Y < a.Y+a.H {
					t.Fatalf("layer %d: boxes %s (y %.1f) and %s (y %.1f) overlap", ly, a.ID, a.Y, b.ID, b.Y)
				}
			}
		}
	}
}

func TestCompute(t *testing.T) {
	t.Parallel()

	t.Run("LayersLeftToRightByLongestPath", func(t *testing.T) {
		t.Parallel()
		l := Compute(graphOf("s.b: s.a", "s.c: s.b", "s.d: s.a s.c"), Options{})
		checkGeometry(t, l)
		for id, want := range map[string]int{"s.a": 0, "s.b": 1, "s.c": 2, "s.d": 3} {
			if got := boxByID(t, l, id).Layer; got != want {
				t.Errorf("%s is in layer %d, want %d", id, got, want)
			}
		}
		if l.Layers != 4 {
			t.Errorf("%d layers, want 4", l.Layers)
		}
		// s.a -> s.d crosses two layers: it bends at each.
		for _, e := range l.Edges {
			if e.From == "s.a" && e.To == "s.d" && len(e.Points) != 6 {
				t.Errorf("the long edge has %d points, want 6 (ends and two bends of two points)", len(e.Points))
			}
		}
	})

	t.Run("SourcesSitNextToTheirFirstReader", func(t *testing.T) {
		t.Parallel()
		in := graphOf("s.b: s.a", "s.c: s.b", "s.d: s.c ext.late")
		in.Nodes = append(in.Nodes, Node{Key: "ext.late", External: true})
		l := Compute(in, Options{})
		if got := boxByID(t, l, "ext.late").Layer; got != 2 {
			t.Errorf("an external source read only by layer 3 is in layer %d, want 2", got)
		}
	})

	t.Run("BarycenterSweepsRemoveAvoidableCrossings", func(t *testing.T) {
		t.Parallel()
		// By name, a reads from the bottom and z from the top: crossed; reordered, none.
		in := graphOf("x.a: w.z2", "x.b: w.z2", "x.y: w.a1", "x.z: w.a1", "x.q: w.m")
		l := Compute(in, Options{})
		checkGeometry(t, l)
		if l.Crossings != 0 {
			t.Errorf("%d crossings, want 0", l.Crossings)
		}
		if a, z := boxByID(t, l, "x.a"), boxByID(t, l, "x.y"); (a.Y < z.Y) != (boxByID(t, l, "w.z2").Y < boxByID(t, l, "w.a1").Y) {
			t.Errorf("readers are not in the order of what they read")
		}
	})

	t.Run("CycleDrawnWithABackEdge", func(t *testing.T) {
		t.Parallel()
		l := Compute(graphOf("c.a: c.c", "c.b: c.a", "c.c: c.b"), Options{})
		checkGeometry(t, l)
		backs := 0
		for _, e := range l.Edges {
			if e.Back {
				backs++
			}
		}
		if backs != 1 || len(l.Edges) != 3 {
			t.Errorf("%d edges, %d back; want 3 edges, 1 back", len(l.Edges), backs)
		}
	})

	t.Run("CollapsesDatasetsOverBudget", func(t *testing.T) {
		t.Parallel()
		in := layered(40, 50)
		l := Compute(in, Options{DatasetHref: func(ds string) string { return "/graph?expand=" + ds }})
		checkGeometry(t, l)
		if !l.Collapsed || len(l.Boxes) != 40 || l.Tables != 2000 {
			t.Fatalf("2,000 tables in 40 datasets: %d boxes (collapsed %v, tables %d), want 40 dataset boxes", len(l.Boxes), l.Collapsed, l.Tables)
		}
		b := boxByID(t, l, "dataset:ds07")
		if b.Tables != 50 || b.Href != "/graph?expand=ds07" {
			t.Errorf("dataset box: %d tables, link %q", b.Tables, b.Href)
		}
		n := 0
		for _, c := range b.States {
			n += c
		}
		if n != 50 || b.States["failed"] != 10 || b.State != "failed" {
			t.Errorf("dataset states %v (state %q): want 50 tables, 10 failed, drawn failed", b.States, b.State)
		}
		// Readable: the drawing fits a few screens, not 2,000 rows.
		if l.Height > 2500 {
			t.Errorf("collapsed drawing is %.0f px tall", l.Height)
		}
	})

	t.Run("ExpandedDatasetShowsItsTables", func(t *testing.T) {
		t.Parallel()
		l := Compute(layered(40, 50), Options{Expand: []string{"ds03"}})
		checkGeometry(t, l)
		if len(l.Boxes) != 39+50 {
			t.Fatalf("%d boxes, want 39 datasets and 50 tables", len(l.Boxes))
		}
		boxByID(t, l, "ds03.t017")
		// Aligning to far-apart neighbours leaves no wide empty bands: about as tall as the
		// opened layer's contents (89 boxes and the bends of the edges crossing it).
		if l.Height > 3300 {
			t.Errorf("the drawing is %.0f px tall", l.Height)
		}
		// An edge from a table of ds03 to a collapsed dataset is drawn to the dataset's box.
		found := false
		for _, e := range l.Edges {
			if strings.HasPrefix(e.From, "ds03.") && strings.HasPrefix(e.To, "dataset:") {
				found = true
			}
		}
		if !found {
			t.Error("no edge from an expanded table to a collapsed dataset")
		}
	})

	t.Run("UnderBudgetDrawsEveryTable", func(t *testing.T) {
		t.Parallel()
		l := Compute(layered(16, 8), Options{})
		checkGeometry(t, l)
		if l.Collapsed || len(l.Boxes) != 128 {
			t.Errorf("128 tables: %d boxes, collapsed %v", len(l.Boxes), l.Collapsed)
		}
	})

	t.Run("SweepsReduceCrossingsOnABigGraph", func(t *testing.T) {
		t.Parallel()
		in := layered(24, 5)
		none := Compute(in, Options{Sweeps: 1})
		many := Compute(in, Options{})
		if many.Crossings > none.Crossings {
			t.Errorf("12 sweeps: %d crossings, more than 1 sweep's %d", many.Crossings, none.Crossings)
		}
	})
}

func TestNeighbourhood(t *testing.T) {
	t.Parallel()
	in := graphOf("a.b: a.a", "a.c: a.b", "a.d: a.c", "a.e: a.d", "a.sib: a.a", "a.x: a.q")
	got := Neighbourhood(in, "a.c", 1)
	keys := []string{}
	for _, n := range got.Nodes {
		keys = append(keys, n.Key)
	}
	if strings.Join(keys, " ") != "a.b a.c a.d" {
		t.Errorf("depth 1 around a.c: %v, want a.b a.c a.d", keys)
	}
	got = Neighbourhood(in, "a.c", 2)
	keys = keys[:0]
	for _, n := range got.Nodes {
		keys = append(keys, n.Key)
	}
	// Ancestors and descendants only: a.sib reads a.a but is neither.
	if strings.Join(keys, " ") != "a.b a.a a.c a.d a.e" && strings.Join(keys, " ") != "a.a a.b a.c a.d a.e" {
		t.Errorf("depth 2 around a.c: %v", keys)
	}
	if len(got.Upstream["a.b"]) != 1 || len(got.Upstream["a.sib"]) != 0 {
		t.Errorf("edges: %v", got.Upstream)
	}
}

func TestSVG(t *testing.T) {
	t.Parallel()
	in := graphOf(`d.t: d.<script>alert(1)</script>`)
	in.Nodes[0].State = "failed"
	l := Compute(in, Options{Focus: "d.t", TableHref: func(k string) string { return `/tables/` + k + `?"x` }})
	svg := string(l.SVG(`graph of "d"`))
	if strings.Contains(svg, "<script>") || !strings.Contains(svg, "&lt;script&gt;") {
		t.Errorf("a table name is not escaped:\n%s", svg)
	}
	if !strings.Contains(svg, `href="/tables/d.t?&#34;x"`) {
		t.Errorf("link not escaped or missing:\n%s", svg)
	}
	if !strings.Contains(svg, "<title>d.t: failed</title>") || !strings.Contains(svg, "✗ d.t") {
		t.Errorf("a failed table is not named failed in its title and symbol:\n%s", svg)
	}
	if !strings.Contains(svg, `stroke-width="3.5"`) {
		t.Error("the focused table is not drawn thicker")
	}
}

func BenchmarkCompute2000(b *testing.B) {
	in := layered(40, 50)
	for b.Loop() {
		l := Compute(in, Options{})
		_ = l.SVG("graph")
	}
}

func BenchmarkComputeExpanded2000(b *testing.B) {
	in := layered(40, 50)
	for b.Loop() {
		l := Compute(in, Options{Budget: 5000})
		_ = l.SVG("graph")
	}
}
