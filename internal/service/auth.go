package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/maestro-sql/maestro/internal/access"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/webui"
)

// tokenPrefix starts every API token, so that a leaked one is recognisable (secret scanners)
// and a token is told apart from an IAP or OIDC JWT at a glance.
const tokenPrefix = "mae_"

// NewToken makes an API token for owner and stores its hash. The token itself is returned
// once, here: the store cannot give it back.
func NewToken(ctx context.Context, st store.AccessStore, owner, name string, now time.Time) (string, *store.Token, error) {
	var id [8]byte
	var secret [32]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", nil, fmt.Errorf("error making a token: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", nil, fmt.Errorf("error making a token: %w", err)
	}
	tk := &store.Token{ID: hex.EncodeToString(id[:]), Name: name, Owner: owner, CreatedAt: now.UTC()}
	raw := tokenPrefix + tk.ID + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	tk.Hash = hashToken(raw)
	if err := st.TokenCreate(ctx, tk); err != nil {
		return "", nil, fmt.Errorf("error storing a token for %s: %w", owner, err)
	}
	return raw, tk, nil
}

// hashToken is what the store keeps of a token. A token carries 256 random bits, so one round
// of SHA-256 is enough: nobody can guess a token from its hash.
func hashToken(raw string) string {
	h := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(h[:])
}

// tokenID is the public id inside a token ("mae_<id>_<secret>").
func tokenID(raw string) (string, bool) {
	rest, ok := strings.CutPrefix(raw, tokenPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || secret == "" {
		return "", false
	}
	return id, true
}

// Principal is who makes a request: a stored user, through one of their tokens or through IAP.
type Principal struct {
	User store.User
	Role access.Role
	// TokenID is the token the request came with; empty through IAP.
	TokenID string
}

// errUnauthenticated: the request carries credentials that are not valid (401).
var errUnauthenticated = errors.New("unauthenticated")

// IAPConfig verifies the identity Identity-Aware Proxy puts in front of the API.
type IAPConfig struct {
	// Audience is the backend service's audience:
	// /projects/PROJECT_NUMBER/global/backendServices/SERVICE_ID (or /projects/NUMBER/apps/ID).
	// Empty turns IAP off: the header is ignored, never trusted.
	Audience string
	// JWKSURL is where IAP's public keys are (https://www.gstatic.com/iap/verify/public_key-jwk).
	JWKSURL string
	// Issuer defaults to https://cloud.google.com/iap.
	Issuer string
	// Now is the clock; defaults to time.Now.
	Now func() time.Time
}

// IAPJWKSURL is where Google publishes the keys that sign IAP's assertions.
const IAPJWKSURL = "https://www.gstatic.com/iap/verify/public_key-jwk"

// iapHeader carries IAP's signed assertion; the plain x-goog-authenticated-user-email header
// is never read, since anything that reaches the service without IAP could set it.
const iapHeader = "X-Goog-Iap-Jwt-Assertion"

// iapVerifier checks IAP's ES256 assertions against the published keys (fetched and cached
// by go-oidc's remote key set, which refetches when it meets an unknown key id).
type iapVerifier struct {
	v *oidc.IDTokenVerifier
}

func newIAPVerifier(cfg IAPConfig) *iapVerifier {
	if cfg.Audience == "" {
		return nil
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = IAPJWKSURL
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "https://cloud.google.com/iap"
	}
	// The key set lives as long as the API; its context bounds only its fetches.
	keys := oidc.NewRemoteKeySet(context.Background(), cfg.JWKSURL)
	return &iapVerifier{v: oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{
		ClientID: cfg.Audience, SupportedSigningAlgs: []string{oidc.ES256}, Now: cfg.Now})}
}

// email verifies an assertion and returns the email it vouches for.
func (v *iapVerifier) email(ctx context.Context, assertion string) (string, error) {
	tok, err := v.v.Verify(ctx, assertion)
	if err != nil {
		return "", fmt.Errorf("the IAP assertion is not valid: %w", err)
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := tok.Claims(&claims); err != nil || claims.Email == "" {
		return "", errors.New("the IAP assertion names no email")
	}
	// IAP prefixes identities with their provider ("accounts.google.com:ana@example.com") in
	// its headers; the JWT's email claim is plain, but strip a prefix should one appear.
	if _, after, ok := strings.Cut(claims.Email, ":"); ok {
		claims.Email = after
	}
	return strings.ToLower(claims.Email), nil
}

// authenticator turns a request's credentials into a Principal.
type authenticator struct {
	st  store.Store
	iap *iapVerifier
	now func() time.Time
	// IAP users not in the store get this role (None: they are refused).
	iapDefault access.Role

	mu   sync.Mutex
	used map[string]time.Time // token id -> when its last use was recorded
}

// touchEvery bounds how often a token's last use is written: a busy client must not turn
// every request into a write on one document.
const touchEvery = time.Minute

// authenticate returns the request's principal, nil for an anonymous request, or an error
// wrapping errUnauthenticated (bad credentials) or a store failure.
func (a *authenticator) authenticate(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, raw, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
			return nil, fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", errUnauthenticated)
		}
		return a.token(ctx, strings.TrimSpace(raw))
	}
	if a.iap != nil {
		if assertion := r.Header.Get(iapHeader); assertion != "" {
			email, err := a.iap.email(ctx, assertion)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", errUnauthenticated, err)
			}
			u, err := a.st.UserGet(ctx, email)
			if errors.Is(err, store.ErrNotFound) {
				if a.iapDefault == access.None {
					return &Principal{User: store.User{Email: email}, Role: access.None}, nil
				}
				return &Principal{User: store.User{Email: email, Role: a.iapDefault.String()}, Role: a.iapDefault}, nil
			}
			if err != nil {
				return nil, fmt.Errorf("error loading user %s: %w", email, err)
			}
			return &Principal{User: *u, Role: access.RoleOf(u)}, nil
		}
	}
	// The web UI's session cookie holds the token its sign-in form took. It is HttpOnly and
	// SameSite=Strict, and a cross-origin request that would change something is refused
	// before this, so another site cannot borrow it.
	if c, err := r.Cookie(webui.SessionCookie); err == nil && c.Value != "" {
		return a.token(ctx, c.Value)
	}
	return nil, nil
}

func (a *authenticator) token(ctx context.Context, raw string) (*Principal, error) {
	id, ok := tokenID(raw)
	if !ok {
		return nil, fmt.Errorf("%w: the bearer token is not a Maestro API token", errUnauthenticated)
	}
	tk, err := a.st.TokenGet(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown token", errUnauthenticated)
	}
	if err != nil {
		return nil, fmt.Errorf("error loading token %s: %w", id, err)
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(raw)), []byte(tk.Hash)) != 1 {
		return nil, fmt.Errorf("%w: unknown token", errUnauthenticated)
	}
	if !tk.RevokedAt.IsZero() {
		return nil, fmt.Errorf("%w: the token was revoked", errUnauthenticated)
	}
	u, err := a.st.UserGet(ctx, tk.Owner)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: the token's user no longer exists", errUnauthenticated)
	}
	if err != nil {
		return nil, fmt.Errorf("error loading user %s: %w", tk.Owner, err)
	}
	a.touch(ctx, tk)
	return &Principal{User: *u, Role: access.RoleOf(u), TokenID: tk.ID}, nil
}

// touch records a token's use at most once per touchEvery per API instance.
func (a *authenticator) touch(ctx context.Context, tk *store.Token) {
	now := a.now()
	a.mu.Lock()
	last, ok := a.used[tk.ID]
	if !ok {
		last = tk.LastUsedAt
	}
	due := now.Sub(last) >= touchEvery
	if due {
		a.used[tk.ID] = now
	}
	a.mu.Unlock()
	if due {
		// Failing to record a use must not fail the request; the next one tries again.
		if err := a.st.TokenUsed(context.WithoutCancel(ctx), tk.ID, now); err != nil {
			a.mu.Lock()
			delete(a.used, tk.ID)
			a.mu.Unlock()
		}
	}
}

// TokenValid reports whether raw is a stored, unrevoked token whose user exists.
func TokenValid(ctx context.Context, st store.Store, raw string) bool {
	a := &authenticator{st: st, now: time.Now, used: map[string]time.Time{}}
	p, err := a.token(ctx, raw)
	return err == nil && p != nil
}
