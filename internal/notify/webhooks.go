package notify

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/cost"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// WebhookStore is what webhooks read and write of the store: a failed table's owner, and a
// record of every delivery attempt.
type WebhookStore interface {
	TableGet(ctx context.Context, name string) (*store.TableRecord, error)
	store.DeliveryRecorder
}

// Webhooks posts run and table events to HTTP endpoints, signed and retried by the export
// callbacks' client (internal/callback), every attempt recorded in the store. It implements the
// scheduler's Notifier, StartNotifier and FailureNotifier.
//
// Deliveries run in the background so that a slow receiver never holds up the scheduler, each
// bounded by Timeout; a process that stops takes its deliveries in flight with it (their
// attempts so far are recorded). Delivery ids are derived from the event (run, table, attempt),
// so a repeated notification carries the same id and receivers drop it as a duplicate.
type Webhooks struct {
	client  *callback.Client
	targets []spec.Webhook
	resolve func(ctx context.Context, ref string) (string, error)
	st      WebhookStore
	log     *zap.Logger
	timeout time.Duration
	now     func() time.Time
	jumps   func(ctx context.Context, r *run.Run, nodes []*run.Node) ([]cost.Anomaly, error)

	wg sync.WaitGroup
}

// WebhooksConfig configures Webhooks.
type WebhooksConfig struct {
	// Resolve turns a webhook's secret reference into its key, at each delivery.
	Resolve func(ctx context.Context, ref string) (string, error)
	// Timeout bounds one delivery, retries included. Defaults to 10 minutes.
	Timeout time.Duration
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
	// CostJumps finds a finished run's tables whose cost jumped (cost.Anomalies); nil: no
	// table.cost_jump events.
	CostJumps func(ctx context.Context, r *run.Run, nodes []*run.Node) ([]cost.Anomaly, error)
}

// NewWebhooks returns webhooks posting to targets through client.
func NewWebhooks(client *callback.Client, targets []spec.Webhook, st WebhookStore, log *zap.Logger, cfg WebhooksConfig) *Webhooks {
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Webhooks{client: client, targets: targets, resolve: cfg.Resolve, st: st, log: log, timeout: cfg.Timeout, now: cfg.Now,
		jumps: cfg.CostJumps}
}

// Wait waits for the deliveries in flight (tests, and a clean shutdown).
func (w *Webhooks) Wait() { w.wg.Wait() }

// RunStarted posts run.started.
func (w *Webhooks) RunStarted(ctx context.Context, r *run.Run) {
	w.post(ctx, callback.Payload{ID: deliveryID(r.ID, "", 0, callback.EventRunStarted), Event: callback.EventRunStarted,
		RunID: r.ID, Run: runInfo(r, nil), Time: r.CreatedAt})
}

// RunFinished posts run.finished when every node succeeded, else run.failed.
func (w *Webhooks) RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node) {
	event := callback.EventRunFinished
	if r.State != run.RunSucceeded {
		event = callback.EventRunFailed
	}
	at := r.FinishedAt
	if at.IsZero() {
		at = w.now()
	}
	w.post(ctx, callback.Payload{ID: deliveryID(r.ID, "", 0, event), Event: event, RunID: r.ID, Run: runInfo(r, nodes), Time: at})
	if w.jumps == nil || !w.wants(callback.EventTableCostJump) {
		return
	}
	jumps, err := w.jumps(ctx, r, nodes)
	if err != nil {
		w.log.Warn("checking costs for jumps failed", zap.String("run_id", r.ID), zap.Error(err))
	}
	for _, j := range jumps {
		w.post(ctx, callback.Payload{ID: deliveryID(r.ID, j.Table, 0, callback.EventTableCostJump), Event: callback.EventTableCostJump,
			RunID: r.ID, Table: j.Table, Run: runInfo(r, nil), Cost: &callback.CostInfo{USD: j.USD, MedianUSD: j.MedianUSD, Runs: j.Runs}, Time: at})
	}
}

// wants reports whether a target takes event.
func (w *Webhooks) wants(event string) bool {
	return slices.ContainsFunc(w.targets, func(t spec.Webhook) bool { return len(t.Events) == 0 || slices.Contains(t.Events, event) })
}

// NodeFailed posts table.failed for a table that failed for good.
func (w *Webhooks) NodeFailed(ctx context.Context, r *run.Run, n *run.Node) {
	info := &callback.NodeInfo{Attempt: n.Attempt, MaxAttempts: n.MaxAttempts, JobID: n.JobID, Error: excerpt(n.Error, 4000)}
	if rec, err := w.st.TableGet(ctx, n.Name); err == nil {
		info.Owner = rec.Table.Owner
	}
	at := n.FinishedAt
	if at.IsZero() {
		at = w.now()
	}
	w.post(ctx, callback.Payload{ID: deliveryID(r.ID, n.Name, n.Attempt, callback.EventTableFailed), Event: callback.EventTableFailed,
		RunID: r.ID, Table: n.Name, Run: runInfo(r, nil), Node: info, Time: at})
}

// post sends p, in the background, to every target that takes its event.
func (w *Webhooks) post(ctx context.Context, p callback.Payload) {
	for _, t := range w.targets {
		if len(t.Events) > 0 && !slices.Contains(t.Events, p.Event) {
			continue
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			// Not the caller's context: the scheduler's handler returns long before retries end.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.timeout)
			defer cancel()
			log := w.log.With(zap.String("run_id", p.RunID), zap.String("event", p.Event), zap.String("delivery", p.ID))
			key, err := w.resolve(ctx, t.SecretRef)
			if err != nil {
				log.Error("webhook not sent: its secret does not resolve", zap.Error(err))
				return
			}
			err = w.client.Send(ctx, callback.Target{URL: t.URL, Secret: []byte(key), Recorder: store.AttemptRecorder(w.st)}, p)
			if err != nil {
				log.Warn("webhook delivery failed", zap.Error(err))
				return
			}
			log.Debug("webhook delivered")
		}()
	}
}

// deliveryID is the same for every notification of one event, so receivers drop repeats.
func deliveryID(runID, table string, attempt int, event string) string {
	id := "maestro_" + runID
	if table != "" {
		id += "_" + strings.ReplaceAll(table, ".", "-")
	}
	if attempt > 0 {
		id += fmt.Sprintf("_a%d", attempt)
	}
	return id + "_" + event
}

func runInfo(r *run.Run, nodes []*run.Node) *callback.RunInfo {
	info := &callback.RunInfo{State: string(r.State), Schedule: r.Schedule, Trigger: string(r.Trigger), ResumedFrom: r.ResumedFrom,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt,
		BytesBilled: r.Stats.BytesBilled, SlotMillis: r.Stats.SlotMillis}
	if len(r.Counts) > 0 {
		info.Counts = map[string]int{}
		for state, n := range r.Counts {
			info.Counts[string(state)] = n
		}
	}
	for _, n := range nodes {
		if n.State == run.NodeFailed {
			info.Failed = append(info.Failed, n.Name)
		}
	}
	sort.Strings(info.Failed)
	return info
}

// Notifiers tells each of its notifiers what the scheduler tells it, each only what it hears.
type Notifiers []interface {
	RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node)
}

// RunFinished tells every notifier.
func (ns Notifiers) RunFinished(ctx context.Context, r *run.Run, nodes []*run.Node) {
	for _, n := range ns {
		n.RunFinished(ctx, r, nodes)
	}
}

// RunStarted tells the notifiers that hear of starts.
func (ns Notifiers) RunStarted(ctx context.Context, r *run.Run) {
	for _, n := range ns {
		if s, ok := n.(interface {
			RunStarted(context.Context, *run.Run)
		}); ok {
			s.RunStarted(ctx, r)
		}
	}
}

// NodeFailed tells the notifiers that hear of failures as they happen.
func (ns Notifiers) NodeFailed(ctx context.Context, r *run.Run, node *run.Node) {
	for _, n := range ns {
		if f, ok := n.(interface {
			NodeFailed(context.Context, *run.Run, *run.Node)
		}); ok {
			f.NodeFailed(ctx, r, node)
		}
	}
}
