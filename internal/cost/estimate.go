package cost

import (
	"context"
	"fmt"

	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/warehouse"
)

// Warning is a saved table whose dry run says a run would cost more than the project allows
// without a word (pricing.estimate_warn_usd).
type Warning struct {
	Table          string  `json:"table"`
	BytesProcessed int64   `json:"bytes_processed"`
	USD            float64 `json:"usd"`
	Message        string  `json:"message"`
}

// EstimateWarnings dry-runs the query tables of tables (by name, in p) and returns those whose
// estimate costs more than p.Pricing.EstimateWarnUSD. Nothing is estimated without on-demand
// pricing and a threshold. A dry run that fails is not a warning: the table's SQL is checked
// when it runs, and a dry run may fail for reasons (permissions, a table not built yet) that a
// run would not meet.
func EstimateWarnings(ctx context.Context, dr warehouse.DryRunner, p *spec.Project, pricing spec.Pricing, tables []string) ([]Warning, error) {
	if dr == nil || pricing.EstimateWarnUSD <= 0 {
		return nil, nil
	}
	if _, ok := OfEstimate(pricing, 0); !ok {
		return nil, nil
	}
	byName := make(map[string]*spec.Table, len(p.Tables))
	for i := range p.Tables {
		byName[p.Tables[i].Name] = &p.Tables[i]
	}
	var out []Warning
	for _, name := range tables {
		t := byName[name]
		if t == nil || (t.Kind != "" && t.Kind != "query") {
			continue // imports run in their source database
		}
		res, err := dr.DryRun(ctx, &warehouse.QueryJob{SQL: t.SQL, DefaultProject: p.DefaultProject, DefaultDataset: p.DefaultDataset})
		if err != nil {
			if ctx.Err() != nil {
				return out, fmt.Errorf("error estimating table %q: %w", name, err)
			}
			continue
		}
		usd, _ := OfEstimate(pricing, res.BytesProcessed)
		if usd > pricing.EstimateWarnUSD {
			out = append(out, Warning{Table: name, BytesProcessed: res.BytesProcessed, USD: usd, Message: fmt.Sprintf(
				"%s: a run would process about %s, about %s at %s pricing (more than the %s warning threshold)",
				name, formatBytes(res.BytesProcessed), Format(usd, true), pricing.Model, Format(pricing.EstimateWarnUSD, true))})
		}
	}
	return out, nil
}

func formatBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
