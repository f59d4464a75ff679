// Package notify tells people what happened: a Slack message when a table fails (its owner
// mentioned, repeated failures threaded under the first), a summary when a run finishes, and an
// alert when a table's cost jumps. Slack implements the scheduler's Notifier.
package notify

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/run"
	"github.com/maestro-sql/maestro/internal/spec"
	"github.com/maestro-sql/maestro/internal/store"
)

// Store is what the notifier reads and writes of the store.
type Store interface {
	TableGet(ctx context.Context, name string) (*store.TableRecord, error)
	TableList(ctx context.Context) ([]*store.TableRecord, error)
	RunList(ctx context.Context, p *store.RunListParams) ([]*run.Run, error)
	NodeList(ctx context.Context, runID string) ([]*run.Node, error)
	NotifyThreadClaim(ctx context.Context, p *store.NotifyThreadClaimParams) (*store.NotifyThread, error)
	NotifyThreadSetTS(ctx context.Context, table, channel, ts string) error
	NotifyThreadList(ctx context.Context) ([]*store.NotifyThread, error)
	NotifyThreadDelete(ctx context.Context, table, channel string) error
	MuteGet(ctx context.Context, table string) (*store.Mute, error)
}

// muted reports whether a table's alerts are muted now (a Slack button or PUT /mutes/{table}).
// A mute that cannot be read does not silence anything.
func (n *Slack) muted(ctx context.Context, table string, log *zap.Logger) bool {
	m, err := n.st.MuteGet(ctx, table)
	switch {
	case err == nil:
		if m.Active(n.cfg.Now()) {
			log.Info("table alerts muted; not telling slack", zap.Time("muted_until", m.Until), zap.String("muted_by", m.By))
			return true
		}
	case !errors.Is(err, store.ErrNotFound):
		log.Warn("reading the table's mute failed; telling slack anyway", zap.Error(err))
	}
	return false
}

// Config configures Slack.
type Config struct {
	// Channel receives whatever no route claims. Empty: only routed messages are sent.
	Channel string
	// Routes send tables' messages to other channels (spec.Notify.Routes).
	Routes []spec.NotifyRoute
	// Pricing prices run summaries and enables cost alerts.
	Pricing spec.Pricing
	// UIURL is the base URL of Maestro's UI; messages link to {UIURL}/tables/{name} and
	// {UIURL}/runs/{id}. Empty: no links.
	UIURL string
	// ErrorExcerpt bounds the error text quoted in a failure message, in characters.
	// Defaults to 600.
	ErrorExcerpt int
	// OwnerTTL is how long an owner's Slack user (or its absence) is remembered. Defaults to 1h.
	OwnerTTL time.Duration
	// RateLimitRetries is how often a call Slack answers 429 is tried again, after waiting
	// as its Retry-After says. Defaults to 5.
	RateLimitRetries int
	// Timeout bounds each notification, including its waits on 429. It does not follow the
	// caller's cancellation, so that a run finishing as the process stops is still told.
	// Defaults to 2 minutes.
	Timeout time.Duration
	// Now and Sleep are the clock. Default to time.Now and a timer.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Slack posts to Slack through its Web API (chat.postMessage, users.lookupByEmail). It is safe
// for concurrent use.
type Slack struct {
	api *slack.Client
	st  Store
	log *zap.Logger
	cfg Config

	mu     sync.Mutex
	owners map[string]owner // email -> Slack user
}

type owner struct {
	id      string // empty: no Slack user has this email
	expires time.Time
}

// NewSlack returns a notifier posting through api.
func NewSlack(api *slack.Client, st Store, log *zap.Logger, cfg Config) *Slack {
	if cfg.ErrorExcerpt <= 0 {
		cfg.ErrorExcerpt = 600
	}
	if cfg.OwnerTTL <= 0 {
		cfg.OwnerTTL = time.Hour
	}
	if cfg.RateLimitRetries <= 0 {
		cfg.RateLimitRetries = 5
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	cfg.UIURL = strings.TrimRight(cfg.UIURL, "/")
	return &Slack{api: api, st: st, log: log, cfg: cfg, owners: map[string]owner{}}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// detach keeps a notification going after its caller's context ends (the run's outcome is
// already in the store; only telling it remains), within the configured timeout.
func (n *Slack) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), n.cfg.Timeout)
}

// route returns the channel of a table's messages in a run of schedule, or "".
func (n *Slack) route(t *spec.Table, name, schedule string) string {
	for _, r := range n.cfg.Routes {
		if matches(r, t, name, schedule) {
			return r.SlackChannel
		}
	}
	return n.cfg.Channel
}

func matches(r spec.NotifyRoute, t *spec.Table, name, schedule string) bool {
	if len(r.Tables) > 0 {
		found := false
		for _, pat := range r.Tables {
			if ok, _ := path.Match(pat, name); ok {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if r.Group != "" && (t == nil || t.Group != r.Group) {
		return false
	}
	return r.Schedule == "" || r.Schedule == schedule
}

// summaryChannel is where a run's summary goes: the first route that names only the run's
// schedule, else the default channel.
func (n *Slack) summaryChannel(r *run.Run) string {
	for _, rt := range n.cfg.Routes {
		if rt.Schedule != "" && rt.Schedule == r.Schedule && len(rt.Tables) == 0 && rt.Group == "" {
			return rt.SlackChannel
		}
	}
	return n.cfg.Channel
}

// post sends a message, waiting out rate limits as Slack's Retry-After asks.
func (n *Slack) post(ctx context.Context, channel string, opts ...slack.MsgOption) (string, error) {
	var ts string
	err := n.retry(ctx, func() error {
		var err error
		_, ts, err = n.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	return ts, err
}

func (n *Slack) retry(ctx context.Context, call func() error) error {
	for attempt := 0; ; attempt++ {
		err := call()
		var limited *slack.RateLimitedError
		if !errors.As(err, &limited) || attempt >= n.cfg.RateLimitRetries {
			return err
		}
		wait := limited.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		n.log.Warn("slack rate limit; waiting", zap.Duration("retry_after", wait))
		if err := n.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// mention returns how a message names an owner: <@U123> when the email is a Slack user's,
// else the email itself. Answers are cached for OwnerTTL, a missing user too.
func (n *Slack) mention(ctx context.Context, email string) string {
	if email == "" {
		return "no owner"
	}
	now := n.cfg.Now()
	n.mu.Lock()
	o, ok := n.owners[email]
	n.mu.Unlock()
	if !ok || now.After(o.expires) {
		var u *slack.User
		err := n.retry(ctx, func() error {
			var err error
			u, err = n.api.GetUserByEmailContext(ctx, email)
			return err
		})
		switch {
		case err == nil:
			o = owner{id: u.ID, expires: now.Add(n.cfg.OwnerTTL)}
		case isUserNotFound(err):
			o = owner{expires: now.Add(n.cfg.OwnerTTL)}
		default:
			// Not remembered: the next message asks again.
			n.log.Warn("looking up a table owner in slack failed", zap.String("owner", email), zap.Error(err))
			return escape(email)
		}
		n.mu.Lock()
		n.owners[email] = o
		n.mu.Unlock()
	}
	if o.id == "" {
		return escape(email)
	}
	return "<@" + o.id + ">"
}

func isUserNotFound(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err == "users_not_found"
	}
	return strings.Contains(err.Error(), "users_not_found")
}

// escape makes text safe in Slack mrkdwn: &, < and > are control characters there.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// excerpt cuts s to at most max characters, marking the cut.
func excerpt(s string, max int) string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max]) + "… (" + fmt.Sprint(len(r)-max) + " more characters)"
}

func (n *Slack) link(p, label string) string {
	if n.cfg.UIURL == "" {
		return escape(label)
	}
	return "<" + n.cfg.UIURL + p + "|" + escape(label) + ">"
}

func (n *Slack) tableLink(name string) string { return n.link("/tables/"+name, name) }
func (n *Slack) runLink(id string) string     { return n.link("/runs/"+id, id) }

func mrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

func plain(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, text, true, false)
}
