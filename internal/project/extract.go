//go:build !stubsqlref

package project

import "github.com/maestro-sql/maestro/internal/sqlref"

func extract(sql string, opts sqlref.Options) (*sqlref.Result, error) {
	return sqlref.Extract(sql, opts)
}
