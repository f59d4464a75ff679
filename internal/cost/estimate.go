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
			out = append(out, Warning{Table: name, BytesProcessed: res.BytesProcessed, USD: usd, Message: warningMessage(name, res.BytesProcessed, usd, pricing)})
		}
	}
	return out, nil
}

func warningMessage(name string, bytes int64, usd float64, pricing spec.Pricing) string {
	return fmt.Sprintf("%s: a run would process about %s, about %s at %s pricing (more than the %s warning threshold)",
		name, formatBytes(bytes), Format(usd, true), pricing.Model, Format(pricing.EstimateWarnUSD, true))
}

// Estimate is what a dry run says one run of a table would cost.
type Estimate struct {
	BytesProcessed int64 `json:"bytes_processed"`
	// USD prices BytesProcessed; null unless the pricing is on-demand (slot time is not known
	// before a query runs).
	USD *float64 `json:"usd"`
	// Warning is set when USD is more than pricing.estimate_warn_usd.
	Warning string `json:"warning,omitempty"`
}

// EstimateTable dry-runs a query table's SQL (names resolved against the default project and
// dataset) and prices it. It returns nil without a dry runner, for imports and external
// tables, and when the dry run fails (see EstimateWarnings: the SQL is checked when it runs).
func EstimateTable(ctx context.Context, dr warehouse.DryRunner, defaultProject, defaultDataset string, pricing spec.Pricing, t *spec.Table) (*Estimate, error) {
	if dr == nil || t.Kind != "" && t.Kind != "query" {
		return nil, nil
	}
	res, err := dr.DryRun(ctx, &warehouse.QueryJob{SQL: t.SQL, DefaultProject: defaultProject, DefaultDataset: defaultDataset})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("error estimating table %q: %w", t.Name, err)
		}
		return nil, nil
	}
	e := &Estimate{BytesProcessed: res.BytesProcessed}
	if usd, ok := OfEstimate(pricing, res.BytesProcessed); ok {
		e.USD = &usd
		if pricing.EstimateWarnUSD > 0 && usd > pricing.EstimateWarnUSD {
			e.Warning = warningMessage(t.Name, res.BytesProcessed, usd, pricing)
		}
	}
	return e, nil
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
