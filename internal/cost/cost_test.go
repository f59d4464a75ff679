package cost_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
)

const tib = 1 << 40

var (
	onDemand = spec.Pricing{Model: "on_demand", USDPerTiB: 6.25}
	editions = spec.Pricing{Model: "editions", USDPerSlotHour: 0.06}
)

func TestOf(t *testing.T) {
	t.Parallel()
	// 0.75 TiB billed at $6.25/TiB = $4.6875; 1.5 slot-hours at $0.06 = $0.09.
	s := run.Stats{BytesBilled: 3 * tib / 4, BytesProcessed: tib, SlotMillis: 5_400_000}
	usd, ok := cost.Of(onDemand, s)
	require.True(t, ok)
	require.InDelta(t, 4.6875, usd, 1e-12)
	usd, ok = cost.Of(editions, s)
	require.True(t, ok)
	require.InDelta(t, 0.09, usd, 1e-12)
	_, ok = cost.Of(spec.Pricing{}, s)
	require.False(t, ok, "no pricing: unknown, not zero")
	require.Equal(t, "unknown", cost.Format(cost.Of(spec.Pricing{}, s)))
	require.Equal(t, "$4.69", cost.Format(cost.Of(onDemand, s)))

	usd, ok = cost.OfEstimate(onDemand, 2*tib)
	require.True(t, ok)
	require.InDelta(t, 12.5, usd, 1e-12)
	_, ok = cost.OfEstimate(editions, 2*tib)
	require.False(t, ok, "slot time cannot be estimated")
}

func TestSum(t *testing.T) {
	t.Parallel()
	items := []cost.Item{
		{RunID: "r1", Table: "sales.orders", Owner: "ana@acme.test", Day: "2026-03-14", Stats: run.Stats{BytesBilled: tib / 2, SlotMillis: 3_600_000}},
		{RunID: "r2", Table: "sales.orders", Owner: "ana@acme.test", Day: "2026-03-15", Stats: run.Stats{BytesBilled: tib / 4, SlotMillis: 1_800_000}},
		{RunID: "r2", Table: "sales.daily", Owner: "bob@acme.test", Day: "2026-03-15", Stats: run.Stats{BytesBilled: 10 << 30, SlotMillis: 720_000}},
		{RunID: "r2", Table: "raw.events", Day: "2026-03-15", Stats: run.Stats{BytesBilled: tib, SlotMillis: 36_000}},
	}
	type fig struct {
		key  string
		runs int
		usd  float64
	}
	check := func(p spec.Pricing, by string, want []fig) {
		t.Helper()
		rows, err := cost.Sum(p, by, items)
		require.NoError(t, err)
		got := make([]fig, len(rows))
		for i, r := range rows {
			require.NotNil(t, r.USD)
			got[i] = fig{r.Key, r.Runs, *r.USD}
		}
		require.Len(t, got, len(want))
		for i := range want {
			require.Equal(t, want[i].key, got[i].key, "%s by %s row %d", p.Model, by, i)
			require.Equal(t, want[i].runs, got[i].runs)
			require.InDelta(t, want[i].usd, got[i].usd, 1e-9, "%s by %s %s", p.Model, by, want[i].key)
		}
	}
	// On demand: 0.75 TiB × 6.25 = 4.6875; 10 GiB = 10/1024 TiB × 6.25 = 0.06103515625; 1 TiB = 6.25.
	check(onDemand, "table", []fig{{"raw.events", 1, 6.25}, {"sales.orders", 2, 4.6875}, {"sales.daily", 1, 0.06103515625}})
	check(onDemand, "owner", []fig{{"(none)", 1, 6.25}, {"ana@acme.test", 2, 4.6875}, {"bob@acme.test", 1, 0.06103515625}})
	// Day 15: 0.25 + 1 TiB + 10 GiB = 1.5625 + 6.25 + 0.06103515625.
	check(onDemand, "day", []fig{{"2026-03-15", 1, 7.87353515625}, {"2026-03-14", 1, 3.125}})
	// Editions: 1.5 h × 0.06 = 0.09; 0.2 h = 0.012; 0.01 h = 0.0006.
	check(editions, "table", []fig{{"sales.orders", 2, 0.09}, {"sales.daily", 1, 0.012}, {"raw.events", 1, 0.0006}})
	// By run: r1 1 h = 0.06; r2 (1,800,000 + 720,000 + 36,000 ms = 0.71 h) = 0.0426.
	check(editions, "run", []fig{{"r1", 1, 0.06}, {"r2", 1, 0.0426}})

	rows, err := cost.Sum(spec.Pricing{}, "table", items)
	require.NoError(t, err)
	require.Len(t, rows, 3)
	for _, r := range rows {
		require.Nil(t, r.USD, "unknown pricing is no figure at all")
	}
	_, err = cost.Sum(onDemand, "colour", items)
	require.ErrorContains(t, err, `unknown grouping "colour"`)
}

// newStore opens a SQLite store holding finished runs with one node per given table cost.
func newStore(t *testing.T) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

var t0 = time.Date(2026, 3, 14, 6, 0, 0, 0, time.UTC)

// addRun stores a finished run, created at t0 + i hours, whose nodes succeeded with these bytes billed.
func addRun(t *testing.T, st store.Store, i int, billed map[string]int64) *run.Run {
	t.Helper()
	r := &run.Run{ID: fmt.Sprintf("r%03d", i), Trigger: run.TriggerSchedule, State: run.RunRunning, CreatedAt: t0.Add(time.Duration(i) * time.Hour)}
	var nodes []*run.Node
	for name, b := range billed {
		nodes = append(nodes, &run.Node{RunID: r.ID, Name: name, Kind: "query", State: run.NodeSucceeded, Attempt: 1, MaxAttempts: 1,
			Propagated: true, Stats: run.Stats{BytesBilled: b}, StartedAt: r.CreatedAt, FinishedAt: r.CreatedAt.Add(time.Minute)})
	}
	require.NoError(t, st.RunCreate(t.Context(), r, nodes))
	require.NoError(t, st.RunFinish(t.Context(), &store.RunFinishParams{ID: r.ID, State: run.RunSucceeded, FinishedAt: r.CreatedAt.Add(time.Minute)}))
	r, err := st.RunGet(t.Context(), r.ID)
	require.NoError(t, err)
	return r
}

func TestCollect(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	_, err := st.TablePut(t.Context(), &store.TablePutParams{Table: spec.Table{Name: "a.x", SQL: "SELECT 1", Owner: "ana@acme.test"}, User: "u", Create: true})
	require.NoError(t, err)
	addRun(t, st, 0, map[string]int64{"a.x": tib})
	addRun(t, st, 30, map[string]int64{"a.x": tib / 2, "a.y": tib / 4})
	items, err := cost.Collect(t.Context(), st, t0.Add(time.Hour))
	require.NoError(t, err)
	rows, err := cost.Sum(onDemand, "owner", items)
	require.NoError(t, err)
	require.Len(t, rows, 2, "only the run since the cut-off: %+v", rows)
	require.Equal(t, "ana@acme.test", rows[0].Key)
	require.InDelta(t, 3.125, *rows[0].USD, 1e-12)
	require.Equal(t, "(none)", rows[1].Key)
	require.Equal(t, "2026-03-15", items[0].Day)
}

func TestAnomalies(t *testing.T) {
	t.Parallel()
	p := onDemand
	p.AnomalyMultiple, p.AnomalyRuns = 3, 10
	st := newStore(t)
	// Normal variation: 1 TiB ± 40% over ten runs.
	normal := []int64{10, 12, 8, 14, 9, 11, 13, 7, 10, 12}
	var last *run.Run
	var flagged []string
	for i, v := range normal {
		last = addRun(t, st, i, map[string]int64{"a.x": v * tib / 10, "a.y": tib})
		nodes, err := st.NodeList(t.Context(), last.ID)
		require.NoError(t, err)
		got, err := cost.Anomalies(t.Context(), st, p, last, nodes)
		require.NoError(t, err)
		for _, a := range got {
			flagged = append(flagged, a.Table)
		}
	}
	require.Empty(t, flagged, "normal variation is not an anomaly")

	// A planted jump: a.x reads 5 TiB (5× its median of 1.05 TiB); a.y stays.
	jump := addRun(t, st, 10, map[string]int64{"a.x": 5 * tib, "a.y": tib})
	nodes, err := st.NodeList(t.Context(), jump.ID)
	require.NoError(t, err)
	got, err := cost.Anomalies(t.Context(), st, p, jump, nodes)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "a.x", got[0].Table)
	require.InDelta(t, 31.25, got[0].USD, 1e-9)
	require.InDelta(t, 1.05*6.25, got[0].MedianUSD, 1e-9, "median of 7,8,9,10,10,11,12,12,13,14 tenths of a TiB")
	require.Equal(t, 10, got[0].Runs)

	// Back to normal the run after: the jump is one sample among ten, the median barely moves.
	after := addRun(t, st, 11, map[string]int64{"a.x": tib, "a.y": tib})
	nodes, err = st.NodeList(t.Context(), after.ID)
	require.NoError(t, err)
	got, err = cost.Anomalies(t.Context(), st, p, after, nodes)
	require.NoError(t, err)
	require.Empty(t, got)

	p.Model = ""
	got, err = cost.Anomalies(t.Context(), st, p, jump, nodes)
	require.NoError(t, err)
	require.Empty(t, got, "no pricing, no alert")
}
