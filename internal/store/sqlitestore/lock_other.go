//go:build !unix

package sqlitestore

import (
	"fmt"
	"os"
)

// lockFile opens path without locking it: this system has no flock. Nothing stops a second
// process from opening the store there; one process per state folder is the rule.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("error opening its lock file: %w", err)
	}
	return f, nil
}
