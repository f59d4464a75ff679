package service_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
)

func TestTokens(t *testing.T) {
	st := openStore(t)
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	t.Cleanup(srv.Close)
	base := srv.URL + service.APIPrefix
	ana := client{t: t, base: base, token: userToken(t, st, "ana@example.com", "viewer", "")}
	admin := client{t: t, base: base, token: userToken(t, st, "admin@example.com", "admin", "")}

	for _, c := range []struct{ name, header string }{
		{"no credentials", ""},
		{"another scheme", "Basic YW5hOnB3"},
		{"not a Maestro token", "Bearer eyJhbGciOi"},
		{"an unknown token", "Bearer mae_0123456789abcdef_c2VjcmV0"},
		{"a known id with a wrong secret", "Bearer " + ana.token[:21] + "_wrong"},
	} {
		req, err := http.NewRequest("GET", base+"/me", nil)
		require.NoError(t, err)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, c.name)
	}

	code, _, out := ana.do("GET", "/me", nil)
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "ana@example.com", out["email"])

	// A new token is shown once; listings never show it, nor its hash.
	code, _, out = ana.do("POST", "/tokens", map[string]any{"name": "laptop"})
	require.Equal(t, http.StatusCreated, code, out)
	secret := out["token"].(string)
	id := out["id"].(string)
	require.Regexp(t, `^mae_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$`, secret)
	stored, err := st.TokenGet(t.Context(), id)
	require.NoError(t, err)
	require.NotContains(t, stored.Hash, secret[21:], "the store holds a hash")
	laptop := client{t: t, base: base, token: secret}
	code, _, out = laptop.do("GET", "/tokens", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["tokens"], 2, "ana's own tokens")
	require.NotContains(t, mustJSON(t, out), secret[21:])
	require.NotContains(t, mustJSON(t, out), stored.Hash)
	for _, tk := range out["tokens"].([]any) {
		require.Contains(t, tk, "last_used_at", "both were used")
	}

	// Someone else's tokens are theirs.
	code, _, _ = ana.do("POST", "/tokens", map[string]any{"owner": "admin@example.com"})
	require.Equal(t, http.StatusForbidden, code)
	code, _, _ = ana.do("GET", "/tokens?all=true", nil)
	require.Equal(t, http.StatusForbidden, code)
	adminTokens, err := st.TokenList(t.Context(), "admin@example.com")
	require.NoError(t, err)
	code, _, _ = ana.do("DELETE", "/tokens/"+adminTokens[0].ID, nil)
	require.Equal(t, http.StatusNotFound, code)
	code, _, out = admin.do("GET", "/tokens?all=true", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, out["tokens"], 3)
	code, _, out = admin.do("POST", "/tokens", map[string]any{"owner": "ana@example.com", "name": "ci"})
	require.Equal(t, http.StatusCreated, code, out)
	require.Equal(t, "ana@example.com", out["owner"])

	// A revoked token stops working at once; the others go on.
	code, _, _ = ana.do("DELETE", "/tokens/"+id, nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _, out = laptop.do("GET", "/me", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, out["detail"], "revoked")
	code, _, _ = ana.do("GET", "/me", nil)
	require.Equal(t, http.StatusOK, code)

	// The user's current role applies to their tokens.
	code, _, _ = ana.do("GET", "/users", nil)
	require.Equal(t, http.StatusForbidden, code)
	code, _, out = admin.do("PUT", "/users/ana@example.com", map[string]any{"role": "admin"})
	require.Equal(t, http.StatusOK, code, out)
	code, _, _ = ana.do("GET", "/users", nil)
	require.Equal(t, http.StatusOK, code)
	code, _, out = admin.do("PUT", "/users/bo@example.com", map[string]any{"role": "editor"})
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Equal(t, "group", out["errors"].([]any)[0].(map[string]any)["field"], "an editor needs a group")
	code, _, _ = admin.do("PUT", "/users/admin@example.com", map[string]any{"role": "viewer"})
	require.Equal(t, http.StatusConflict, code, "an admin cannot demote themselves")

	// A removed user's tokens stop working.
	code, _, _ = admin.do("DELETE", "/users/ana@example.com", nil)
	require.Equal(t, http.StatusNoContent, code)
	code, _, out = ana.do("GET", "/me", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, out["detail"], "no longer exists")
	code, _, _ = admin.do("DELETE", "/users/admin@example.com", nil)
	require.Equal(t, http.StatusConflict, code, "nor remove themselves")
}

// iapEnv is an API behind a fake IAP: a JWKS server with a key the test signs assertions with.
type iapEnv struct {
	base     string
	key      *ecdsa.PrivateKey
	audience string
}

const iapAudience = "/projects/123456/global/backendServices/987"

func newIAPEnv(t *testing.T, st store.Store, defaultRole string) *iapEnv {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &key.PublicKey, KeyID: "iap-1", Algorithm: string(jose.ES256), Use: "sig"}}})
	}))
	t.Cleanup(jwks.Close)
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{
		IAP: service.IAPConfig{Audience: iapAudience, JWKSURL: jwks.URL}, IAPDefaultRole: defaultRole}))
	t.Cleanup(srv.Close)
	return &iapEnv{base: srv.URL + service.APIPrefix, key: key, audience: iapAudience}
}

type iapClaims struct {
	jwt.Claims
	Email string `json:"email"`
}

func signIAP(t *testing.T, key *ecdsa.PrivateKey, kid string, c iapClaims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	raw, err := jwt.Signed(sig).Claims(c).Serialize()
	require.NoError(t, err)
	return raw
}

func (e *iapEnv) get(t *testing.T, path string, headers ...string) (int, map[string]any) {
	t.Helper()
	c := client{t: t, base: e.base}
	code, _, out := c.do("GET", path, nil, headers...)
	return code, out
}

func TestIdentityAwareProxy(t *testing.T) {
	st := openStore(t)
	require.NoError(t, st.UserPut(t.Context(), store.User{Email: "ana@example.com", Role: "editor", Group: "finance"}))
	e := newIAPEnv(t, st, "")
	now := time.Now()
	claims := func(email string) iapClaims {
		return iapClaims{Email: email, Claims: jwt.Claims{Issuer: "https://cloud.google.com/iap", Subject: "accounts.google.com:1",
			Audience: jwt.Audience{e.audience}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}}
	}

	code, out := e.get(t, "/me", "X-Goog-Iap-Jwt-Assertion", signIAP(t, e.key, "iap-1", claims("ana@example.com")))
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, map[string]any{"email": "ana@example.com", "role": "editor", "group": "finance"}, out)

	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	expired := claims("ana@example.com")
	expired.IssuedAt, expired.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)), jwt.NewNumericDate(now.Add(-50*time.Minute))
	wrongAud := claims("ana@example.com")
	wrongAud.Audience = jwt.Audience{"/projects/123456/global/backendServices/other"}
	wrongIss := claims("ana@example.com")
	wrongIss.Issuer = "https://accounts.google.com"
	for name, headers := range map[string][]string{
		"signed by another key":     {"X-Goog-Iap-Jwt-Assertion", signIAP(t, other, "iap-1", claims("ana@example.com"))},
		"expired":                   {"X-Goog-Iap-Jwt-Assertion", signIAP(t, e.key, "iap-1", expired)},
		"for another backend":       {"X-Goog-Iap-Jwt-Assertion", signIAP(t, e.key, "iap-1", wrongAud)},
		"from another issuer":       {"X-Goog-Iap-Jwt-Assertion", signIAP(t, e.key, "iap-1", wrongIss)},
		"not a JWT":                 {"X-Goog-Iap-Jwt-Assertion", "ana@example.com"},
		"a plain email header only": {"X-Goog-Authenticated-User-Email", "accounts.google.com:ana@example.com"},
	} {
		code, out := e.get(t, "/me", headers...)
		require.Equal(t, http.StatusUnauthorized, code, "%s: %v", name, out)
	}

	// A person IAP lets through but Maestro does not know gets nothing, unless a default role
	// is configured.
	code, out = e.get(t, "/me", "X-Goog-Iap-Jwt-Assertion", signIAP(t, e.key, "iap-1", claims("stranger@example.com")))
	require.Equal(t, http.StatusForbidden, code, out)
	require.Contains(t, out["detail"], "not a Maestro user")
	lenient := newIAPEnv(t, st, "viewer")
	code, out = lenient.get(t, "/me", "X-Goog-Iap-Jwt-Assertion", signIAP(t, lenient.key, "iap-1", claims("stranger@example.com")))
	require.Equal(t, http.StatusOK, code, out)
	require.Equal(t, "viewer", out["role"])
	code, _ = lenient.get(t, "/tables", "X-Goog-Iap-Jwt-Assertion", signIAP(t, lenient.key, "iap-1", claims("stranger@example.com")))
	require.Equal(t, http.StatusOK, code)

	// Without IAP configured, its header is ignored, never trusted.
	plain := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	t.Cleanup(plain.Close)
	code, _, _ = client{t: t, base: plain.URL + service.APIPrefix}.do("GET", "/me", nil,
		"X-Goog-Iap-Jwt-Assertion", signIAP(t, e.key, "iap-1", claims("ana@example.com")))
	require.Equal(t, http.StatusUnauthorized, code)
}

// A page on another site cannot make a browser (whose IAP cookie would authenticate it) change
// anything; the same request from a program, or from the API's own origin, goes through.
func TestCrossSiteBrowserRequestsAreRefused(t *testing.T) {
	st := openStore(t)
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), service.APIConfig{}))
	t.Cleanup(srv.Close)
	c := client{t: t, base: srv.URL + service.APIPrefix, token: userToken(t, st, "ana@example.com", "viewer", "")}
	code, _, out := c.do("POST", "/tokens", map[string]any{"name": "x"}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, out["detail"], "cross-origin")
	code, _, _ = c.do("GET", "/me", nil, "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusOK, code, "reading is safe")
	code, _, _ = c.do("POST", "/tokens", map[string]any{"name": "x"}, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusCreated, code)
	code, _, _ = c.do("POST", "/tokens", map[string]any{"name": "y"})
	require.Equal(t, http.StatusCreated, code)
}

// The web UI's pages are authenticated by IAP's assertion as the API is; behind IAP the
// token sign-in form is off, and a stranger IAP lets in is told to ask an admin.
func TestIdentityAwareProxySignsInToTheWebUI(t *testing.T) {
	st := openStore(t)
	require.NoError(t, st.UserPut(t.Context(), store.User{Email: "ana@example.com", Role: "editor", Group: "finance"}))
	e := newIAPEnv(t, st, "")
	site := strings.TrimSuffix(e.base, service.APIPrefix)
	now := time.Now()
	assertion := func(email string) string {
		return signIAP(t, e.key, "iap-1", iapClaims{Email: email, Claims: jwt.Claims{Issuer: "https://cloud.google.com/iap", Subject: "accounts.google.com:1",
			Audience: jwt.Audience{e.audience}, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}})
	}
	page := func(method, path, email string) (int, string) {
		req, err := http.NewRequest(method, site+path, nil)
		require.NoError(t, err)
		if email != "" {
			req.Header.Set("X-Goog-Iap-Jwt-Assertion", assertion(email))
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := page("GET", "/costs", "ana@example.com")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "ana@example.com · editor")
	code, body = page("GET", "/", "stranger@example.com")
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body, "stranger@example.com is not a Maestro user: ask an admin to add you.")
	code, body = page("GET", "/signin", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Identity-Aware Proxy")
	require.NotContains(t, body, `name="token"`)
	code, _ = page("POST", "/signin", "")
	require.Equal(t, http.StatusNotFound, code, "no token sign-in behind IAP")
}
