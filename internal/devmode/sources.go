package devmode

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // seeds SQLite sources

	"github.com/maestro-sql/maestro/internal/spec"
)

// CallbackKeyRef is the secret reference maestro dev answers itself when the variable is unset:
// with a key kept in the state folder, which its own callback receiver (/dev/callbacks) checks.
// Examples sign their callbacks with it and run with nothing to configure.
const CallbackKeyRef = "env:" + CallbackKeyEnv

// CallbackKeyEnv is the variable behind CallbackKeyRef.
const CallbackKeyEnv = "MAESTRO_DEV_CALLBACK_KEY"

// sourceRefPrefix marks the secret references devmode gives connections it points elsewhere
// (--source, or a seeded database in the state folder); only devmode's resolver answers them.
const sourceRefPrefix = "devsource:"

// source is where a connection's rows come from in maestro dev.
type source struct {
	driver, dsn string
}

// DriverOf infers the driver of a data source name given on the command line: a postgres:// or
// postgresql:// URL, a MySQL DSN (user@tcp(host)/db or mysql://), or else a SQLite file path.
func DriverOf(dsn string) string {
	lower := strings.ToLower(dsn)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return "postgres"
	case strings.HasPrefix(lower, "mysql://"), strings.Contains(lower, "@tcp("), strings.Contains(lower, "@unix("):
		return "mysql"
	}
	return "sqlite"
}

// mysqlDSN turns mysql://user:pass@host:port/db into the driver's user:pass@tcp(host:port)/db.
func mysqlDSN(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "mysql://")
	if !ok {
		return dsn
	}
	creds, hostDB, found := strings.Cut(rest, "@")
	if !found {
		creds, hostDB = "", rest
	}
	host, db, _ := strings.Cut(hostDB, "/")
	out := "tcp(" + host + ")/" + db
	if creds != "" {
		out = creds + "@" + out
	}
	return out
}

// prepareSources decides where each connection reads in maestro dev and seeds the databases of
// connections that have a seed script. Overrides (by connection name) win; a seeded connection
// whose secret does not resolve gets a SQLite database in the state folder. Connections left
// alone are absent from the result.
func prepareSources(ctx context.Context, cfg Config, resolve func(context.Context, string) (string, error), log *zap.Logger) (map[string]source, error) {
	out := map[string]source{}
	for name := range cfg.Sources {
		if !connectionExists(cfg.Project, name) {
			return nil, fmt.Errorf("--source names connection %q, which %s does not define", name, "maestro.yaml")
		}
	}
	for _, c := range cfg.Project.Connections {
		var src source
		switch dsn, ok := cfg.Sources[c.Name]; {
		case ok:
			src = source{driver: DriverOf(dsn), dsn: dsn}
			if src.driver == "mysql" {
				src.dsn = mysqlDSN(dsn)
			}
		case c.Seed == "":
			continue
		default:
			if dsn, err := resolve(ctx, c.SecretRef); err == nil {
				src = source{driver: c.Driver, dsn: dsn}
			} else if c.Driver == "sqlite" {
				dir := filepath.Join(cfg.StateDir, "sources")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return nil, fmt.Errorf("error creating %s: %w", dir, err)
				}
				src = source{driver: "sqlite", dsn: filepath.Join(dir, c.Name+".db")}
			} else {
				// The import will say the secret is missing, naming the connection.
				continue
			}
		}
		if c.Seed != "" {
			if cfg.ProjectDir == "" {
				return nil, fmt.Errorf("connection %q has a seed script but the project folder is unknown", c.Name)
			}
			if err := seed(ctx, src, filepath.Join(cfg.ProjectDir, filepath.FromSlash(c.Seed))); err != nil {
				return nil, fmt.Errorf("error seeding connection %q from %s: %w", c.Name, c.Seed, err)
			}
			log.Info("source seeded", zap.String("connection", c.Name), zap.String("driver", src.driver), zap.String("seed", c.Seed))
		}
		out[c.Name] = src
	}
	return out, nil
}

func connectionExists(p *spec.Project, name string) bool {
	for _, c := range p.Connections {
		if c.Name == name {
			return true
		}
	}
	return false
}

// seed runs the script at path in src. Scripts run at every start, so they must be idempotent
// (CREATE TABLE IF NOT EXISTS, INSERT ... ON CONFLICT DO NOTHING).
func seed(ctx context.Context, src source, path string) error {
	script, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	switch src.driver {
	case "postgres":
		conn, err := pgx.Connect(ctx, src.dsn)
		if err != nil {
			return fmt.Errorf("error connecting to postgres: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		// Without arguments pgx sends the simple protocol, which runs every statement.
		_, err = conn.Exec(ctx, string(script))
		return err
	case "sqlite":
		db, err := sql.Open("sqlite", src.dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, string(script))
		return err
	}
	return fmt.Errorf("seed scripts run on sqlite and postgres sources, not %s", src.driver)
}

// connectionsWith returns list with the connections of sources pointed at them.
func connectionsWith(list func(context.Context) ([]spec.Connection, error), sources map[string]source) func(context.Context) ([]spec.Connection, error) {
	return func(ctx context.Context) ([]spec.Connection, error) {
		conns, err := list(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]spec.Connection, len(conns))
		for i, c := range conns {
			if s, ok := sources[c.Name]; ok {
				c.Driver, c.SecretRef = s.driver, sourceRefPrefix+c.Name
			}
			out[i] = c
		}
		return out, nil
	}
}

// resolver answers the references only devmode knows (its sources and its callback key) and
// passes the others to next.
type resolver struct {
	next        func(context.Context, string) (string, error)
	sources     map[string]source
	callbackKey string
}

func (r *resolver) Resolve(ctx context.Context, ref string) (string, error) {
	if name, ok := strings.CutPrefix(ref, sourceRefPrefix); ok {
		if s, ok := r.sources[name]; ok {
			return s.dsn, nil
		}
		return "", fmt.Errorf("no source for connection %q", name)
	}
	v, err := r.next(ctx, ref)
	if err != nil && ref == CallbackKeyRef && r.callbackKey != "" {
		return r.callbackKey, nil
	}
	return v, err
}

// callbackKey returns the state folder's callback key, made on first use.
func callbackKey(stateDir string) (string, error) { return stateKey(stateDir, "callback.key") }

// stateKey returns the random key kept in the state folder's file name, making it (32 random
// bytes, hex, mode 0600) on first use.
func stateKey(stateDir, name string) (string, error) {
	path := filepath.Join(stateDir, name)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("error reading %s: %w", path, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("error writing %s: %w", path, err)
	}
	return key, nil
}
