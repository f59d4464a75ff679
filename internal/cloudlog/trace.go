package cloudlog

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// Trace is the trace context of a request, as Cloud Run's front end passes it on.
type Trace struct {
	// TraceID is 32 lowercase hex digits.
	TraceID string
	// SpanID is 16 lowercase hex digits, or "" when the header carried none.
	SpanID string
	// Sampled is whether the trace is being recorded.
	Sampled bool
}

// ParseTrace reads the trace context from a W3C traceparent header or, failing that, from
// X-Cloud-Trace-Context ("TRACE_ID/SPAN_ID;o=1", the span id in decimal). ok is false when
// neither header holds a valid trace id.
func ParseTrace(h http.Header) (t Trace, ok bool) {
	if t, ok := parseTraceparent(h.Get("traceparent")); ok {
		return t, true
	}
	return parseCloudTraceContext(h.Get("X-Cloud-Trace-Context"))
}

// parseTraceparent reads "VERSION-TRACEID-SPANID-FLAGS" (https://www.w3.org/TR/trace-context/).
func parseTraceparent(v string) (Trace, bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || !isHex(parts[0]) {
		return Trace{}, false
	}
	// Version 00 has exactly four parts; later versions may append more.
	if parts[0] == "00" && len(parts) != 4 {
		return Trace{}, false
	}
	traceID, spanID, flags := parts[1], parts[2], parts[3]
	if !validID(traceID, 32) || !validID(spanID, 16) || len(flags) != 2 || !isHex(flags) {
		return Trace{}, false
	}
	f, _ := strconv.ParseUint(flags, 16, 8)
	return Trace{TraceID: strings.ToLower(traceID), SpanID: strings.ToLower(spanID), Sampled: f&1 == 1}, true
}

// parseCloudTraceContext reads "TRACE_ID[/SPAN_ID][;o=OPTIONS]".
func parseCloudTraceContext(v string) (Trace, bool) {
	v, options, _ := strings.Cut(strings.TrimSpace(v), ";")
	traceID, span, hasSpan := strings.Cut(v, "/")
	if !validID(traceID, 32) {
		return Trace{}, false
	}
	t := Trace{TraceID: strings.ToLower(traceID), Sampled: strings.TrimSpace(options) == "o=1"}
	if hasSpan {
		if n, err := strconv.ParseUint(span, 10, 64); err == nil && n != 0 {
			t.SpanID = fmt.Sprintf("%016x", n)
		}
	}
	return t, true
}

// validID: n hex digits, not all zero (the W3C "invalid" id).
func validID(s string, n int) bool {
	return len(s) == n && isHex(s) && strings.Trim(s, "0") != ""
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s)%2 == 0
}

// Fields are the log fields that put an entry under this trace in the project's Cloud Trace.
func (t Trace) Fields(project string) []zap.Field {
	fields := []zap.Field{zap.String(TraceKey, "projects/"+project+"/traces/"+t.TraceID)}
	if t.SpanID != "" {
		fields = append(fields, zap.String(SpanIDKey, t.SpanID))
	}
	return append(fields, zap.Bool(TraceSampledKey, t.Sampled))
}

// ForRequest returns log with the trace fields of r for the Google Cloud project, or log itself
// when r carries no trace.
func ForRequest(log *zap.Logger, project string, r *http.Request) *zap.Logger {
	t, ok := ParseTrace(r.Header)
	if !ok {
		return log
	}
	return log.With(t.Fields(project)...)
}

type loggerKey struct{}

// Middleware gives each request's context ForRequest's logger, for handlers to get back with
// FromContext, so every entry a request writes is grouped under its trace.
func Middleware(log *zap.Logger, project string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := WithLogger(r.Context(), ForRequest(log, project, r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// WithLogger returns a context carrying log.
func WithLogger(ctx context.Context, log *zap.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, log)
}

// FromContext returns the logger Middleware or WithLogger put in ctx, or fallback if none.
func FromContext(ctx context.Context, fallback *zap.Logger) *zap.Logger {
	if log, ok := ctx.Value(loggerKey{}).(*zap.Logger); ok {
		return log
	}
	return fallback
}
