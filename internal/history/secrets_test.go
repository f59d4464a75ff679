package history_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/maestro-sql/maestro/internal/history"
	"github.com/maestro-sql/maestro/internal/secret"
	"github.com/maestro-sql/maestro/internal/spec"
)

// TestRemoteTokenNeverStored: a canary token for the history's remote, refused once and then
// accepted, appears in none of the logs, the sync errors, the local repository (every object,
// its config, every file) or the remote repository.
func TestRemoteTokenNeverStored(t *testing.T) {
	needGit(t)
	gitPath, err := exec.LookPath("git")
	require.NoError(t, err)
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	canary := "cnry" + hex.EncodeToString(raw)

	root := t.TempDir()
	bare := filepath.Join(root, "history.git")
	gitOut(t, "init", "--bare", "--initial-branch=main", bare)
	gitOut(t, "--git-dir", bare, "config", "http.receivepack", "true")
	backend := &cgi.Handler{Path: gitPath, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pass, ok := r.BasicAuth(); !ok || pass != canary {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()

	var logs bytes.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
	ctx := context.Background()
	st := openStore(t)
	put(t, st, "ana", spec.Table{Name: "ds.a", SQL: "SELECT 1\n"})
	env := map[string]string{"HISTORY_TOKEN": canary + "-wrong"}
	resolve := secret.Resolver{Getenv: func(k string) string { return env[k] }}.Resolve
	local := filepath.Join(t.TempDir(), "h")
	m, err := history.Open(st, history.Config{Dir: local, Remote: srv.URL + "/history.git",
		Auth: "env:HISTORY_TOKEN", Resolve: resolve, Attempts: 1, Backoff: time.Millisecond}, log)
	require.NoError(t, err)
	_, err = m.Sync(ctx)
	require.Error(t, err, "the wrong token is refused")
	require.NotContains(t, err.Error(), canary)

	env["HISTORY_TOKEN"] = canary
	put(t, st, "ben", spec.Table{Name: "ds.b", SQL: "SELECT 2\n"})
	res, err := m.Sync(ctx)
	require.NoError(t, err)
	require.True(t, res.Pushed, "the token was used")

	require.NotContains(t, logs.String(), canary, "the log")
	for _, repo := range []string{local, bare} {
		objects := gitOut(t, "-C", repo, "cat-file", "--batch-all-objects", "--batch")
		require.Contains(t, objects, "ds.b", "%s holds the history", repo)
		require.NotContains(t, objects, canary, "the objects of %s", repo)
		require.NoError(t, filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			require.NotContains(t, string(b), canary, "the file %s", path)
			return nil
		}))
	}
}
