package chaos

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/maestro-sql/maestro/internal/spec"
)

// plantedFailure is the SQL of a table planted to fail for good: it parses, reads nothing, and
// fails when BigQuery runs it (a string that is no number), so no retry can help.
const plantedFailure = "SELECT CAST('chaos: planted failure' AS INT64) AS n"

// generated is a project made from a seed, with the tables planted to fail.
type generated struct {
	project  *spec.Project
	planted  map[string]bool
	upstream map[string][]string
}

// generate makes a layered project of n tables: each table past the first layer reads one to
// three tables of earlier layers (mostly the one before), so the graph has joins, fan-out and
// long chains. planted tables of the middle layers get SQL that fails at run time; every table
// has retries for the transient faults the harness injects.
func generate(seed int64, n, layers, planted int) *generated {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9E9))
	layers = max(1, min(layers, n))
	g := &generated{
		project:  &spec.Project{Schedules: []spec.Schedule{{Name: "daily", Cron: "0 6 * * *", TimeZone: "UTC"}}},
		planted:  map[string]bool{},
		upstream: map[string][]string{},
	}
	byLayer := make([][]string, layers)
	for i := range n {
		layer := i * layers / n
		byLayer[layer] = append(byLayer[layer], fmt.Sprintf("l%02d.t%03d", layer, len(byLayer[layer])))
	}
	// Planted failures sit where they have both upstream and downstream tables.
	var candidates []string
	for layer := 1; layer < layers-1; layer++ {
		candidates = append(candidates, byLayer[layer]...)
	}
	if len(candidates) == 0 && layers > 1 {
		candidates = byLayer[0]
	}
	rng.Shuffle(len(candidates), func(a, b int) { candidates[a], candidates[b] = candidates[b], candidates[a] })
	for _, name := range candidates[:min(planted, len(candidates))] {
		g.planted[name] = true
	}
	for layer, names := range byLayer {
		for _, name := range names {
			t := spec.Table{Name: name, Kind: "query", Schedules: []string{"daily"}, Owner: "chaos@example.com",
				Retries: 5, RetryBackoff: 200 * time.Millisecond}
			var reads []string
			if layer > 0 {
				seen := map[string]bool{}
				for range 1 + rng.IntN(3) {
					from := layer - 1
					if layer > 1 && rng.IntN(4) == 0 {
						from = rng.IntN(layer - 1)
					}
					up := byLayer[from][rng.IntN(len(byLayer[from]))]
					if !seen[up] {
						seen[up] = true
						reads = append(reads, up)
					}
				}
				sort.Strings(reads)
			}
			g.upstream[name] = reads
			parts := make([]string, len(reads))
			for i, r := range reads {
				parts[i] = "SELECT n FROM " + r
			}
			switch {
			case g.planted[name] && len(reads) > 0:
				// It still reads all its upstream tables, so it waits for them; then it fails.
				t.SQL = plantedFailure + " FROM (" + strings.Join(parts, " UNION ALL ") + ") LIMIT 1"
			case g.planted[name]:
				t.SQL = plantedFailure
			case len(reads) == 0:
				t.SQL = fmt.Sprintf("SELECT %d AS n", rng.IntN(1000))
			default:
				t.SQL = "SELECT COUNT(*) AS n FROM (" + strings.Join(parts, " UNION ALL ") + ")"
			}
			g.project.Tables = append(g.project.Tables, t)
		}
	}
	return g
}

// downstreamOf returns every table downstream of the planted ones: what must be skipped.
func (g *generated) downstreamOf() map[string]bool {
	down := map[string][]string{}
	for name, ups := range g.upstream {
		for _, u := range ups {
			down[u] = append(down[u], name)
		}
	}
	out := map[string]bool{}
	var walk func(string)
	walk = func(name string) {
		for _, d := range down[name] {
			if !out[d] {
				out[d] = true
				walk(d)
			}
		}
	}
	for p := range g.planted {
		walk(p)
	}
	return out
}
