package notify_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/notify"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

func TestFailureMessagesCarryButtons(t *testing.T) {
	t.Parallel()
	h := newHarness(t, notify.Config{Channel: "#data"}, orders)
	r := &run.Run{ID: "r1", State: run.RunFailed}
	h.n.RunFinished(t.Context(), r, []*run.Node{failedNode("r1", "sales.orders", "boom")})
	posts := h.slack.Posts()
	require.Len(t, posts, 2, "the failure and the run's summary")
	for _, id := range []string{notify.ActionRerun, notify.ActionRerunDownstream, notify.ActionResume, notify.ActionMute} {
		require.Contains(t, posts[0].BlocksJSON, `"action_id":"`+id+`"`, "the failure offers %s", id)
	}
	require.Contains(t, posts[0].BlocksJSON, `"value":"sales.orders|r1"`)
	require.Contains(t, posts[1].BlocksJSON, `"action_id":"`+notify.ActionResume+`"`, "a failed run's summary offers to resume it")
	require.Contains(t, posts[1].BlocksJSON, `"value":"|r1"`)
	table, runID, ok := notify.ParseActionValue("sales.orders|r1")
	require.True(t, ok)
	require.Equal(t, []string{"sales.orders", "r1"}, []string{table, runID})
	_, _, ok = notify.ParseActionValue("sales.orders")
	require.False(t, ok, "a value no button makes")
}

func TestMutedTableIsNotAlertedUntilTheMuteEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t, notify.Config{Channel: "#data"}, orders)
	ctx := t.Context()
	require.NoError(t, h.st.MutePut(ctx, &store.Mute{Table: "sales.orders", Until: h.now.Add(24 * time.Hour), By: "slack:UANA (ana@acme.test)", CreatedAt: h.now}))
	h.n.NodeFailed(ctx, &run.Run{ID: "r1"}, failedNode("r1", "sales.orders", "boom"))
	require.Empty(t, h.slack.Posts(), "muted: no alert")

	h.now = h.now.Add(25 * time.Hour)
	h.n.NodeFailed(ctx, &run.Run{ID: "r2"}, failedNode("r2", "sales.orders", "boom"))
	posts := h.slack.Posts()
	require.Len(t, posts, 1, "the mute ended: alerted again")
	require.Empty(t, posts[0].ThreadTS, "the muted failure started no thread")
}
