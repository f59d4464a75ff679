// Package storetest is the conformance suite every store.Store must pass. A backend's
// conformance_test.go calls Run with a function that makes a fresh, empty store.
//
// The suite compares what it reads back with require.Equal, so a store must return times in
// UTC (microsecond precision is enough: the fixtures use whole seconds) and must return the
// slices it was given (nil stays nil, a filled slice stays filled; the suite never relies on
// an empty, non-nil slice surviving).
package storetest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// Run runs the whole suite. newStore must return a fresh, empty store for each subtest (and
// close it with t.Cleanup); subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	h := &harness{newStore: newStore}
	t.Run("Table", h.tables)
	t.Run("Schedule", h.schedules)
	t.Run("Connection", h.connections)
	t.Run("User", h.users)
	t.Run("Access", h.access)
	t.Run("Run", h.runs)
	t.Run("NodeClaim", h.nodeClaim)
	t.Run("NodeHeartbeat", h.nodeHeartbeat)
	t.Run("NodeRecordOutcome", h.nodeRecordOutcome)
	t.Run("NodeReclaim", h.nodeReclaim)
	t.Run("NodePropagate", h.nodePropagate)
	t.Run("NodeFinish", h.nodeFinish)
	t.Run("NodesDispatch", h.nodesDispatch)
	t.Run("NodesStale", h.nodesStale)
	t.Run("Delivery", h.deliveries)
	t.Run("NotifyThread", h.notifyThreads)
	t.Run("Inbound", h.inbound)
}

type harness struct {
	newStore func(t *testing.T) store.Store
}

// test runs one parallel subtest on a fresh store.
func (h *harness) test(t *testing.T, name string, fn func(t *testing.T, ctx context.Context, s store.Store)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		s := h.newStore(t)
		fn(t, t.Context(), s)
	})
}

// t0 is the fixtures' "now": whole seconds in UTC, so every backend stores it exactly.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// deps describes a graph: each node's upstream nodes.
type deps map[string][]string

// newRun is a running run created at t0+created.
func newRun(id string, created time.Duration, maxParallel int) *run.Run {
	return &run.Run{
		ID:          id,
		Schedule:    "hourly",
		Trigger:     run.TriggerSchedule,
		State:       run.RunRunning,
		MaxParallel: maxParallel,
		CreatedBy:   "scheduler",
		CreatedAt:   at(created),
	}
}

// graph builds the nodes of a fresh run, the way the scheduler does: ready where nothing is
// upstream, pending otherwise.
func graph(runID string, d deps) []*run.Node {
	names := make([]string, 0, len(d))
	down := map[string][]string{}
	for name, ups := range d {
		names = append(names, name)
		for _, u := range ups {
			down[u] = append(down[u], name)
		}
	}
	sort.Strings(names)
	nodes := make([]*run.Node, 0, len(names))
	for _, name := range names {
		n := &run.Node{
			RunID:           runID,
			Name:            name,
			Kind:            "query",
			State:           run.NodeReady,
			Attempt:         1,
			MaxAttempts:     3,
			PendingUpstream: len(d[name]),
		}
		if len(d[name]) > 0 {
			n.State = run.NodePending
			n.Upstream = append([]string(nil), d[name]...)
			sort.Strings(n.Upstream)
		}
		if len(down[name]) > 0 {
			n.Downstream = down[name]
			sort.Strings(n.Downstream)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// createRun stores a running run with the graph d.
func createRun(t *testing.T, ctx context.Context, s store.Store, id string, created time.Duration, maxParallel int, d deps) *run.Run {
	t.Helper()
	r := newRun(id, created, maxParallel)
	require.NoError(t, s.RunCreate(ctx, r, graph(id, d)))
	return r
}

func getNode(t *testing.T, ctx context.Context, s store.Store, runID, name string) *run.Node {
	t.Helper()
	n, err := s.NodeGet(ctx, runID, name)
	require.NoError(t, err)
	return n
}

func listNodes(t *testing.T, ctx context.Context, s store.Store, runID string) []*run.Node {
	t.Helper()
	nodes, err := s.NodeList(ctx, runID)
	require.NoError(t, err)
	return nodes
}

func states(t *testing.T, ctx context.Context, s store.Store, runID string) map[string]run.NodeState {
	t.Helper()
	out := map[string]run.NodeState{}
	for _, n := range listNodes(t, ctx, s, runID) {
		out[n.Name] = n.State
	}
	return out
}

// claim claims the node's current attempt with lease "lease-<name>-<attempt>", expiring a minute on.
func claim(t *testing.T, ctx context.Context, s store.Store, runID, name string) *run.Node {
	t.Helper()
	cur := getNode(t, ctx, s, runID, name)
	n, err := s.NodeClaim(ctx, &store.NodeClaimParams{
		RunID: runID, Name: name, Attempt: cur.Attempt, Lease: leaseOf(name, cur.Attempt),
		LeaseExpiresAt: at(time.Minute), JobID: run.JobID(runID, name, cur.Attempt), Now: t0,
	})
	require.NoError(t, err)
	return n
}

func leaseOf(name string, attempt int) string {
	return fmt.Sprintf("lease-%s-%d", name, attempt)
}

// finish claims a ready node and records the final state, finishing at t0+finished.
func finish(t *testing.T, ctx context.Context, s store.Store, runID, name string, state run.NodeState, finished time.Duration) *run.Node {
	t.Helper()
	c := claim(t, ctx, s, runID, name)
	p := &store.NodeRecordOutcomeParams{RunID: runID, Name: name, Attempt: c.Attempt, Lease: c.Lease,
		State: state, Now: at(finished)}
	if state == run.NodeFailed {
		p.Error = "Syntax error: Unexpected keyword FORM at [1:10]"
	}
	n, err := s.NodeRecordOutcome(ctx, p)
	require.NoError(t, err)
	return n
}

func propagate(t *testing.T, ctx context.Context, s store.Store, runID, name string) *store.PropagateResult {
	t.Helper()
	res, err := s.NodePropagate(ctx, runID, name)
	require.NoError(t, err)
	return res
}

// finishAndPropagate runs a node to state and applies its outcome.
func finishAndPropagate(t *testing.T, ctx context.Context, s store.Store, runID, name string, state run.NodeState) *store.PropagateResult {
	t.Helper()
	finish(t, ctx, s, runID, name, state, time.Second)
	return propagate(t, ctx, s, runID, name)
}

func dispatch(t *testing.T, ctx context.Context, s store.Store, p store.NodesDispatchParams) []string {
	t.Helper()
	nodes, err := s.NodesDispatch(ctx, &p)
	require.NoError(t, err)
	return nodeKeys(nodes)
}

// nodeKeys names nodes as "run/name", in the order given.
func nodeKeys(nodes []*run.Node) []string {
	out := []string{}
	for _, n := range nodes {
		out = append(out, n.RunID+"/"+n.Name)
	}
	return out
}
