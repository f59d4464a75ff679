package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/maestrotest"
	"github.com/maestro-sql/maestro/internal/sqlref"
	"github.com/maestro-sql/maestro/internal/warehouse/duckdbwarehouse"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// devToken reads the admin token maestro dev keeps in its state folder, once it made it.
func devToken(t *testing.T, state string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, devTokenFile))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// call sends a request with token (when not empty) and decodes the JSON answer.
func call(t *testing.T, ctx context.Context, token, method, url, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), string(data))
	}
	return resp.StatusCode, out
}

// waitingRun polls the API (at base, /api/v1) of a maestro dev keeping its state in state until
// a run's node is running, and returns the run's id and dev's API token.
func waitingRun(t *testing.T, ctx context.Context, base, state, node string) (string, string) {
	t.Helper()
	for {
		select {
		case <-ctx.Done():
			t.Fatalf("no run with %s running: %v", node, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		token := devToken(t, state)
		if token == "" {
			continue // dev has not made it yet
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/runs?state=running", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // the server is not listening yet
		}
		var list struct {
			Runs []struct {
				ID string `json:"id"`
			} `json:"runs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		require.NoError(t, err)
		for _, r := range list.Runs {
			code, out := call(t, ctx, token, http.MethodGet, base+"/runs/"+r.ID, "", nil)
			require.Equal(t, http.StatusOK, code)
			for _, n := range out["nodes"].([]any) {
				n := n.(map[string]any)
				if n["name"] == node && n["state"] == "running" {
					return r.ID, token
				}
			}
		}
	}
}

const externalProject = "default_project: shop\ndefault_dataset: marts\ndefault_schedule: daily\n" +
	"schedules:\n  - name: daily\n    cron: \"0 6 * * *\"\n"

// TestDevWaitsForAnExternalUpload: a run's external table waits for another system, which asks
// the API where to upload, PUTs a CSV file there and says it is done; the run then loads the
// file and the query table reading it sees the rows.
func TestDevWaitsForAnExternalUpload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml":     externalProject,
		"ext/partner.sql":  "-- uploaded each morning by the partner's system\n",
		"ext/partner.yaml": "external:\n  format: csv\n  timeout: 30m\n  schema:\n    - {name: id, type: INT64}\n    - {name: amount, type: NUMERIC}\n",
		"marts/totals.sql": "SELECT COUNT(*) AS sales, SUM(amount) AS amount FROM ext.partner",
	})
	state := filepath.Join(t.TempDir(), "state")
	addr := freeAddr(t)
	base := "http://" + addr
	var out, logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, project, devFlags{once: true, stateDir: state, logFormat: "json", addr: addr}, &out, &logs)
	}()

	id, token := waitingRun(t, ctx, base+"/api/v1", state, "ext.partner")
	tables := base + "/api/v1/runs/" + id + "/tables/"
	code, up := call(t, ctx, token, http.MethodPost, tables+"ext.partner/upload", "", nil)
	require.Equal(t, http.StatusOK, code, up)
	require.Equal(t, "PUT", up["method"])
	// The downstream table has not run: it waits for the upload.
	code, rn := call(t, ctx, token, http.MethodGet, base+"/api/v1/runs/"+id, "", nil)
	require.Equal(t, http.StatusOK, code)
	for _, n := range rn["nodes"].([]any) {
		if n := n.(map[string]any); n["name"] == "marts.totals" {
			require.Equal(t, "pending", n["state"])
		}
	}

	headers := up["headers"].(map[string]any)
	// maestro dev's upload URL is the API's own: the uploader sends its API token there too.
	require.True(t, strings.HasPrefix(up["upload_url"].(string), base+"/api/v1/"), up["upload_url"])
	code, refused := call(t, ctx, "", http.MethodPut, up["upload_url"].(string), "text/csv", strings.NewReader("id,amount\n9,9\n"))
	require.Equal(t, http.StatusUnauthorized, code, refused)
	code, _ = call(t, ctx, token, http.MethodPut, up["upload_url"].(string), headers["Content-Type"].(string),
		strings.NewReader("id,amount\n1,10.50\n2,4.25\n3,5.25\n"))
	require.Equal(t, http.StatusNoContent, code)
	code, res := call(t, ctx, token, http.MethodPost, tables+"ext.partner/uploaded", "", nil)
	require.Equal(t, http.StatusOK, code, res)

	require.NoError(t, <-done, logs.String())
	require.Regexp(t, `ext\.partner\s+succeeded\s+1\s+\S+\s+3\s`, out.String())
	require.Regexp(t, `marts\.totals\s+succeeded`, out.String())

	wh, err := duckdbwarehouse.Open(ctx, filepath.Join(state, "warehouse"), &duckdbwarehouse.Options{DefaultProject: "shop"})
	require.NoError(t, err)
	defer wh.Close()
	rows, err := wh.Read(ctx, "SELECT CAST(sales AS INT64), CAST(amount AS STRING) FROM marts.totals", sqlref.Options{DefaultProject: "shop"}, 1)
	require.NoError(t, err)
	require.Equal(t, []any{int64(3), "20.000000000"}, rows.Values[0], "the mart sees every uploaded row")
}

// TestDevFailsAnExternalTableNobodyUploads: past its timeout the external table fails, saying
// what it waited for, and what reads it is skipped.
func TestDevFailsAnExternalTableNobodyUploads(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml":     externalProject,
		"ext/partner.sql":  "",
		"ext/partner.yaml": "external:\n  format: json\n  timeout: 1s\n",
		"marts/totals.sql": "SELECT COUNT(*) AS sales FROM ext.partner",
	})
	var out, logs bytes.Buffer
	err := runDev(ctx, project, devFlags{once: true, stateDir: filepath.Join(t.TempDir(), "state"), logFormat: "json"}, &out, &logs)
	var exit exitError
	require.True(t, errors.As(err, &exit), "the run fails: %v\n%s", err, logs.String())
	require.Regexp(t, `ext\.partner\s+failed\s+1\s`, out.String())
	require.Contains(t, out.String(), "no upload for ext.partner within 1s")
	require.Regexp(t, `marts\.totals\s+skipped`, out.String())
}

// TestUploadCommand: `maestro upload` does what another system does through the API, here for a
// newline-delimited JSON table, and reports the server's refusal when the table takes no upload.
func TestUploadCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	project := maestrotest.WriteTree(t, map[string]string{
		"maestro.yaml":    externalProject,
		"ext/events.sql":  "# events pushed by the app\n",
		"ext/events.yaml": "external:\n  format: json\n",
		"marts/kinds.sql": "SELECT kind, COUNT(*) AS n FROM ext.events GROUP BY kind",
	})
	state := filepath.Join(t.TempDir(), "state")
	addr := freeAddr(t)
	base := "http://" + addr
	var out, logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runDev(ctx, project, devFlags{once: true, stateDir: state, logFormat: "json", addr: addr}, &out, &logs)
	}()
	// The upload command finds dev's token in the state folder, and defaults to its address.
	id, _ := waitingRun(t, ctx, base+"/api/v1", state, "ext.events")

	file := filepath.Join(t.TempDir(), "events.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"kind": "click"}`+"\n"+`{"kind": "view"}`+"\n"+`{"kind": "click"}`+"\n"), 0o644))
	_, errOut, code := execForTest(t, newUploadCmd(), "", "--api", base, "--state", state, id, "marts.kinds", file)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `marts.kinds is a table of kind "query": only external tables take uploads`)

	stdout, errOut, code := execForTest(t, newUploadCmd(), "", "--api", base, "--state", state, id, "ext.events", file)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, stdout, "for ext.events in run "+id)

	require.NoError(t, <-done, logs.String())
	require.Regexp(t, `ext\.events\s+succeeded\s+1\s+\S+\s+3\s`, out.String())
	require.Regexp(t, `marts\.kinds\s+succeeded\s+1\s+\S+\s+2\s`, out.String())
}
