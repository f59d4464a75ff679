// Package blob stores objects by key: Cloud Storage in production, a local folder embedded.
// Implementations pass blobtest.Run.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
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

// ErrInvalidKey: the key is not a valid object key (see ValidateKey).
var ErrInvalidKey = errors.New("invalid key")

// MaxKeyLen is the longest key in bytes, Cloud Storage's limit.
const MaxKeyLen = 1024

// ValidateKey returns an error wrapping ErrInvalidKey, naming the key and the reason, unless key
// is a relative slash-separated path of non-empty segments other than "." and "..", in UTF-8
// without control characters or backslashes. Backends call it so that every backend accepts the
// same keys and a key can never escape a local folder.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	case strings.HasPrefix(key, "/"):
		return bad("absolute (starts with a slash)")
	case strings.HasSuffix(key, "/"):
		return bad("ends with a slash")
	}
	for _, r := range key {
		if r == '\\' || unicode.IsControl(r) {
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return bad("empty path segment (double slash)")
		case ".", "..":
			return bad(fmt.Sprintf("path segment %q", seg))
		}
	}
	return nil
}

// ContextReader returns a reader of r that fails with ctx's error as soon as ctx is done, so a
// copy stops at once rather than after the next chunk.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
