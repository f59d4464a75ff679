package firestorestore

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// TestAnInterruptedSkipIsCompletedByTheNextPropagation stops a large skip after its first
// step, as a crash would, and checks that propagating again skips everything left. The graph
// a → m → 1,000 leaves is the case that needs sinks-first order: had m been skipped in the
// first step, a new walk from a would stop at m and strand the leaves.
func TestAnInterruptedSkipIsCompletedByTheNextPropagation(t *testing.T) {
	t.Parallel()
	if os.Getenv("FIRESTORE_EMULATOR_HOST") == "" {
		t.Skip("the Firestore emulator is not available")
	}
	ctx := t.Context()
	s, err := Open(ctx, fmt.Sprintf("maestro-steps-%d", os.Getpid()))
	require.NoError(t, err)
	defer s.Close()

	var leaves []string
	for i := range 1000 {
		leaves = append(leaves, fmt.Sprintf("leaf.%04d", i))
	}
	nodes := []*run.Node{
		{Name: "a", State: run.NodeReady, Attempt: 1, Downstream: []string{"m"}},
		{Name: "m", State: run.NodePending, Attempt: 1, Upstream: []string{"a"}, PendingUpstream: 1, Downstream: leaves},
	}
	for _, l := range leaves {
		nodes = append(nodes, &run.Node{Name: l, State: run.NodePending, Attempt: 1, Upstream: []string{"m"}, PendingUpstream: 1})
	}
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	require.NoError(t, s.RunCreate(ctx, &run.Run{ID: "r", State: run.RunRunning, CreatedAt: t0}, nodes))
	_, err = s.NodeClaim(ctx, &store.NodeClaimParams{RunID: "r", Name: "a", Attempt: 1, Lease: "w", Now: t0})
	require.NoError(t, err)
	_, err = s.NodeRecordOutcome(ctx, &store.NodeRecordOutcomeParams{RunID: "r", Name: "a", Attempt: 1, Lease: "w",
		State: run.NodeFailed, Now: t0})
	require.NoError(t, err)

	snap, err := s.nodeRef("r", "a").Get(ctx)
	require.NoError(t, err)
	a, err := decodeNode(snap)
	require.NoError(t, err)
	plan, err := s.planSkip(ctx, "r", a)
	require.NoError(t, err)
	require.Len(t, plan, 1001)
	require.Equal(t, "m", plan[len(plan)-1].Name, "sinks first")
	var first []string
	for _, d := range plan[:maxWrites] {
		first = append(first, d.Name)
	}
	skipped, err := s.skipStep(ctx, "r", first, a.FinishedAt)
	require.NoError(t, err)
	require.Len(t, skipped, maxWrites)

	res, err := s.NodePropagate(ctx, "r", "a")
	require.NoError(t, err)
	require.Len(t, res.Skipped, 1001-maxWrites)
	require.Contains(t, res.Skipped, "m")
	require.True(t, res.RunDone)
	list, err := s.NodeList(ctx, "r")
	require.NoError(t, err)
	for _, n := range list[1:] {
		require.Equal(t, run.NodeSkipped, n.State, n.Name)
	}
}
