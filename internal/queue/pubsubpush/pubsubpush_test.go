package pubsubpush_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/queue"
	"github.com/maestro-sql/maestro/internal/queue/pubsubpush"
)

const (
	audience = "https://worker-abc123-uc.a.run.app/push"
	pusher   = "pubsub-push@maestro-prod.iam.gserviceaccount.com"
)

// signer signs tokens as Google would, with a key its JWKS server publishes.
type signer struct {
	key   *rsa.PrivateKey
	keyID string
}

func newSigner(t *testing.T, keyID string) signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	return signer{key: key, keyID: keyID}
}

// pushClaims are the claims of a Pub/Sub push token.
type pushClaims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// validClaims is what a push subscription with pusher's account and audience sends.
func validClaims() pushClaims {
	now := time.Now()
	return pushClaims{
		Claims: jwt.Claims{
			Issuer:   pubsubpush.GoogleIssuer,
			Subject:  "112233445566778899",
			Audience: jwt.Audience{audience},
			IssuedAt: jwt.NewNumericDate(now),
			Expiry:   jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Email:         pusher,
		EmailVerified: true,
	}
}

func (s signer) sign(t *testing.T, c pushClaims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: s.key, KeyID: s.keyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	token, err := jwt.Signed(sig).Claims(c).Serialize()
	require.NoError(t, err)
	return token
}

// testBundle is a push endpoint behind a real HTTP server, trusting keys from a local JWKS
// server, with its handler's calls recorded.
type testBundle struct {
	google   signer
	handler  http.Handler
	endpoint string

	mu       sync.Mutex
	received []*queue.Message
	fail     error
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b := &testBundle{google: newSigner(t, "google-key-1")}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &b.google.key.PublicKey, KeyID: b.google.keyID, Algorithm: string(jose.RS256), Use: "sig",
		}}})
	}))
	t.Cleanup(jwks.Close)

	h, err := pubsubpush.New(context.Background(), pubsubpush.Config{
		Audience:            audience,
		ServiceAccountEmail: pusher,
		JWKSURL:             jwks.URL,
	}, func(_ context.Context, m *queue.Message) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.received = append(b.received, m)
		return b.fail
	})
	require.NoError(t, err)
	b.handler = h
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b.endpoint = srv.URL + "/push"
	return b
}

func (b *testBundle) calls() []*queue.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*queue.Message(nil), b.received...)
}

const validEnvelope = `{
  "message": {
    "attributes": {"run": "r1", "node": "sales.daily"},
    "data": "eyJydW4iOiJyMSJ9",
    "messageId": "2070443601311540",
    "message_id": "2070443601311540",
    "publishTime": "2026-11-25T13:22:58.123Z",
    "publish_time": "2026-11-25T13:22:58.123Z"
  },
  "subscription": "projects/maestro-prod/subscriptions/tasks-push",
  "deliveryAttempt": 3
}`

// push POSTs body with authorization (none when empty) and returns the status and body.
func (b *testBundle) push(t *testing.T, authorization, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.endpoint, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(text)
}

func TestPushHandler(t *testing.T) {
	t.Parallel()

	t.Run("AcksAVerifiedPush", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		status, _ := b.push(t, "Bearer "+b.google.sign(t, validClaims()), validEnvelope)
		require.Equal(t, http.StatusNoContent, status)
		got := b.calls()
		require.Len(t, got, 1)
		require.Equal(t, &queue.Message{
			ID:              "2070443601311540",
			Data:            []byte(`{"run":"r1"}`),
			Attributes:      map[string]string{"run": "r1", "node": "sales.daily"},
			DeliveryAttempt: 3,
		}, got[0])
	})

	t.Run("AcceptsTheIssuerWithoutScheme", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		c := validClaims()
		c.Issuer = "accounts.google.com" // Google issues some tokens so
		status, _ := b.push(t, "Bearer "+b.google.sign(t, c), validEnvelope)
		require.Equal(t, http.StatusNoContent, status)
	})

	t.Run("AcceptsSnakeCaseMessageIDWithoutAttemptOrAttributes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		status, _ := b.push(t, "Bearer "+b.google.sign(t, validClaims()),
			`{"message":{"data":"aGk=","message_id":"42"},"subscription":"projects/p/subscriptions/s"}`)
		require.Equal(t, http.StatusNoContent, status)
		got := b.calls()
		require.Len(t, got, 1)
		require.Equal(t, "42", got[0].ID)
		require.Equal(t, []byte("hi"), got[0].Data)
		require.Zero(t, got[0].DeliveryAttempt, "no dead-letter policy: Pub/Sub does not count")
	})

	t.Run("ReturnsServerErrorWhenTheHandlerFails", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.fail = errors.New("warehouse unreachable at 10.0.0.7")
		status, body := b.push(t, "Bearer "+b.google.sign(t, validClaims()), validEnvelope)
		require.Equal(t, http.StatusInternalServerError, status, "a 5xx makes Pub/Sub deliver again")
		require.Len(t, b.calls(), 1)
		require.Contains(t, body, "2070443601311540")
		require.NotContains(t, body, "10.0.0.7", "the handler's error stays in the log")
	})

	t.Run("RefusesGet", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		resp, err := http.Get(b.endpoint)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		require.Empty(t, b.calls())
	})

	malformed := []struct {
		name, body, want string
	}{
		{"NotJSON", `message=hello`, "not a Pub/Sub push envelope"},
		{"Truncated", validEnvelope[:40], "not a Pub/Sub push envelope"},
		{"NoMessage", `{"subscription":"projects/p/subscriptions/s"}`, `no "message"`},
		{"NoMessageID", `{"message":{"data":"aGk="}}`, `no "messageId"`},
		{"DataNotBase64", `{"message":{"data":"not base64!","messageId":"1"}}`, `"message.data" is not base64`},
		{"DataNotAString", `{"message":{"data":42,"messageId":"1"}}`, "not a Pub/Sub push envelope"},
	}
	for _, c := range malformed {
		t.Run("RefusesMalformedEnvelope/"+c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			status, body := b.push(t, "Bearer "+b.google.sign(t, validClaims()), c.body)
			require.Equal(t, http.StatusBadRequest, status)
			require.Contains(t, body, c.want)
			require.Empty(t, b.calls())
		})
	}

	t.Run("RefusesOversizedBody", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		body := `{"message":{"messageId":"1","data":"` + strings.Repeat("A", 17<<20) + `"}}`
		status, _ := b.push(t, "Bearer "+b.google.sign(t, validClaims()), body)
		require.Equal(t, http.StatusRequestEntityTooLarge, status)
		require.Empty(t, b.calls())
	})

	rejected := []struct {
		name   string
		auth   func(t *testing.T, b *testBundle) string
		status int
		want   string
	}{
		{"NoAuthorization", func(*testing.T, *testBundle) string { return "" },
			http.StatusUnauthorized, "no Authorization header"},
		{"NotBearer", func(*testing.T, *testBundle) string { return "Basic dXNlcjpwYXNz" },
			http.StatusUnauthorized, "not a bearer token"},
		{"EmptyBearer", func(*testing.T, *testBundle) string { return "Bearer " },
			http.StatusUnauthorized, "not a bearer token"},
		{"NotAJWT", func(*testing.T, *testBundle) string { return "Bearer not.a.jwt" },
			http.StatusUnauthorized, "does not verify"},
		{"Expired", func(t *testing.T, b *testBundle) string {
			c := validClaims()
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
			c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour))
			return "Bearer " + b.google.sign(t, c)
		}, http.StatusUnauthorized, "expired"},
		{"WrongAudience", func(t *testing.T, b *testBundle) string {
			c := validClaims()
			c.Audience = jwt.Audience{"https://someone-else.example/push"}
			return "Bearer " + b.google.sign(t, c)
		}, http.StatusUnauthorized, "audience"},
		{"WrongIssuer", func(t *testing.T, b *testBundle) string {
			c := validClaims()
			c.Issuer = "https://issuer.example"
			return "Bearer " + b.google.sign(t, c)
		}, http.StatusUnauthorized, "different provider"},
		{"SignedByAnotherKey", func(t *testing.T, b *testBundle) string {
			// Same key ID as Google's, different key: only the signature gives it away.
			return "Bearer " + newSigner(t, b.google.keyID).sign(t, validClaims())
		}, http.StatusUnauthorized, "does not verify"},
		{"TamperedClaims", func(t *testing.T, b *testBundle) string {
			token := b.google.sign(t, validClaims())
			other := b.google.sign(t, func() pushClaims { c := validClaims(); c.Email = "intruder@example.com"; return c }())
			parts, otherParts := strings.Split(token, "."), strings.Split(other, ".")
			return "Bearer " + parts[0] + "." + otherParts[1] + "." + parts[2]
		}, http.StatusUnauthorized, "does not verify"},
		{"AnotherServiceAccount", func(t *testing.T, b *testBundle) string {
			c := validClaims()
			c.Email = "intruder@other-project.iam.gserviceaccount.com"
			return "Bearer " + b.google.sign(t, c)
		}, http.StatusForbidden, "intruder@other-project.iam.gserviceaccount.com"},
		{"UnverifiedEmail", func(t *testing.T, b *testBundle) string {
			c := validClaims()
			c.EmailVerified = false
			return "Bearer " + b.google.sign(t, c)
		}, http.StatusForbidden, "not the push subscription's service account"},
		{"NoEmail", func(t *testing.T, b *testBundle) string {
			c := validClaims()
			c.Email = ""
			return "Bearer " + b.google.sign(t, c)
		}, http.StatusForbidden, "not the push subscription's service account"},
	}
	for _, c := range rejected {
		t.Run("Refuses/"+c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			status, body := b.push(t, c.auth(t, b), validEnvelope)
			require.Equal(t, c.status, status)
			require.Contains(t, body, c.want)
			require.Empty(t, b.calls(), "the handler ran for a refused request")
		})
	}
}

func TestNewRequiresWhomToTrust(t *testing.T) {
	t.Parallel()
	h := func(context.Context, *queue.Message) error { return nil }
	_, err := pubsubpush.New(context.Background(), pubsubpush.Config{ServiceAccountEmail: pusher}, h)
	require.ErrorContains(t, err, "Config.Audience is empty")
	_, err = pubsubpush.New(context.Background(), pubsubpush.Config{Audience: audience}, h)
	require.ErrorContains(t, err, "Config.ServiceAccountEmail is empty")
	_, err = pubsubpush.New(context.Background(), pubsubpush.Config{Audience: audience, ServiceAccountEmail: pusher}, nil)
	require.ErrorContains(t, err, "queue.Handler is nil")
}
