package importer

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"strings"

	_ "github.com/go-sql-driver/mysql" // the mysql driver for database/sql
	"github.com/jackc/pgx/v5"

	"github.com/maestro-sql/maestro/internal/extract"
)

// Opener connects to a source database with its connection string (already resolved from the
// connection's secret). close releases the connection.
type Opener func(ctx context.Context, dsn string) (src extract.Source, close func(), err error)

// ServerDrivers are the openers of the database servers a worker reaches over the network:
// PostgreSQL and MySQL/MariaDB. A SQLite file is only reachable on one machine, so its driver
// (internal/importer/sqlitesource) is added by maestro dev alone and stays out of the
// production worker's binary.
func ServerDrivers() map[string]Opener {
	return map[string]Opener{"postgres": Postgres, "mysql": MySQL}
}

// Postgres opens a PostgreSQL source; dsn is a libpq URL or key=value string.
func Postgres(ctx context.Context, dsn string) (extract.Source, func(), error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	return extract.NewPostgres(conn), func() { _ = conn.Close(context.WithoutCancel(ctx)) }, nil
}

// MySQL opens a MySQL or MariaDB source; dsn is go-sql-driver/mysql's
// user:password@tcp(host:port)/database.
func MySQL(ctx context.Context, dsn string) (extract.Source, func(), error) {
	db, err := OpenSQL(ctx, "mysql", dsn)
	if err != nil {
		return nil, nil, err
	}
	return extract.NewMySQL(db), func() { db.Close() }, nil
}

// OpenSQL opens a database/sql pool of a registered driver and checks that it answers, so
// that an unreachable database fails here, where the failure is retryable, rather than in the
// query.
func OpenSQL(ctx context.Context, driver, dsn string) (*sql.DB, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// supported lists driver names for messages.
func supported(drivers map[string]Opener) string {
	names := slices.Sorted(maps.Keys(drivers))
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
