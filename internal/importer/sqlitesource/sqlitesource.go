// Package sqlitesource lets the importer read SQLite files. It is its own package so that only
// the binaries that can reach a local file (maestro dev) link the SQLite driver:
//
//	drivers := importer.ServerDrivers()
//	drivers["sqlite"] = sqlitesource.Open
package sqlitesource

import (
	"context"

	_ "modernc.org/sqlite" // the sqlite driver for database/sql

	"github.com/maestro-sql/maestro/internal/extract"
	"github.com/maestro-sql/maestro/internal/importer"
)

// Open opens the SQLite file dsn names (a path, or a file: URI) as an import source.
func Open(ctx context.Context, dsn string) (extract.Source, func(), error) {
	db, err := importer.OpenSQL(ctx, "sqlite", dsn)
	if err != nil {
		return nil, nil, err
	}
	return extract.NewSQLite(db), func() { db.Close() }, nil
}
