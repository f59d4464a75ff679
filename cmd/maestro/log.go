package main

import (
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/maestro-sql/maestro/internal/cloudlog"
)

// newLogger returns a console logger for people, or the services' JSON logger with Cloud
// Logging's field names.
func newLogger(format string, w io.Writer) (*zap.Logger, error) {
	switch format {
	case "console":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), zapcore.AddSync(w), zapcore.InfoLevel)), nil
	case "json":
		return cloudlog.New(w, cloudlog.Options{Service: "maestro-dev"}), nil
	}
	return nil, fmt.Errorf("unknown --log-format %q: use console or json", format)
}
