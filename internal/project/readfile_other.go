//go:build !linux

package project

import (
	"os"
	"path/filepath"
)

// fileReader reads files of one project folder.
type fileReader struct{ dir string }

func newFileReader(dir string) (*fileReader, error) { return &fileReader{dir: dir}, nil }

// read returns the contents of rel, a slash-separated path inside the folder.
func (r *fileReader) read(rel string) (string, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(rel)))
	return string(b), err
}

func (r *fileReader) close() {}
