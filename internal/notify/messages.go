package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// maxListed bounds the failed tables a summary names.
const maxListed = 10

// NodeFailed tells the table's channel that a node failed for good (its last attempt). Each
// failure is told once however often this is called (the store claims it); a table that failed
// in an earlier run and has not succeeded since gets a reply in that failure's thread.
func (n *Slack) NodeFailed(ctx context.Context, r *run.Run, node *run.Node) {
	ctx, cancel := n.detach(ctx)
	defer cancel()
	log := n.log.With(zap.String("run_id", r.ID), zap.String("node", node.Name), zap.String("job_id", node.JobID))
	if n.muted(ctx, node.Name, log) {
		return
	}
	var t *spec.Table
	rec, err := n.st.TableGet(ctx, node.Name)
	switch {
	case err == nil:
		t = &rec.Table
	case !errors.Is(err, store.ErrNotFound):
		log.Warn("loading the failed table's owner failed; telling without it", zap.Error(err))
	}
	channel := n.route(t, node.Name, r.Schedule)
	if channel == "" {
		log.Info("no slack channel for this table's failure (notify.slack_channel or a route)")
		return
	}
	thread, err := n.st.NotifyThreadClaim(ctx, &store.NotifyThreadClaimParams{
		Table: node.Name, Channel: channel, RunID: r.ID, Now: n.cfg.Now()})
	if errors.Is(err, store.ErrConflict) {
		return // told already
	}
	claimed := err == nil
	if !claimed {
		// Better told twice than not at all: post without a thread.
		log.Warn("claiming the failure notification failed; posting it anyway", zap.Error(err))
		thread = &store.NotifyThread{}
	}
	ownerEmail := ""
	if t != nil {
		ownerEmail = t.Owner
	}
	who := n.mention(ctx, ownerEmail)
	attempts := fmt.Sprintf("%d of %d", node.Attempt, max(node.MaxAttempts, node.Attempt))
	errText := excerpt(node.Error, n.cfg.ErrorExcerpt)
	if errText == "" {
		errText = "(no error message)"
	}
	title := fmt.Sprintf("%s failed", node.Name)
	if thread.TS != "" {
		title = fmt.Sprintf("%s failed again", node.Name)
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(":red_circle: " + title)),
		slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("*Table*\n" + n.tableLink(node.Name)),
			mrkdwn("*Owner*\n" + who),
			mrkdwn("*Attempt*\n" + attempts),
			mrkdwn("*Run*\n" + n.runLink(r.ID)),
		}, nil),
		slack.NewSectionBlock(mrkdwn("```"+strings.ReplaceAll(escape(errText), "```", "'''")+"```"), nil, nil),
	}
	var ctxParts []string
	if r.Schedule != "" {
		ctxParts = append(ctxParts, "schedule "+escape(r.Schedule))
	}
	if node.JobID != "" {
		ctxParts = append(ctxParts, "job "+escape(node.JobID))
	}
	if len(ctxParts) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn(strings.Join(ctxParts, " · "))))
	}
	blocks = append(blocks, failureActions(node.Name, r.ID))
	// The text is what notifications and screen readers show; the mention in it pings the owner.
	text := fmt.Sprintf("%s failed in run %s (attempt %s), owner %s: %s", node.Name, r.ID, attempts, who, excerpt(errText, 150))
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	if thread.TS != "" {
		opts = append(opts, slack.MsgOptionTS(thread.TS))
	}
	ts, err := n.post(ctx, channel, opts...)
	if err != nil {
		log.Error("telling slack about a failed table failed", zap.String("channel", channel), zap.Error(err))
		return
	}
	if claimed && thread.TS == "" {
		if err := n.st.NotifyThreadSetTS(ctx, node.Name, channel, ts); err != nil {
			log.Warn("recording the failure's slack thread failed; the next failure starts another", zap.Error(err))
		}
	}
}

// RunFinished tells any failure not told yet (its completion may have been lost), closes the
// threads of tables that succeeded, posts the run's summary and alerts on cost jumps. The
// scheduler calls it once per run (finishing is a compare-and-set).
func (n *Slack) RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node) {
	ctx, cancel := n.detach(ctx)
	defer cancel()
	log := n.log.With(zap.String("run_id", r.ID))
	succeeded := map[string]bool{}
	var failed []*run.Node
	for _, node := range nodes {
		switch node.State {
		case run.NodeFailed:
			failed = append(failed, node)
			n.NodeFailed(ctx, r, node)
		case run.NodeSucceeded:
			succeeded[node.Name] = true
		}
	}
	if threads, err := n.st.NotifyThreadList(ctx); err != nil {
		log.Warn("listing slack threads failed; tables that recovered keep theirs", zap.Error(err))
	} else {
		for _, th := range threads {
			if succeeded[th.Table] {
				if err := n.st.NotifyThreadDelete(ctx, th.Table, th.Channel); err != nil {
					log.Warn("closing a slack thread failed", zap.String("node", th.Table), zap.Error(err))
				}
			}
		}
	}
	if channel := n.summaryChannel(r); channel != "" {
		if _, err := n.post(ctx, channel, n.summary(r, nodes, failed)...); err != nil {
			log.Error("posting the run summary to slack failed", zap.String("channel", channel), zap.Error(err))
		}
	}
	anomalies, err := cost.Anomalies(ctx, n.st, n.cfg.Pricing, r, nodes)
	if err != nil {
		log.Warn("checking costs for jumps failed", zap.Error(err))
	}
	for _, a := range anomalies {
		n.costAlert(ctx, r, a)
	}
}

func (n *Slack) summary(r *run.Run, nodes []*run.Node, failed []*run.Node) []slack.MsgOption {
	counts := map[run.NodeState]int{}
	for _, node := range nodes {
		counts[node.State]++
	}
	icon := map[run.RunState]string{run.RunSucceeded: ":large_green_circle:", run.RunFailed: ":red_circle:", run.RunCancelled: ":white_circle:"}[r.State]
	what := "Run " + r.ID
	if r.Schedule != "" {
		what = fmt.Sprintf("Run of %s", r.Schedule)
	}
	title := fmt.Sprintf("%s %s %s", icon, what, r.State)
	var parts []string
	for _, s := range []run.NodeState{run.NodeSucceeded, run.NodeFailed, run.NodeSkipped, run.NodeCancelled} {
		if c := counts[s]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, s))
		}
	}
	duration := "unknown"
	if !r.FinishedAt.IsZero() && !r.CreatedAt.IsZero() {
		duration = r.FinishedAt.Sub(r.CreatedAt).Round(time.Second).String()
	}
	usd := cost.Format(cost.Of(n.cfg.Pricing, r.Stats))
	fields := []*slack.TextBlockObject{
		mrkdwn("*Tables*\n" + strings.Join(parts, ", ")),
		mrkdwn("*Duration*\n" + duration),
		mrkdwn("*Cost*\n" + usd),
		mrkdwn("*Run*\n" + n.runLink(r.ID)),
	}
	blocks := []slack.Block{slack.NewHeaderBlock(plain(title)), slack.NewSectionBlock(nil, fields, nil)}
	if len(failed) > 0 {
		names := make([]string, 0, len(failed))
		for _, f := range failed {
			names = append(names, f.Name)
		}
		sort.Strings(names)
		lines := make([]string, 0, maxListed+1)
		for i, name := range names {
			if i == maxListed {
				lines = append(lines, fmt.Sprintf("… and %d more", len(names)-maxListed))
				break
			}
			lines = append(lines, "• "+n.tableLink(name))
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn("*Failed*\n"+strings.Join(lines, "\n")), nil, nil))
	}
	if r.State == run.RunFailed || r.State == run.RunCancelled {
		blocks = append(blocks, summaryActions(r.ID))
	}
	text := fmt.Sprintf("%s %s: %s in %s, cost %s", what, r.State, strings.Join(parts, ", "), duration, usd)
	return []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
}

func (n *Slack) costAlert(ctx context.Context, r *run.Run, a cost.Anomaly) {
	log := n.log.With(zap.String("run_id", r.ID), zap.String("node", a.Table))
	if n.muted(ctx, a.Table, log) {
		return
	}
	var t *spec.Table
	if rec, err := n.st.TableGet(ctx, a.Table); err == nil {
		t = &rec.Table
	}
	channel := n.route(t, a.Table, r.Schedule)
	if channel == "" {
		log.Warn("table cost jumped; no slack channel to tell", zap.Float64("usd", a.USD), zap.Float64("median_usd", a.MedianUSD))
		return
	}
	who := "no owner"
	if t != nil {
		who = n.mention(ctx, t.Owner)
	}
	ratio := a.USD / a.MedianUSD
	body := fmt.Sprintf("%s cost %s in run %s, %.1f× its median of %s over its last %d successful runs. Owner: %s",
		n.tableLink(a.Table), cost.Format(a.USD, true), n.runLink(r.ID), ratio, cost.Format(a.MedianUSD, true), a.Runs, who)
	text := fmt.Sprintf("Cost jump: %s cost %s, %.1f× its median %s (owner %s)", a.Table, cost.Format(a.USD, true), ratio, cost.Format(a.MedianUSD, true), who)
	_, err := n.post(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(
		slack.NewHeaderBlock(plain(":money_with_wings: Cost jump: "+a.Table)),
		slack.NewSectionBlock(mrkdwn(body), nil, nil),
	))
	if err != nil {
		log.Error("posting a cost alert to slack failed", zap.String("channel", channel), zap.Error(err))
	}
}
