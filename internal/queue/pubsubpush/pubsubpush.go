// Package pubsubpush receives a Pub/Sub push subscription over HTTP: a worker on Cloud Run in push
// mode mounts a Handler, and Pub/Sub POSTs each message to it with an OIDC token signed by Google
// for the subscription's service account.
//
// The HTTP status is the ack: 2xx acks, anything else makes Pub/Sub deliver the message again
// (after the subscription's retry backoff, and to the dead-letter topic after MaxDeliveries). A
// request whose token does not prove it comes from the subscription is refused before its body
// is read, and never reaches the queue.Handler.
package pubsubpush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/queue"
)

// Google's issuer and signing keys for the OIDC tokens Pub/Sub attaches to push requests.
const (
	GoogleIssuer  = "https://accounts.google.com"
	GoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"
)

// maxBodyBytes bounds a push request: Pub/Sub messages are at most 10 MB, which base64 and the
// envelope grow by about a third.
const maxBodyBytes = 16 << 20

// Config says which push requests to trust.
type Config struct {
	// Audience is the audience the push subscription puts in its tokens (its push config's
	// audience, by default the push endpoint URL). Required.
	Audience string
	// ServiceAccountEmail is the service account the push subscription signs its tokens as.
	// Required: any Google-signed token for Audience would pass without it.
	ServiceAccountEmail string
	// Issuer is the tokens' issuer. Defaults to GoogleIssuer.
	Issuer string
	// JWKSURL serves the keys that sign the tokens. Defaults to GoogleJWKSURL.
	JWKSURL string
	// HTTPClient fetches the keys. Defaults to http.DefaultClient.
	HTTPClient *http.Client
	// Logger records refused requests and handler failures (the HTTP response says little, on
	// purpose). Defaults to no logging.
	Logger *zap.Logger
}

// Handler is an http.Handler for one push subscription's requests.
type Handler struct {
	*Verifier
	handle queue.Handler
	log    *zap.Logger
}

// Verifier checks that a request carries a Google-signed OIDC token of one service account for
// one audience: Pub/Sub push requests, and Cloud Scheduler's calls, which sign the same way.
type Verifier struct {
	verifier *oidc.IDTokenVerifier
	email    string
}

// NewVerifier returns a Verifier by cfg (its Logger is not used).
func NewVerifier(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Audience == "" {
		return nil, errors.New("pubsubpush: Config.Audience is empty")
	}
	if cfg.ServiceAccountEmail == "" {
		return nil, errors.New("pubsubpush: Config.ServiceAccountEmail is empty")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = GoogleIssuer
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = GoogleJWKSURL
	}
	ctx = context.WithoutCancel(ctx)
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	keys := oidc.NewRemoteKeySet(ctx, cfg.JWKSURL)
	return &Verifier{
		verifier: oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.Audience}),
		email:    cfg.ServiceAccountEmail,
	}, nil
}

// New returns a Handler that verifies each request by cfg and passes its message to h. ctx
// bounds nothing but carries values for the key fetches (its cancellation is ignored: keys are
// fetched for the Handler's whole life).
func New(ctx context.Context, cfg Config, h queue.Handler) (*Handler, error) {
	if h == nil {
		return nil, errors.New("pubsubpush: the queue.Handler is nil")
	}
	v, err := NewVerifier(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Handler{Verifier: v, handle: h, log: cfg.Logger}, nil
}

// envelope is the body of a push request (the "wrapped" payload format). Pub/Sub writes
// messageId in both camel and snake case. publishTime is not read: queue.Message has no use for it.
type envelope struct {
	Message *struct {
		Data       string            `json:"data"`
		Attributes map[string]string `json:"attributes"`
		MessageID  string            `json:"messageId"`
		MessageID2 string            `json:"message_id"`
	} `json:"message"`
	Subscription    string `json:"subscription"`
	DeliveryAttempt int    `json:"deliveryAttempt"`
}

// ServeHTTP verifies the request's token, decodes its envelope and calls the queue.Handler:
// 204 acks; 401 or 403 refuses the caller; 400 refuses a body that is not a push envelope; 500
// reports the handler's error so that Pub/Sub delivers the message again.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "push requests are POSTs", http.StatusMethodNotAllowed)
		return
	}
	if status, reason := h.Authorize(r); status != 0 {
		h.log.Warn("refused a push request", zap.Int("status", status), zap.String("reason", reason))
		http.Error(w, http.StatusText(status)+": "+reason, status)
		return
	}

	m, subscription, err := decode(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		status := http.StatusBadRequest
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		h.log.Warn("refused a push request", zap.Int("status", status), zap.Error(err))
		http.Error(w, err.Error(), status)
		return
	}

	if err := h.handle(r.Context(), m); err != nil {
		h.log.Error("push handler failed; Pub/Sub will deliver the message again",
			zap.String("subscription", subscription), zap.String("message_id", m.ID),
			zap.Int("attempt", m.DeliveryAttempt), zap.Error(err))
		// The error stays in the log: the response goes back to Pub/Sub, which only counts it.
		http.Error(w, "error handling message "+m.ID, http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Authorize checks the bearer token: 401 when it does not prove anything (missing, malformed,
// badly signed, expired, another issuer or audience), 403 when it proves a caller other than the
// expected service account. 0 lets the request through.
func (h *Verifier) Authorize(r *http.Request) (status int, reason string) {
	header := r.Header.Get("Authorization")
	scheme, raw, ok := strings.Cut(header, " ")
	if header == "" {
		return http.StatusUnauthorized, "no Authorization header"
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return http.StatusUnauthorized, "the Authorization header is not a bearer token"
	}
	token, err := h.verifier.Verify(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		return http.StatusUnauthorized, "the token does not verify: " + err.Error()
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
	}
	if err := token.Claims(&claims); err != nil {
		return http.StatusUnauthorized, "the token's claims do not decode: " + err.Error()
	}
	if claims.Email != h.email || !claims.EmailVerified {
		return http.StatusForbidden, fmt.Sprintf("the token is for %q, not the push subscription's service account", claims.Email)
	}
	return 0, ""
}

// decode reads a push envelope into a queue message and the subscription it came from.
func decode(body io.Reader) (*queue.Message, string, error) {
	var env envelope
	dec := json.NewDecoder(body)
	if err := dec.Decode(&env); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("the body is not a Pub/Sub push envelope: %w", err)
	}
	if env.Message == nil {
		return nil, "", errors.New(`the push envelope has no "message"`)
	}
	id := env.Message.MessageID
	if id == "" {
		id = env.Message.MessageID2
	}
	if id == "" {
		return nil, "", errors.New(`the push envelope's message has no "messageId"`)
	}
	data, err := base64.StdEncoding.DecodeString(env.Message.Data)
	if err != nil {
		return nil, "", fmt.Errorf(`the push envelope's "message.data" is not base64: %w`, err)
	}
	return &queue.Message{
		ID:         id,
		Data:       data,
		Attributes: env.Message.Attributes,
		// Pub/Sub counts deliveries only on subscriptions with a dead-letter policy; 0 otherwise.
		DeliveryAttempt: env.DeliveryAttempt,
	}, env.Subscription, nil
}
