package scheduler

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/store"
)

// DeadLetterStore is what reporting a dead-lettered message reads: whether its run and node
// exist, to say why nothing could handle it.
type DeadLetterStore interface {
	RunGet(ctx context.Context, id string) (*run.Run, error)
	NodeGet(ctx context.Context, runID, name string) (*run.Node, error)
}

// DeadLetter is one message that reached a dead-letter topic.
type DeadLetter struct {
	// Subscription is the dead-letter subscription it was received from.
	Subscription string    `json:"subscription"`
	MessageID    string    `json:"message_id"`
	Reason       string    `json:"reason"`
	RunID        string    `json:"run_id,omitempty"`
	Node         string    `json:"node,omitempty"`
	At           time.Time `json:"at"`
}

// DeadLetterReport counts the dead-lettered messages reported since the process started, by
// subscription, with the latest ones.
type DeadLetterReport struct {
	Counts map[string]int `json:"counts"`
	Recent []DeadLetter   `json:"recent"`
}

// maxRecentDeadLetters bounds the messages a report lists.
const maxRecentDeadLetters = 50

// DeadLetters reports the messages of the dead-letter subscriptions: the tasks and completions
// Pub/Sub gave up on after the subscription's max deliveries (poison messages: malformed, or
// naming a run or node that does not exist). Each is logged at error level with its message id
// and why, counted, and acked: the log is the lasting record.
type DeadLetters struct {
	st  DeadLetterStore
	log *zap.Logger
	now func() time.Time

	mu     sync.Mutex
	counts map[string]int
	recent []DeadLetter
}

// NewDeadLetters returns a reporter reading st.
func NewDeadLetters(st DeadLetterStore, log *zap.Logger) *DeadLetters {
	return &DeadLetters{st: st, log: log, now: time.Now, counts: map[string]int{}}
}

// Handler is the handler of the dead-letter subscription named subscription, whose messages are
// tasks (completions false) or completions.
func (d *DeadLetters) Handler(subscription string, completions bool) queue.Handler {
	return func(ctx context.Context, m *queue.Message) error {
		dl := DeadLetter{Subscription: subscription, MessageID: m.ID, At: d.now()}
		var err error
		if completions {
			var c run.Completion
			if c, err = run.DecodeCompletion(m.Data); err == nil {
				dl.RunID, dl.Node = c.RunID, c.Node
			}
		} else {
			var t run.Task
			if t, err = run.DecodeTask(m.Data); err == nil {
				dl.RunID, dl.Node = t.RunID, t.Node
			}
		}
		switch {
		case err != nil:
			dl.Reason = "malformed: " + err.Error()
		default:
			dl.Reason = d.why(ctx, dl.RunID, dl.Node)
		}
		d.mu.Lock()
		d.counts[subscription]++
		d.recent = append(d.recent, dl)
		if len(d.recent) > maxRecentDeadLetters {
			d.recent = d.recent[len(d.recent)-maxRecentDeadLetters:]
		}
		total := d.counts[subscription]
		d.mu.Unlock()
		d.log.Error("dead-lettered message", zap.String("subscription", subscription), zap.String("message_id", m.ID),
			zap.String("reason", dl.Reason), zap.String("run_id", dl.RunID), zap.String("node", dl.Node),
			zap.Int("dead_letters_total", total))
		return nil
	}
}

// why says why a well-formed message could not be handled.
func (d *DeadLetters) why(ctx context.Context, runID, node string) string {
	if _, err := d.st.RunGet(ctx, runID); errors.Is(err, store.ErrNotFound) {
		return "unknown run"
	} else if err != nil {
		return "not handled within the subscription's deliveries (the run could not be read: " + err.Error() + ")"
	}
	if _, err := d.st.NodeGet(ctx, runID, node); errors.Is(err, store.ErrNotFound) {
		return "unknown node"
	}
	return "not handled within the subscription's deliveries"
}

// Report returns the counts and latest dead-lettered messages.
func (d *DeadLetters) Report() DeadLetterReport {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := DeadLetterReport{Counts: map[string]int{}, Recent: append([]DeadLetter{}, d.recent...)}
	for k, v := range d.counts {
		r.Counts[k] = v
	}
	return r
}
