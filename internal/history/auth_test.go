package history_test

import (
	"context"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
)

// TestHTTPSTokenAuth pushes to git's own smart HTTP server (git http-backend behind net/http/cgi),
// which accepts only the token the secret reference resolves to.
func TestHTTPSTokenAuth(t *testing.T) {
	needGit(t)
	gitPath, err := exec.LookPath("git")
	require.NoError(t, err)
	root := t.TempDir()
	bare := filepath.Join(root, "history.git")
	gitOut(t, "init", "--bare", "--initial-branch=main", bare)
	gitOut(t, "--git-dir", bare, "config", "http.receivepack", "true")
	const token = "tok-3f9a1c"
	backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx := context.Background()
	st := openStore(t)
	put(t, st, "ana", spec.Table{Name: "ds.a", SQL: "SELECT 1\n"})
	env := map[string]string{"HISTORY_TOKEN": "wrong-" + token}
	resolve := secret.Resolver{Getenv: func(k string) string { return env[k] }}.Resolve
	m, err := history.Open(st, history.Config{Dir: filepath.Join(t.TempDir(), "h"), Remote: srv.URL + "/history.git",
		Auth: "env:HISTORY_TOKEN", Resolve: resolve, Attempts: 1, Backoff: time.Millisecond}, zaptest.NewLogger(t))
	require.NoError(t, err)

	_, err = m.Sync(ctx)
	require.ErrorContains(t, err, "authentication required", "a wrong token is refused")
	require.NotContains(t, err.Error(), token)

	env["HISTORY_TOKEN"] = token // rotated: read again at the next sync
	res, err := m.Sync(ctx)
	require.NoError(t, err)
	require.True(t, res.Pushed)
	require.Equal(t, "create ds.a\n", gitOut(t, "--git-dir", bare, "log", "--format=%s", "main"))

	_, err = history.Open(st, history.Config{Dir: t.TempDir(), Remote: strings.Replace(srv.URL, "http://", "http://u:"+token+"@", 1)}, nil)
	require.ErrorContains(t, err, "the remote URL holds credentials")
	require.NotContains(t, err.Error(), token)
}
