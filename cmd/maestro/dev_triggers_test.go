package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/maestro-sql/maestro/internal/callback"
	"github.com/maestro-sql/maestro/internal/service"
)

// TestDevTriggerURLStartsOneRunPerKey: on maestro dev, another system's signed delivery to a
// table's trigger URL runs the table and what reads it; its retry with the same
// Idempotency-Key starts nothing more, and both deliveries are listed.
func TestDevTriggerURLStartsOneRunPerKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	project := chainProject(t)
	state := filepath.Join(t.TempDir(), "state")
	addr := freeAddr(t)
	base := "http://" + addr + "/api/v1"
	var out, logs bytes.Buffer
	devCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- runDev(devCtx, project, devFlags{stateDir: state, logFormat: "json", addr: addr}, &out, &logs)
	}()
	defer func() {
		stop()
		<-done
	}()

	var token string
	var trigger map[string]any
	for {
		select {
		case <-ctx.Done():
			t.Fatalf("maestro dev did not start serving: %s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if token = devToken(t, state); token == "" {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			break
		}
	}
	code, trigger := call(t, ctx, token, http.MethodPost, base+"/triggers", "application/json", strings.NewReader(`{"table": "ds.a", "downstream": true}`))
	require.Equal(t, http.StatusCreated, code, trigger)
	secret := trigger["secret"].(string)

	deliver := func() (int, map[string]any) {
		body := `{"landed": "ds.a source"}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+trigger["path"].(string), strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(callback.SignatureHeader, callback.Sign([]byte(secret), time.Now(), []byte(body)))
		req.Header.Set(service.IdempotencyKeyHeader, "load-42")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, first := deliver()
	require.Equal(t, http.StatusAccepted, code, first)
	code, again := deliver()
	require.Equal(t, http.StatusOK, code, again)
	require.Equal(t, "duplicate", again["outcome"])
	require.Equal(t, first["run_id"], again["run_id"])

	runID := first["run_id"].(string)
	for {
		code, rn := call(t, ctx, token, http.MethodGet, base+"/runs/"+runID, "", nil)
		require.Equal(t, http.StatusOK, code, rn)
		if rn["state"] != "running" {
			require.Equal(t, "succeeded", rn["state"], rn)
			require.Equal(t, "webhook", rn["trigger"])
			require.True(t, strings.HasPrefix(rn["created_by"].(string), "trigger:"+trigger["id"].(string)+" from 127.0.0.1"), rn["created_by"])
			require.Len(t, rn["nodes"], 3, "ds.a and everything downstream")
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("run %s did not finish", runID)
		case <-time.After(50 * time.Millisecond):
		}
	}
	code, list := call(t, ctx, token, http.MethodGet, base+"/runs", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, list["runs"], 1, "one run for the two deliveries")
	code, ds := call(t, ctx, token, http.MethodGet, base+"/triggers/"+trigger["id"].(string)+"/deliveries", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, ds["deliveries"], 2)
}
