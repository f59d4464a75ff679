package cloudlog_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/maestro-sql/maestro/internal/cloudlog"
)

// entries decodes the JSON lines written to buf.
func entries(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "line is not JSON: %s", sc.Text())
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("WritesCloudLoggingFieldNames", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		log := cloudlog.New(&buf, cloudlog.Options{Service: "maestro-worker", Revision: "maestro-worker-00042-abc"})
		before := time.Now()
		_, _, line, _ := runtime.Caller(0)
		log.Info("node succeeded", zap.String("run_id", "r1"), zap.Int("attempt", 2))
		got := entries(t, &buf)
		require.Len(t, got, 1)
		e := got[0]

		require.Equal(t, "INFO", e["severity"])
		require.Equal(t, "node succeeded", e["message"])
		require.Equal(t, "r1", e["run_id"])
		require.EqualValues(t, 2, e["attempt"])
		ts, err := time.Parse(time.RFC3339Nano, e["time"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, before, ts, time.Minute)
		require.Equal(t, map[string]any{"service": "maestro-worker", "revision": "maestro-worker-00042-abc"}, e["logging.googleapis.com/labels"])

		loc, ok := e["logging.googleapis.com/sourceLocation"].(map[string]any)
		require.True(t, ok, "sourceLocation is an object: %v", e)
		require.True(t, strings.HasSuffix(loc["file"].(string), "cloudlog/cloudlog_test.go"), loc["file"])
		require.Equal(t, strconv.Itoa(line+1), loc["line"])
		require.Contains(t, loc["function"], "TestNew")
		for _, zapKey := range []string{"level", "msg", "ts", "caller"} {
			require.NotContains(t, e, zapKey, "zap's own key %q leaks through", zapKey)
		}
	})

	t.Run("MapsLevelsToSeverities", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		log := cloudlog.New(&buf, cloudlog.Options{Level: zapcore.DebugLevel})
		log.Debug("d")
		log.Info("i")
		log.Warn("w")
		log.Error("e", zap.Error(errors.New("boom")))
		log.DPanic("c") // does not panic outside development mode
		var severities []any
		got := entries(t, &buf)
		for _, e := range got {
			severities = append(severities, e["severity"])
		}
		require.Equal(t, []any{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, severities)
		require.Equal(t, "boom", got[3]["error"])
		require.Contains(t, got[3]["stack_trace"], "cloudlog_test", "errors carry a stack for Error Reporting")
		require.NotContains(t, got[2], "stack_trace")
	})

	t.Run("DropsEntriesBelowTheLevel", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		log := cloudlog.New(&buf, cloudlog.Options{Level: zapcore.WarnLevel})
		log.Info("quiet")
		log.Warn("loud")
		got := entries(t, &buf)
		require.Len(t, got, 1)
		require.Equal(t, "loud", got[0]["message"])
		log = cloudlog.New(&buf, cloudlog.Options{})
		log.Debug("default level is info")
		require.Empty(t, entries(t, &buf))
	})

	t.Run("LeavesOutEmptyLabels", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		cloudlog.New(&buf, cloudlog.Options{}).Info("x")
		require.NotContains(t, entries(t, &buf)[0], "logging.googleapis.com/labels")
		cloudlog.New(&buf, cloudlog.Options{Service: "maestro-api"}).Info("x")
		require.Equal(t, map[string]any{"service": "maestro-api"}, entries(t, &buf)[0]["logging.googleapis.com/labels"])
	})
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]zapcore.Level{
		"": zapcore.InfoLevel, "debug": zapcore.DebugLevel, "INFO": zapcore.InfoLevel, "warn": zapcore.WarnLevel,
		"WARNING": zapcore.WarnLevel, " error ": zapcore.ErrorLevel, "critical": zapcore.DPanicLevel,
	} {
		got, err := cloudlog.ParseLevel(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := cloudlog.ParseLevel("loud")
	require.ErrorContains(t, err, `"loud"`)
}

func TestParseTrace(t *testing.T) {
	t.Parallel()
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for name, tc := range map[string]struct {
		headers map[string]string
		want    cloudlog.Trace
		ok      bool
	}{
		"Traceparent": {
			headers: map[string]string{"traceparent": "00-" + id + "-00f067aa0ba902b7-01"},
			want:    cloudlog.Trace{TraceID: id, SpanID: "00f067aa0ba902b7", Sampled: true}, ok: true,
		},
		"TraceparentNotSampled": {
			headers: map[string]string{"traceparent": "00-" + strings.ToUpper(id) + "-00f067aa0ba902b7-00"},
			want:    cloudlog.Trace{TraceID: id, SpanID: "00f067aa0ba902b7"}, ok: true,
		},
		"CloudTraceContextWithDecimalSpan": {
			headers: map[string]string{"X-Cloud-Trace-Context": id + "/12345678901234567890;o=1"},
			want:    cloudlog.Trace{TraceID: id, SpanID: "ab54a98ceb1f0ad2", Sampled: true}, ok: true,
		},
		"CloudTraceContextTraceOnly": {
			headers: map[string]string{"X-Cloud-Trace-Context": id},
			want:    cloudlog.Trace{TraceID: id}, ok: true,
		},
		"TraceparentWinsOverCloudTraceContext": {
			headers: map[string]string{
				"traceparent":           "00-" + id + "-00f067aa0ba902b7-01",
				"X-Cloud-Trace-Context": "11111111111111111111111111111111/1;o=1",
			},
			want: cloudlog.Trace{TraceID: id, SpanID: "00f067aa0ba902b7", Sampled: true}, ok: true,
		},
		"BadTraceparentFallsBack": {
			headers: map[string]string{
				"traceparent":           "00-" + id + "-0000000000000000-01", // zero span id is invalid
				"X-Cloud-Trace-Context": id + "/7;o=0",
			},
			want: cloudlog.Trace{TraceID: id, SpanID: "0000000000000007"}, ok: true,
		},
		"None":            {headers: map[string]string{}},
		"ZeroTraceID":     {headers: map[string]string{"X-Cloud-Trace-Context": strings.Repeat("0", 32) + "/1"}},
		"ShortTraceID":    {headers: map[string]string{"X-Cloud-Trace-Context": "abc/1"}},
		"NotHex":          {headers: map[string]string{"traceparent": "00-" + strings.Repeat("g", 32) + "-00f067aa0ba902b7-01"}},
		"InvalidVersion":  {headers: map[string]string{"traceparent": "ff-" + id + "-00f067aa0ba902b7-01"}},
		"ExtraPartsInV00": {headers: map[string]string{"traceparent": "00-" + id + "-00f067aa0ba902b7-01-x"}},
	} {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		got, ok := cloudlog.ParseTrace(h)
		require.Equal(t, tc.ok, ok, name)
		require.Equal(t, tc.want, got, name)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	base := cloudlog.New(&buf, cloudlog.Options{Service: "maestro-scheduler"})
	handler := cloudlog.Middleware(base, "demo-project", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cloudlog.FromContext(r.Context(), zap.NewNop()).Info("tick", zap.Int("runs_started", 3))
		w.WriteHeader(http.StatusNoContent)
	}))

	req := httptest.NewRequest(http.MethodPost, "/tick", nil)
	req.Header.Set("X-Cloud-Trace-Context", "4bf92f3577b34da6a3ce929d0e0e4736/1;o=1")
	handler.ServeHTTP(httptest.NewRecorder(), req)
	handler.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/tick", nil))

	got := entries(t, &buf)
	require.Len(t, got, 2)
	traced := got[0]
	require.Equal(t, "projects/demo-project/traces/4bf92f3577b34da6a3ce929d0e0e4736", traced["logging.googleapis.com/trace"])
	require.Equal(t, "0000000000000001", traced["logging.googleapis.com/spanId"])
	require.Equal(t, true, traced["logging.googleapis.com/trace_sampled"])
	require.EqualValues(t, 3, traced["runs_started"])
	require.Equal(t, map[string]any{"service": "maestro-scheduler"}, traced["logging.googleapis.com/labels"])

	untraced := got[1]
	require.NotContains(t, untraced, "logging.googleapis.com/trace")
	require.Equal(t, "tick", untraced["message"])

	fallback := zap.NewNop()
	require.Same(t, fallback, cloudlog.FromContext(req.Context(), fallback), "no logger in a bare context")
}
