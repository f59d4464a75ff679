// Package localblob is the embedded blob backend: each object is a plain file under a folder, at
// the path its key names, so that extracts and exports can be opened with ordinary tools.
//
// A write goes to a temporary file in the folder's ".tmp" directory and is renamed into place, so
// readers see the old object or the new one, never a part. All file access goes through an
// os.Root, which refuses paths (including symbolic links) that lead outside the folder.
//
// Unlike Cloud Storage, a key cannot be both an object and a folder of other objects ("a" and
// "a/b"): writing the second one fails.
package localblob

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/maestro-sql/maestro/internal/blob"
)

// tmpDir holds writes in progress. Keys under it are refused.
const tmpDir = ".tmp"

// Bucket is a folder of objects. It is safe for concurrent use.
type Bucket struct {
	dir  string
	root *os.Root
}

var _ blob.Bucket = (*Bucket)(nil)

// Open opens (creating it if needed) the folder dir as a bucket.
func Open(dir string) (*Bucket, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("error creating bucket folder %q: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("error opening bucket folder %q: %w", dir, err)
	}
	if err := root.MkdirAll(tmpDir, 0o755); err != nil {
		_ = root.Close()
		return nil, fmt.Errorf("error creating temporary folder in %q: %w", dir, err)
	}
	return &Bucket{dir: dir, root: root}, nil
}

// Close releases the folder.
func (b *Bucket) Close() error { return b.root.Close() }

// Dir returns the folder the bucket stores its objects in.
func (b *Bucket) Dir() string { return b.dir }

func validate(key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	if key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return fmt.Errorf("%w %q: %q is reserved for writes in progress", blob.ErrInvalidKey, key, tmpDir)
	}
	return nil
}

// Write implements blob.Bucket.
func (b *Bucket) Write(ctx context.Context, key string, r io.Reader) error {
	if err := validate(key); err != nil {
		return fmt.Errorf("error writing object: %w", err)
	}
	if err := b.write(ctx, key, r); err != nil {
		return fmt.Errorf("error writing object %q: %w", key, err)
	}
	return nil
}

func (b *Bucket) write(ctx context.Context, key string, r io.Reader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := path.Join(tmpDir, rand.Text())
	f, err := b.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = b.root.Remove(tmp)
		}
	}()
	_, err = io.Copy(f, blob.ContextReader(ctx, r))
	if err == nil {
		// Without a sync a crash could leave an empty file under the final name.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// A concurrent Delete may remove the parent folder between MkdirAll and Rename when it
	// empties it, so try again a few times.
	for attempt := 0; ; attempt++ {
		if dir := path.Dir(key); dir != "." {
			if err := b.root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		err = b.root.Rename(tmp, key)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			break
		}
	}
	if err != nil {
		return err
	}
	renamed = true
	return nil
}

// Read implements blob.Bucket. The caller closes the returned reader.
func (b *Bucket) Read(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validate(key); err != nil {
		return nil, fmt.Errorf("error reading object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := b.root.Open(key)
	if err != nil {
		return nil, fmt.Errorf("error reading object %q: %w", key, notFound(err))
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("error reading object %q: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("error reading object %q: %w", key, blob.ErrNotFound)
	}
	return f, nil
}

// notFound maps the file system's "no such file" (also "not a directory", when a folder in the
// path is a file) to blob.ErrNotFound.
func notFound(err error) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) || (errors.As(err, &pe) && isNotDir(pe.Err)) {
		return blob.ErrNotFound
	}
	return err
}

// List implements blob.Bucket.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	keys := []string{}
	// Walk only the folder the prefix is in.
	start := "."
	if i := strings.LastIndex(prefix, "/"); i > 0 {
		start = prefix[:i]
		if blob.ValidateKey(start) != nil {
			return keys, nil // no object can have that prefix
		}
	}
	err := fs.WalkDir(b.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if p == tmpDir {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasPrefix(p, prefix) {
			keys = append(keys, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error listing objects with prefix %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// Delete implements blob.Bucket. It also removes folders it leaves empty.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := validate(key); err != nil {
		return fmt.Errorf("error deleting object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := b.root.Lstat(key)
	if err == nil && !st.Mode().IsRegular() {
		err = blob.ErrNotFound
	}
	if err == nil {
		err = b.root.Remove(key)
	}
	if err != nil {
		return fmt.Errorf("error deleting object %q: %w", key, notFound(err))
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if b.root.Remove(dir) != nil {
			break // not empty, which is fine
		}
	}
	return nil
}

func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }
