// Package cost turns warehouse statistics into money under the project's pricing, sums it by
// run, table, owner and day, and spots tables whose cost jumps. Prices are always configured
// (maestro.yaml pricing:), never assumed: without a pricing model every figure is unknown.
package cost

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// Pricing models (spec.Pricing.Model).
const (
	OnDemand = "on_demand"
	Editions = "editions"
)

const (
	bytesPerTiB       = 1 << 40
	slotMillisPerHour = 3_600_000
)

// Of returns what stats cost under p, in USD; ok is false when p sets no model (unknown).
func Of(p spec.Pricing, s run.Stats) (usd float64, ok bool) {
	switch p.Model {
	case OnDemand:
		return float64(s.BytesBilled) / bytesPerTiB * p.USDPerTiB, true
	case Editions:
		return float64(s.SlotMillis) / slotMillisPerHour * p.USDPerSlotHour, true
	}
	return 0, false
}

// OfEstimate prices a dry run's estimate of the bytes a query would process. Only on-demand
// pricing can: slot time is not known before the query runs.
func OfEstimate(p spec.Pricing, bytesProcessed int64) (usd float64, ok bool) {
	if p.Model != OnDemand {
		return 0, false
	}
	return float64(bytesProcessed) / bytesPerTiB * p.USDPerTiB, true
}

// Format renders a cost for people: "$12.35", "$0.0042", or "unknown".
func Format(usd float64, ok bool) string {
	switch {
	case !ok:
		return "unknown"
	case usd == 0:
		return "$0.00"
	case usd < 0.01:
		return fmt.Sprintf("$%.4f", usd)
	}
	return fmt.Sprintf("$%.2f", usd)
}

// Item is one node's share: what it used and whom it belongs to.
type Item struct {
	RunID string
	Table string
	Owner string
	// Day is the UTC day the node finished, 2006-01-02.
	Day   string
	Stats run.Stats
}

// Row is a sum of items sharing a key.
type Row struct {
	Key            string `json:"key"`
	Nodes          int    `json:"nodes"`
	Runs           int    `json:"runs"`
	BytesProcessed int64  `json:"bytes_processed"`
	BytesBilled    int64  `json:"bytes_billed"`
	SlotMillis     int64  `json:"slot_ms"`
	// USD is nil when the pricing is unknown.
	USD *float64 `json:"usd"`
}

// Groupings accepted by Sum.
var Groupings = []string{"table", "owner", "day", "run"}

// Sum adds items up by "table", "owner", "day" or "run", costliest first (then by key). Items
// of a table without an owner sum under "(none)".
func Sum(p spec.Pricing, by string, items []Item) ([]Row, error) {
	key := map[string]func(Item) string{
		"table": func(i Item) string { return i.Table },
		"owner": func(i Item) string { return i.Owner },
		"day":   func(i Item) string { return i.Day },
		"run":   func(i Item) string { return i.RunID },
	}[by]
	if key == nil {
		return nil, fmt.Errorf("unknown grouping %q (table, owner, day or run)", by)
	}
	rows := map[string]*Row{}
	runs := map[string]map[string]bool{}
	var stats = map[string]*run.Stats{}
	for _, it := range items {
		k := key(it)
		if k == "" {
			k = "(none)"
		}
		r := rows[k]
		if r == nil {
			r = &Row{Key: k}
			rows[k], runs[k], stats[k] = r, map[string]bool{}, &run.Stats{}
		}
		r.Nodes++
		runs[k][it.RunID] = true
		stats[k].Add(it.Stats)
	}
	out := make([]Row, 0, len(rows))
	for k, r := range rows {
		s := stats[k]
		r.Runs, r.BytesProcessed, r.BytesBilled, r.SlotMillis = len(runs[k]), s.BytesProcessed, s.BytesBilled, s.SlotMillis
		if usd, ok := Of(p, *s); ok {
			r.USD = &usd
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.USD != nil && b.USD != nil && *a.USD != *b.USD {
			return *a.USD > *b.USD
		}
		if a.BytesBilled != b.BytesBilled {
			return a.BytesBilled > b.BytesBilled
		}
		return a.Key < b.Key
	})
	return out, nil
}

// Reader is what cost reads of the store.
type Reader interface {
	RunList(ctx context.Context, p *store.RunListParams) ([]*run.Run, error)
	NodeList(ctx context.Context, runID string) ([]*run.Node, error)
	TableList(ctx context.Context) ([]*store.TableRecord, error)
}

// MaxRuns bounds the runs Collect reads: the most recent ones.
const MaxRuns = 1000

// Collect reads the nodes of the finished runs created at or after since (at most the MaxRuns
// most recent runs), each with its table's current owner. Nodes a resume run copied from the
// run it continues are left out: their work, and its cost, belong to that run.
func Collect(ctx context.Context, st Reader, since time.Time) ([]Item, error) {
	owners, err := Owners(ctx, st)
	if err != nil {
		return nil, err
	}
	runs, err := st.RunList(ctx, &store.RunListParams{Limit: MaxRuns})
	if err != nil {
		return nil, fmt.Errorf("error listing runs: %w", err)
	}
	var items []Item
	for _, r := range runs {
		if r.CreatedAt.Before(since) {
			break // newest first: the rest are older still
		}
		if !r.State.Terminal() {
			continue
		}
		nodes, err := st.NodeList(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("error listing nodes of run %q: %w", r.ID, err)
		}
		for _, n := range nodes {
			if copied(r, n) {
				continue
			}
			finished := n.FinishedAt
			if finished.IsZero() {
				finished = r.FinishedAt
			}
			items = append(items, Item{RunID: r.ID, Table: n.Name, Owner: owners[n.Name],
				Day: finished.UTC().Format(time.DateOnly), Stats: n.Stats})
		}
	}
	return items, nil
}

// Owners maps each stored table to its owner.
func Owners(ctx context.Context, st Reader) (map[string]string, error) {
	tables, err := st.TableList(ctx)
	if err != nil {
		return nil, fmt.Errorf("error listing tables: %w", err)
	}
	owners := make(map[string]string, len(tables))
	for _, t := range tables {
		owners[t.Table.Name] = t.Table.Owner
	}
	return owners, nil
}

// copied reports whether a node of a resume run is a copy of a success of the run it resumes
// (it started before its own run existed).
func copied(r *run.Run, n *run.Node) bool {
	return r.ResumedFrom != "" && !n.StartedAt.IsZero() && n.StartedAt.Before(r.CreatedAt)
}
