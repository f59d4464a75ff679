package webui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/maestro-sql/maestro/internal/service"
	"github.com/maestro-sql/maestro/internal/store"
	"github.com/maestro-sql/maestro/internal/store/sqlitestore"
	"github.com/maestro-sql/maestro/internal/webui"
)

// testBundle is a real API (and so the UI it mounts) over a SQLite store.
type testBundle struct {
	st    *sqlitestore.Store
	srv   *httptest.Server
	admin string // an admin's API token
}

func setup(t testing.TB, cfg service.APIConfig) *testBundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	if cfg.DefaultProject == "" {
		cfg.DefaultProject, cfg.DefaultDataset = "shop", "raw"
	}
	srv := httptest.NewServer(service.API(st, nil, zap.NewNop(), cfg))
	t.Cleanup(srv.Close)
	return &testBundle{st: st, srv: srv, admin: token(t, st, "ada@example.com", "admin", "")}
}

func token(t testing.TB, st store.Store, email, role, group string) string {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.UserPut(ctx, store.User{Email: email, Role: role, Group: group}))
	raw, _, err := service.NewToken(ctx, st, email, "test", time.Now())
	require.NoError(t, err)
	return raw
}

// browser is a client with a cookie jar that does not follow redirects, so tests see them.
func (b *testBundle) browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// signIn posts the sign-in form as a browser on the same origin would.
func (b *testBundle) signIn(t *testing.T, c *http.Client, tok, next string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", b.srv.URL+"/signin", strings.NewReader(url.Values{"token": {tok}, "next": {next}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t, service.APIConfig{})
	c := b.browser(t)

	t.Run("SendsAStrangerToSignInAndBack", func(t *testing.T) {
		code, hdr, _ := get(t, c, b.srv.URL+"/costs?since=7d")
		require.Equal(t, http.StatusSeeOther, code)
		require.Equal(t, "/signin?next=%2Fcosts%3Fsince%3D7d", hdr.Get("Location"))
		code, _, page := get(t, c, b.srv.URL+"/signin?next=%2Fcosts")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, page, `<label for="token">API token</label>`)
		require.Contains(t, page, `name="next" value="/costs"`)
	})

	t.Run("RefusesABadTokenSayingWhy", func(t *testing.T) {
		resp := b.signIn(t, c, "mae_0123456789abcdef_nope", "/")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Empty(t, resp.Cookies())
	})

	t.Run("KeepsTheTokenInAStrictHttpOnlyCookie", func(t *testing.T) {
		resp := b.signIn(t, c, b.admin, "//evil.example/x")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/", resp.Header.Get("Location"), "a redirect target off this site is dropped")
		cookies := resp.Cookies()
		require.Len(t, cookies, 1)
		ck := cookies[0]
		require.Equal(t, webui.SessionCookie, ck.Name)
		require.True(t, ck.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, ck.SameSite)

		code, _, page := get(t, c, b.srv.URL+"/")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, page, "ada@example.com · admin")
		// The pages' scripts call the JSON API with the same cookie.
		code, _, me := get(t, c, b.srv.URL+"/api/v1/me")
		require.Equal(t, http.StatusOK, code)
		require.Contains(t, me, "ada@example.com")
	})

	t.Run("RefusesACrossOriginWriteWithTheCookie", func(t *testing.T) {
		req, err := http.NewRequest("POST", b.srv.URL+"/api/v1/tokens", strings.NewReader(`{"name":"stolen"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		tokens, err := b.st.TokenList(context.Background(), "ada@example.com")
		require.NoError(t, err)
		require.Len(t, tokens, 1, "no token was made")
	})

	t.Run("SignsOut", func(t *testing.T) {
		req, err := http.NewRequest("POST", b.srv.URL+"/signout", nil)
		require.NoError(t, err)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		code, _, _ := get(t, c, b.srv.URL+"/")
		require.Equal(t, http.StatusSeeOther, code)
	})

	t.Run("ShowsANonUserWhy", func(t *testing.T) {
		c := b.browser(t)
		tok := token(t, b.st, "gone@example.com", "viewer", "")
		require.Equal(t, http.StatusSeeOther, b.signIn(t, c, tok, "/").StatusCode)
		require.NoError(t, b.st.UserDelete(context.Background(), "gone@example.com"))
		code, hdr, _ := get(t, c, b.srv.URL+"/tables")
		require.Equal(t, http.StatusSeeOther, code, "the token no longer works: sign in again")
		require.Contains(t, hdr.Get("Set-Cookie"), webui.SessionCookie+"=;")
	})
}

func TestStaticFilesAreCachedByVersion(t *testing.T) {
	t.Parallel()
	b := setup(t, service.APIConfig{})
	c := b.browser(t)
	b.signIn(t, c, b.admin, "/")
	_, _, page := get(t, c, b.srv.URL+"/")
	i := strings.Index(page, `/static/maestro.css?v=`)
	require.Positive(t, i)
	href := page[i : i+strings.IndexByte(page[i:], '"')]
	code, hdr, css := get(t, c, b.srv.URL+href)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, hdr.Get("Cache-Control"), "immutable")
	require.Contains(t, css, ":focus-visible")
	code, hdr, _ = get(t, c, b.srv.URL+"/static/maestro.css?v=old")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "no-cache", hdr.Get("Cache-Control"), "an old page's link is not cached for good")
}

func TestSignInWithAOneTimeCode(t *testing.T) {
	t.Parallel()
	codes := webui.NewSignInCodes(nil)
	b := setup(t, service.APIConfig{SignInCodes: codes})
	code, err := codes.Issue(b.admin)
	require.NoError(t, err)
	post := func(c *http.Client, code string) *http.Response {
		req, err := http.NewRequest("POST", b.srv.URL+"/signin", strings.NewReader(url.Values{"code": {code}, "next": {"/costs"}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	c := b.browser(t)
	resp := post(c, code)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/costs", resp.Header.Get("Location"))
	code2, _, page := get(t, c, b.srv.URL+"/costs")
	require.Equal(t, http.StatusOK, code2)
	require.Contains(t, page, "ada@example.com · admin")

	resp = post(b.browser(t), code)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "a code works once")
	resp = post(b.browser(t), "0123456789abcdef0123456789abcdef")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
