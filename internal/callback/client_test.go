package callback_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/callback"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// received is one request as the receiver saw it.
type received struct {
	method, path string
	header       http.Header
	body         []byte
}

// receiver is an httptest server answering with the scripted responses in turn (the last one
// repeats) and keeping every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
}

type response struct {
	status  int
	headers map[string]string
	block   bool // hold the request until the client gives up
}

func newReceiver(t *testing.T, responses ...response) *receiver {
	t.Helper()
	r := &receiver{}
	release := make(chan struct{})
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, received{req.Method, req.URL.RequestURI(), req.Header.Clone(), body})
		resp := responses[min(len(r.requests), len(responses))-1]
		r.mu.Unlock()
		if resp.block {
			select {
			case <-req.Context().Done():
			case <-release:
			}
			return
		}
		for k, v := range resp.headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.status)
	}))
	t.Cleanup(func() { close(release); r.Close() })
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.requests...)
}

// attempts is a Recorder that keeps what it is told.
type attempts struct {
	mu   sync.Mutex
	list []callback.Attempt
}

func (a *attempts) RecordAttempt(_ context.Context, at callback.Attempt) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, at)
	return nil
}

func (a *attempts) statuses() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s []int
	for _, at := range a.list {
		s = append(s, at.StatusCode)
	}
	return s
}

// sleeps is a Config.Sleep that returns at once and keeps the waits asked for.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

var now = time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)

func testPayload() callback.Payload {
	return callback.Payload{
		ID:    "run-42/orders/export-0",
		Event: callback.EventExportCompleted,
		RunID: "run-42",
		Table: "analytics.orders",
		Files: []callback.File{
			{URL: "https://storage.example/orders-000.csv.gz?sig=abc", ExpiresAt: now.Add(24 * time.Hour)},
			{URL: "https://storage.example/orders-001.csv.gz?sig=def"},
		},
		Schema: []callback.Column{
			{Name: "id", Type: "INT64", Mode: "REQUIRED"},
			{Name: "customer", Type: "STRING"},
			{Name: "placed_at", Type: "TIMESTAMP"},
		},
		RowCount: 1234,
		Time:     now,
	}
}

type bundle struct {
	rec    *attempts
	sleeps *sleeps
	cfg    callback.Config
}

func setup() bundle {
	b := bundle{rec: &attempts{}, sleeps: &sleeps{}}
	b.cfg = callback.Config{
		AttemptTimeout: 5 * time.Second,
		MaxAttempts:    4,
		InitialBackoff: time.Second,
		MaxBackoff:     time.Minute,
		Allow:          loopback,
		Recorder:       b.rec,
		Now:            func() time.Time { return now },
		Sleep:          b.sleeps.Sleep,
	}
	return b
}

func TestSend(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_orders")

	t.Run("PostsTheSignedPayload", func(t *testing.T) {
		t.Parallel()
		b := setup()
		r := newReceiver(t, response{status: http.StatusNoContent})
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{Name: "orders", URL: r.URL + "/hooks/maestro?token=t1", Secret: secret}, testPayload())
		require.NoError(t, err)

		reqs := r.got()
		require.Len(t, reqs, 1)
		req := reqs[0]
		require.Equal(t, http.MethodPost, req.method)
		require.Equal(t, "/hooks/maestro?token=t1", req.path)
		require.Equal(t, "application/json", req.header.Get("Content-Type"))
		require.Equal(t, "Maestro-Callback/1", req.header.Get("User-Agent"))
		require.Equal(t, "run-42/orders/export-0", req.header.Get("Maestro-Delivery"))
		require.Equal(t, "export.completed", req.header.Get("Maestro-Event"))
		require.Equal(t, "1", req.header.Get("Maestro-Attempt"))
		require.JSONEq(t, `{
			"id": "run-42/orders/export-0",
			"event": "export.completed",
			"run_id": "run-42",
			"table": "analytics.orders",
			"files": [
				{"url": "https://storage.example/orders-000.csv.gz?sig=abc", "expires_at": "2026-11-26T10:30:00Z"},
				{"url": "https://storage.example/orders-001.csv.gz?sig=def"}
			],
			"schema": [
				{"name": "id", "type": "INT64", "mode": "REQUIRED"},
				{"name": "customer", "type": "STRING"},
				{"name": "placed_at", "type": "TIMESTAMP"}
			],
			"row_count": 1234,
			"time": "2026-11-25T10:30:00Z"
		}`, string(req.body))

		sig := req.header.Get(callback.SignatureHeader)
		require.Equal(t, "t=1795602600,v1="+hmacSHA256Hex(secret, "1795602600."+string(req.body)), sig)
		require.NoError(t, callback.Verify(secret, sig, req.body, now.Add(30*time.Second), callback.DefaultTolerance))
		tampered := append([]byte(nil), req.body...)
		tampered[len(tampered)-3] ^= 0x01
		require.ErrorIs(t, callback.Verify(secret, sig, tampered, now, callback.DefaultTolerance), callback.ErrSignatureMismatch)

		require.Len(t, b.rec.list, 1)
		at := b.rec.list[0]
		require.Equal(t, callback.Attempt{DeliveryID: "run-42/orders/export-0", Target: "orders", URL: r.URL + "/hooks/maestro",
			Event: callback.EventExportCompleted, RunID: "run-42", Table: "analytics.orders", Number: 1, Started: now, StatusCode: 204}, at)
	})

	t.Run("RetriesServerErrorsWithBackoff", func(t *testing.T) {
		t.Parallel()
		b := setup()
		r := newReceiver(t, response{status: 500}, response{status: 502}, response{status: 200})
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL + "/h?token=secret", Secret: secret}, testPayload())
		require.NoError(t, err)
		require.Len(t, r.got(), 3)
		require.Equal(t, []int{500, 502, 200}, b.rec.statuses())
		for i, at := range b.rec.list {
			require.Equal(t, i+1, at.Number)
			require.Equal(t, r.URL+"/h", at.Target, "the query string stays out of records")
		}
		require.Len(t, b.sleeps.waits, 2)
		require.GreaterOrEqual(t, b.sleeps.waits[0], 500*time.Millisecond)
		require.LessOrEqual(t, b.sleeps.waits[0], time.Second)
		require.GreaterOrEqual(t, b.sleeps.waits[1], time.Second)
		require.LessOrEqual(t, b.sleeps.waits[1], 2*time.Second)
		var statusErr *callback.StatusError
		require.ErrorAs(t, b.rec.list[0].Err, &statusErr)
		require.Equal(t, 500, statusErr.StatusCode)
		// Every attempt is signed and carries its number.
		for i, req := range r.got() {
			require.Equal(t, []string{"1", "2", "3"}[i], req.header.Get("Maestro-Attempt"))
			require.NoError(t, callback.Verify(secret, req.header.Get(callback.SignatureHeader), req.body, now, time.Minute))
		}
	})

	t.Run("HonoursRetryAfterOn429", func(t *testing.T) {
		t.Parallel()
		b := setup()
		r := newReceiver(t,
			response{status: 429, headers: map[string]string{"Retry-After": "7"}},
			response{status: 503, headers: map[string]string{"Retry-After": now.Add(42 * time.Second).Format(http.TimeFormat)}},
			response{status: 200})
		require.NoError(t, callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload()))
		require.Equal(t, []int{429, 503, 200}, b.rec.statuses())
		require.Equal(t, []time.Duration{7 * time.Second, 42 * time.Second}, b.sleeps.waits)
	})

	t.Run("GivesUpWhenRetryAfterIsLongerThanMaxBackoff", func(t *testing.T) {
		t.Parallel()
		b := setup()
		r := newReceiver(t, response{status: 429, headers: map[string]string{"Retry-After": "3600"}})
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload())
		require.ErrorContains(t, err, "asked to wait 1h0m0s")
		require.Len(t, r.got(), 1)
		require.Empty(t, b.sleeps.waits)
	})

	t.Run("DoesNotRetryClientErrors", func(t *testing.T) {
		t.Parallel()
		for _, status := range []int{400, 401, 404, 410, 302} {
			b := setup()
			r := newReceiver(t, response{status: status, headers: map[string]string{"Location": "http://169.254.169.254/"}}, response{status: 200})
			err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload())
			var statusErr *callback.StatusError
			require.ErrorAs(t, err, &statusErr)
			require.Equal(t, status, statusErr.StatusCode)
			require.Len(t, r.got(), 1, "status %d", status)
			require.Equal(t, []int{status}, b.rec.statuses())
			require.Empty(t, b.sleeps.waits)
		}
	})

	t.Run("StopsAfterMaxAttempts", func(t *testing.T) {
		t.Parallel()
		b := setup()
		r := newReceiver(t, response{status: 503})
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload())
		require.ErrorContains(t, err, "attempt 4 of 4")
		require.Len(t, r.got(), 4)
		require.Equal(t, []int{503, 503, 503, 503}, b.rec.statuses())
		require.Len(t, b.sleeps.waits, 3)
		require.LessOrEqual(t, b.sleeps.waits[2], 4*time.Second)
		require.GreaterOrEqual(t, b.sleeps.waits[2], 2*time.Second)
	})

	t.Run("TimesOutASlowReceiverAndRetries", func(t *testing.T) {
		t.Parallel()
		b := setup()
		b.cfg.AttemptTimeout = 100 * time.Millisecond
		b.cfg.MaxAttempts = 2
		b.cfg.Now = time.Now
		r := newReceiver(t, response{block: true})
		started := time.Now()
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(started), 3*time.Second)
		require.Len(t, r.got(), 2)
		require.Equal(t, []int{0, 0}, b.rec.statuses())
		for _, at := range b.rec.list {
			require.ErrorIs(t, at.Err, context.DeadlineExceeded)
			require.GreaterOrEqual(t, at.Duration, 100*time.Millisecond)
		}
	})

	t.Run("RetriesConnectionErrors", func(t *testing.T) {
		t.Parallel()
		b := setup()
		// A port nobody listens on: bind one, then close it.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		b.cfg.MaxAttempts = 3
		err = callback.New(b.cfg).Send(t.Context(), callback.Target{URL: "http://" + addr + "/", Secret: secret}, testPayload())
		require.ErrorContains(t, err, "connection refused")
		require.Equal(t, []int{0, 0, 0}, b.rec.statuses())
		require.Len(t, b.sleeps.waits, 2)
	})

	t.Run("TheContextBoundsEverything", func(t *testing.T) {
		t.Parallel()
		b := setup()
		b.cfg.Now = time.Now
		r := newReceiver(t, response{status: 503, headers: map[string]string{"Retry-After": "30"}})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := callback.New(b.cfg).Send(ctx, callback.Target{URL: r.URL, Secret: secret}, testPayload())
		require.ErrorContains(t, err, "no time left to wait 30s")
		require.Len(t, r.got(), 1)
		require.Empty(t, b.sleeps.waits)

		cancelled, cancel := context.WithCancel(t.Context())
		cancel()
		err = callback.New(b.cfg).Send(cancelled, callback.Target{URL: r.URL, Secret: secret}, testPayload())
		require.ErrorIs(t, err, context.Canceled)
		require.Len(t, r.got(), 1, "a cancelled context sends nothing")
	})

	t.Run("RequiresASecret", func(t *testing.T) {
		t.Parallel()
		b := setup()
		r := newReceiver(t, response{status: 200})
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL}, testPayload())
		require.ErrorContains(t, err, "no secret")
		require.Empty(t, r.got())
	})

	t.Run("ReportsRecorderErrorsAfterDelivering", func(t *testing.T) {
		t.Parallel()
		b := setup()
		b.cfg.Recorder = callback.RecorderFunc(func(context.Context, callback.Attempt) error { return errors.New("store down") })
		r := newReceiver(t, response{status: 200})
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL, Secret: secret}, testPayload())
		require.ErrorContains(t, err, "error recording callback attempt 1: store down")
		require.Len(t, r.got(), 1)
	})

	t.Run("ANetworkErrorNeverQuotesTheQuery", func(t *testing.T) {
		t.Parallel()
		b := setup()
		b.cfg.MaxAttempts = 1
		r := newReceiver(t, response{status: 200})
		addr := r.URL
		r.Close() // nothing listens there any more
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: addr + "/hook?token=t0ps3cret", Secret: secret}, testPayload())
		require.Error(t, err)
		require.NotContains(t, err.Error(), "t0ps3cret")
		require.Len(t, b.rec.list, 1)
		require.Error(t, b.rec.list[0].Err)
		require.Contains(t, b.rec.list[0].Err.Error(), addr+"/hook")
		require.NotContains(t, b.rec.list[0].Err.Error(), "t0ps3cret")
	})

	t.Run("TellsTheTargetsRecorderEveryAttemptWithoutTheQuery", func(t *testing.T) {
		t.Parallel()
		b := setup()
		r := newReceiver(t, response{status: 500}, response{status: 200})
		own := &attempts{}
		err := callback.New(b.cfg).Send(t.Context(), callback.Target{URL: r.URL + "/hook?token=t0ps3cret", Secret: secret, Recorder: own}, testPayload())
		require.NoError(t, err)
		require.Equal(t, []int{500, 200}, own.statuses())
		require.Equal(t, []int{500, 200}, b.rec.statuses(), "the client's recorder is told too")
		for i, a := range own.list {
			require.Equal(t, i+1, a.Number)
			require.Equal(t, r.URL+"/hook", a.URL, "the query may hold a token")
			require.Equal(t, "run-42", a.RunID)
			require.Equal(t, "analytics.orders", a.Table)
			require.Equal(t, "run-42/orders/export-0", a.DeliveryID)
			require.Equal(t, callback.EventExportCompleted, a.Event)
		}
		require.Error(t, own.list[0].Err)
		require.NoError(t, own.list[1].Err)
	})
}

// hmacSHA256Hex computes the signature the way a receiver in another language would.
func hmacSHA256Hex(secret []byte, msg string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}
