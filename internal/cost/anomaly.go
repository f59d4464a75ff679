package cost

import (
	"context"
	"fmt"
	"slices"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// Anomaly is a table whose run cost jumped above its recent median.
type Anomaly struct {
	Table     string
	USD       float64
	MedianUSD float64
	// Runs is how many earlier successful runs the median is over.
	Runs int
}

// minHistory is the fewest earlier runs a median is trusted from.
const minHistory = 3

// Anomalies returns the succeeded nodes of a finished run whose cost is above
// p.AnomalyMultiple times the median cost of the same table over its last p.AnomalyRuns
// successful runs before r. Tables with fewer than 3 such runs, or a median of zero, have no
// baseline and are never flagged. Nothing is flagged when the pricing or multiple is unset.
//
// It reads earlier runs newest first, up to 5 × AnomalyRuns of them, the nodes of each: the
// cost of one alert check is that many NodeList calls per finished run.
func Anomalies(ctx context.Context, st Reader, p spec.Pricing, r *run.Run, nodes []*run.Node) ([]Anomaly, error) {
	if p.Model == "" || p.AnomalyMultiple <= 0 || p.AnomalyRuns <= 0 {
		return nil, nil
	}
	current := map[string]float64{}
	for _, n := range nodes {
		if n.State == run.NodeSucceeded && !copied(r, n) {
			current[n.Name], _ = Of(p, n.Stats)
		}
	}
	if len(current) == 0 {
		return nil, nil
	}
	limit := 5 * p.AnomalyRuns
	earlier, err := st.RunList(ctx, &store.RunListParams{Limit: limit + 1})
	if err != nil {
		return nil, fmt.Errorf("error listing earlier runs: %w", err)
	}
	history := map[string][]float64{}
	full := 0
	for _, e := range earlier {
		if e.ID == r.ID || !e.CreatedAt.Before(r.CreatedAt) || !e.State.Terminal() {
			continue
		}
		ns, err := st.NodeList(ctx, e.ID)
		if err != nil {
			return nil, fmt.Errorf("error listing nodes of run %q: %w", e.ID, err)
		}
		for _, n := range ns {
			if _, ok := current[n.Name]; !ok || n.State != run.NodeSucceeded || copied(e, n) {
				continue
			}
			if h := history[n.Name]; len(h) < p.AnomalyRuns {
				usd, _ := Of(p, n.Stats)
				history[n.Name] = append(h, usd)
				if len(h)+1 == p.AnomalyRuns {
					full++
				}
			}
		}
		if full == len(current) {
			break
		}
	}
	var out []Anomaly
	for _, n := range nodes {
		usd, ok := current[n.Name]
		h := history[n.Name]
		if !ok || len(h) < minHistory {
			continue
		}
		m := median(h)
		if m > 0 && usd > p.AnomalyMultiple*m {
			out = append(out, Anomaly{Table: n.Name, USD: usd, MedianUSD: m, Runs: len(h)})
		}
	}
	return out, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
