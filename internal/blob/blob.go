// Package blob stores objects by key: Cloud Storage in production, a local folder embedded.
// Implementations pass blobtest.Run.
package blob

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound: no object has the key.
var ErrNotFound = errors.New("not found")

// Bucket is a flat namespace of objects. Keys are slash-separated paths without "..".
// Implementations are safe for concurrent use.
type Bucket interface {
	// Write stores the reader's bytes under key, replacing any object there. The object appears
	// whole or not at all.
	Write(ctx context.Context, key string, r io.Reader) error
	// Read opens an object, or returns ErrNotFound.
	Read(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the keys that start with prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes an object; ErrNotFound if absent.
	Delete(ctx context.Context, key string) error
}
