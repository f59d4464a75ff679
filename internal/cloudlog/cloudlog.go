// Package cloudlog makes zap loggers whose JSON lines Cloud Logging reads as structured entries
// when a Cloud Run service writes them to stdout: the severity, message, time, source location,
// labels and the request's trace each land in the entry field of the same meaning, so logs can
// be filtered by severity and service and grouped under the request that wrote them.
//
// Field names follow https://cloud.google.com/logging/docs/structured-logging.
package cloudlog

import (
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Keys Cloud Logging moves out of jsonPayload into the LogEntry.
const (
	SeverityKey       = "severity"
	MessageKey        = "message"
	TimeKey           = "time"
	SourceLocationKey = "logging.googleapis.com/sourceLocation"
	LabelsKey         = "logging.googleapis.com/labels"
	TraceKey          = "logging.googleapis.com/trace"
	SpanIDKey         = "logging.googleapis.com/spanId"
	TraceSampledKey   = "logging.googleapis.com/trace_sampled"
	// StackTraceKey is where Error Reporting looks for a stack trace in a JSON entry.
	StackTraceKey = "stack_trace"
)

// Options configure New.
type Options struct {
	// Level is the least severe level written. Defaults to Info.
	Level zapcore.LevelEnabler
	// Service and Revision label every entry under LabelsKey as "service" and "revision"
	// (Cloud Run sets K_SERVICE and K_REVISION). Empty ones are left out.
	Service  string
	Revision string
}

// New returns a logger writing one Cloud Logging JSON entry per line to w (os.Stdout on Cloud
// Run). Entries at Error and above carry a stack trace.
func New(w io.Writer, opts Options) *zap.Logger {
	level := opts.Level
	if level == nil {
		level = zapcore.InfoLevel
	}
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{
		MessageKey:     MessageKey,
		LevelKey:       SeverityKey,
		TimeKey:        TimeKey,
		StacktraceKey:  StackTraceKey,
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    encodeSeverity,
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		EncodeDuration: zapcore.StringDurationEncoder,
		// The caller goes in as an object (see sourceLocationCore), not zap's "file:line" string.
	})
	core := sourceLocationCore{zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)}
	log := zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel))
	labels := map[string]string{}
	if opts.Service != "" {
		labels["service"] = opts.Service
	}
	if opts.Revision != "" {
		labels["revision"] = opts.Revision
	}
	if len(labels) > 0 {
		log = log.With(zap.Object(LabelsKey, stringMap(labels)))
	}
	return log
}

// encodeSeverity writes Cloud Logging's LogSeverity name for a zap level.
func encodeSeverity(l zapcore.Level, enc zapcore.PrimitiveArrayEncoder) {
	switch l {
	case zapcore.DebugLevel:
		enc.AppendString("DEBUG")
	case zapcore.InfoLevel:
		enc.AppendString("INFO")
	case zapcore.WarnLevel:
		enc.AppendString("WARNING")
	case zapcore.ErrorLevel:
		enc.AppendString("ERROR")
	case zapcore.DPanicLevel:
		enc.AppendString("CRITICAL")
	case zapcore.PanicLevel:
		enc.AppendString("ALERT")
	case zapcore.FatalLevel:
		enc.AppendString("EMERGENCY")
	default:
		enc.AppendString("DEFAULT")
	}
}

// ParseLevel reads a level name as MAESTRO_LOG_LEVEL gives it: zap's names (debug, info, warn,
// error) or Cloud Logging's (DEBUG, INFO, WARNING, ERROR, CRITICAL), in any case. "" is Info.
func ParseLevel(s string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return zapcore.InfoLevel, nil
	case "warning":
		return zapcore.WarnLevel, nil
	case "critical":
		return zapcore.DPanicLevel, nil
	}
	l, err := zapcore.ParseLevel(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return 0, fmt.Errorf("error parsing log level %q: want debug, info, warning or error", s)
	}
	return l, nil
}

// sourceLocationCore adds the caller to each entry as the object Cloud Logging expects
// ({"file", "line", "function"}); zap's own caller encoder can only write a string.
type sourceLocationCore struct{ zapcore.Core }

func (c sourceLocationCore) With(fields []zapcore.Field) zapcore.Core {
	return sourceLocationCore{c.Core.With(fields)}
}

func (c sourceLocationCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c sourceLocationCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if ent.Caller.Defined {
		fields = append(fields, zap.Object(SourceLocationKey, sourceLocation(ent.Caller)))
	}
	return c.Core.Write(ent, fields)
}

type sourceLocation zapcore.EntryCaller

func (s sourceLocation) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("file", s.File)
	// Cloud Logging's LogEntrySourceLocation.line is an int64, which proto3 JSON writes as a string.
	enc.AddString("line", fmt.Sprint(s.Line))
	if s.Function != "" {
		enc.AddString("function", s.Function)
	}
	return nil
}

type stringMap map[string]string

func (m stringMap) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for k, v := range m {
		enc.AddString(k, v)
	}
	return nil
}
