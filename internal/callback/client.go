package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"
)

// Target is where a callback goes.
type Target struct {
	// Name identifies the target in attempt records (e.g. "orders-export/callback"); the URL is
	// used when it is empty.
	Name string
	// URL receives the POST; http or https only.
	URL string
	// Secret keys the signature. Required: every callback is signed.
	Secret []byte
	// Recorder, when set, is told about every attempt of this send too, after Config.Recorder:
	// a caller that knows more about the delivery (where it is kept, for whom) records it.
	Recorder Recorder
}

func (t Target) recordName(u *url.URL) string {
	if t.Name != "" {
		return t.Name
	}
	// The query string may carry a receiver's token; keep it out of records.
	return u.Scheme + "://" + u.Host + u.Path
}

// Attempt is one try at delivering a callback.
type Attempt struct {
	DeliveryID string // Payload.ID
	Target     string // Target.Name, or the URL without its query
	// URL is the target's URL without its query string or fragment, which may carry a
	// receiver's token.
	URL      string
	Event    string // Payload.Event
	RunID    string // Payload.RunID
	Table    string // Payload.Table
	Number   int    // 1 for the first try
	Started  time.Time
	Duration time.Duration
	// StatusCode is the HTTP status answered; 0 when no response arrived (see Err).
	StatusCode int
	// Err is why the attempt failed (network error, refused address, non-2xx status); nil on success.
	Err error
}

// Recorder keeps delivery attempts, e.g. in the store so a user can see why a callback failed.
// RecordAttempt is called once per attempt, after it ends, from the goroutine calling Send. An
// error from it does not stop delivery; Send returns it (joined) once delivery is over.
type Recorder interface {
	RecordAttempt(ctx context.Context, a Attempt) error
}

// RecorderFunc adapts a function to a Recorder.
type RecorderFunc func(ctx context.Context, a Attempt) error

// RecordAttempt calls f.
func (f RecorderFunc) RecordAttempt(ctx context.Context, a Attempt) error { return f(ctx, a) }

// Config configures a Client. The zero value is usable: it refuses loopback and private addresses
// and records nothing.
type Config struct {
	// AttemptTimeout bounds one attempt (connect, send, wait for the response headers, read the
	// body). Defaults to 10s.
	AttemptTimeout time.Duration
	// MaxAttempts bounds the tries per callback, the first included. Defaults to 5.
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt; each later wait doubles, with
	// jitter, up to MaxBackoff. Defaults to 1s.
	InitialBackoff time.Duration
	// MaxBackoff caps a wait between attempts, including one asked for by Retry-After; a
	// receiver asking for longer is given up on. Defaults to 5m.
	MaxBackoff time.Duration
	// Allow lists address ranges a callback may reach even though they are refused by default
	// (loopback, private, link-local, ...), e.g. 127.0.0.0/8 for tests or a receiver in the
	// same VPC. Defaults to none.
	Allow []netip.Prefix
	// Recorder is told about every attempt. Defaults to recording nothing.
	Recorder Recorder
	// UserAgent is sent with every request. Defaults to "Maestro-Callback/1".
	UserAgent string

	// Resolver resolves callback hosts. Defaults to net.DefaultResolver.
	Resolver Resolver
	// Dial connects to an address that has passed the address check. Defaults to a net.Dialer
	// that checks the address again just before the socket connects.
	Dial DialFunc
	// Now is the clock used to sign and to time attempts. Defaults to time.Now.
	Now func() time.Time
	// Sleep waits between attempts, returning early with ctx's error. Defaults to a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (c Config) withDefaults() Config {
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 10 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = c.InitialBackoff
	}
	if c.Recorder == nil {
		c.Recorder = RecorderFunc(func(context.Context, Attempt) error { return nil })
	}
	if c.UserAgent == "" {
		c.UserAgent = "Maestro-Callback/1"
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	return c
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

// Client sends callbacks. It is safe for concurrent use.
type Client struct {
	cfg    Config
	policy addressPolicy
	http   *http.Client
}

// New returns a Client.
func New(cfg Config) *Client {
	cfg = cfg.withDefaults()
	policy := addressPolicy{allow: cfg.Allow}
	dial := cfg.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: cfg.AttemptTimeout, Control: policy.socketControl}).DialContext
	}
	transport := &http.Transport{
		// No proxy: through a proxy the address check would see the proxy, not the receiver.
		Proxy:               nil,
		DialContext:         guardedDialer{policy: policy, resolver: cfg.Resolver, dial: dial}.DialContext,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: cfg.AttemptTimeout,
		MaxIdleConns:        16,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{
		cfg:    cfg,
		policy: policy,
		http: &http.Client{
			Transport: transport,
			// A redirect would turn the POST into a GET to a place the user never configured.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// CheckURL reports whether raw could be used as a callback URL, resolving its host now. Use it to
// reject a bad URL when it is saved; Send checks again on every connection.
func (c *Client) CheckURL(ctx context.Context, raw string) error {
	u, err := c.policy.checkURL(raw)
	if err != nil {
		return err
	}
	if _, err := netip.ParseAddr(u.Hostname()); err == nil {
		return nil
	}
	addrs, err := c.cfg.Resolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return fmt.Errorf("error resolving callback host %q: %w", u.Hostname(), err)
	}
	for _, addr := range addrs {
		if err := c.policy.check(u.Hostname(), addr); err != nil {
			return err
		}
	}
	return nil
}

// StatusError is a non-2xx answer from a receiver.
type StatusError struct {
	StatusCode int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("callback answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// Send delivers p to target, retrying as the package documentation describes, and returns nil
// once a receiver answered 2xx. The error says why delivery stopped: the last attempt's error,
// ctx's error, or a refused URL (errors.Is ErrRefusedAddress), which is never retried.
func (c *Client) Send(ctx context.Context, target Target, p Payload) error {
	u, err := c.policy.checkURL(target.URL)
	if err != nil {
		return err
	}
	if len(target.Secret) == 0 {
		return fmt.Errorf("error sending callback to %s: the target has no secret", target.recordName(u))
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("error encoding callback payload: %w", err)
	}
	var recordErrs []error
	for number := 1; ; number++ {
		started := c.cfg.Now()
		status, wait, retry, err := c.attempt(ctx, u, target.Secret, p, body, number)
		a := Attempt{
			DeliveryID: p.ID,
			Target:     target.recordName(u),
			URL:        u.Scheme + "://" + u.Host + u.Path,
			Event:      p.Event,
			RunID:      p.RunID,
			Table:      p.Table,
			Number:     number,
			Started:    started,
			Duration:   c.cfg.Now().Sub(started),
			StatusCode: status,
			Err:        err,
		}
		recErr := c.cfg.Recorder.RecordAttempt(ctx, a)
		if target.Recorder != nil {
			recErr = errors.Join(recErr, target.Recorder.RecordAttempt(ctx, a))
		}
		if recErr != nil {
			recordErrs = append(recordErrs, fmt.Errorf("error recording callback attempt %d: %w", number, recErr))
		}
		if err == nil {
			return errors.Join(recordErrs...)
		}
		err = fmt.Errorf("error sending callback %s to %s (attempt %d of %d): %w",
			p.ID, target.recordName(u), number, c.cfg.MaxAttempts, err)
		if !retry || number >= c.cfg.MaxAttempts || ctx.Err() != nil {
			return errors.Join(append([]error{err}, recordErrs...)...)
		}
		if wait <= 0 {
			wait = c.backoff(number)
		}
		if wait > c.cfg.MaxBackoff {
			return errors.Join(append([]error{fmt.Errorf("%w; the receiver asked to wait %s, longer than %s",
				err, wait, c.cfg.MaxBackoff)}, recordErrs...)...)
		}
		if deadline, ok := ctx.Deadline(); ok && c.cfg.Now().Add(wait).After(deadline) {
			return errors.Join(append([]error{fmt.Errorf("%w; no time left to wait %s for another attempt",
				err, wait)}, recordErrs...)...)
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return errors.Join(append([]error{err}, recordErrs...)...)
		}
	}
}

// backoff is the wait after attempt number n: InitialBackoff doubled n-1 times, capped, then
// drawn from its upper half so receivers failing together are not retried in lockstep.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.InitialBackoff
	for i := 1; i < n && d < c.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// attempt makes one request. wait > 0 is the receiver's Retry-After.
func (c *Client) attempt(ctx context.Context, u *url.URL, secret []byte, p Payload, body []byte, number int) (status int, wait time.Duration, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, 0, false, fmt.Errorf("error building callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	req.Header.Set("Maestro-Delivery", p.ID)
	req.Header.Set("Maestro-Event", p.Event)
	req.Header.Set("Maestro-Attempt", strconv.Itoa(number))
	// Signed per attempt so a late retry is not rejected as stale.
	req.Header.Set(SignatureHeader, Sign(secret, c.cfg.Now(), body))
	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error quotes the whole URL, whose query may hold the receiver's token; errors
		// end up in attempt records and node errors.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = u.Scheme + "://" + u.Host + u.Path
		}
		return 0, 0, !errors.Is(err, ErrRefusedAddress), err
	}
	// Drain a little so the connection can be reused; a receiver's chatter beyond that is ignored.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, 0, false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), c.cfg.Now()), true,
			&StatusError{StatusCode: resp.StatusCode}
	default:
		return resp.StatusCode, 0, false, &StatusError{StatusCode: resp.StatusCode}
	}
}

// retryAfter parses a Retry-After value: seconds or an HTTP date. Zero when absent or unusable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
