package sheets

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/api/googleapi"
)

// retryable says whether a failed call may succeed if made again: Sheets' rate limit (429), its
// server errors (5xx), and transport failures where no answer came back.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code == http.StatusTooManyRequests || gerr.Code >= 500
	}
	return true
}

// retryAfter reads a Retry-After header (seconds or an HTTP date) off an API error.
func retryAfter(err error, now time.Time) (time.Duration, bool) {
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		return 0, false
	}
	v := gerr.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// call runs fn until it succeeds, fails for good, or MaxAttempts is spent, waiting between
// attempts as the server asks (Retry-After) or with capped exponential backoff and jitter.
// fn learns its attempt number (from 1) so calls that change state can check whether an
// earlier attempt whose answer was lost took effect.
func (e *Exporter) call(ctx context.Context, fn func(ctx context.Context, attempt int) error) error {
	backoff := e.cfg.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := fn(ctx, attempt)
		if err == nil || !retryable(err) || attempt >= e.cfg.MaxAttempts {
			return err
		}
		wait, ok := retryAfter(err, time.Now())
		if !ok {
			// Full jitter in [backoff/2, backoff] spreads out workers that hit the quota together.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, e.cfg.MaxBackoff)
		}
		if err := e.cfg.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
