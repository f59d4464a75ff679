//go:build linux

package project

import (
	"os"
	"path/filepath"
	"syscall"
)

// fileReader reads many small files of one project. os.ReadFile costs about ten system calls a
// file (open, four fcntl and an epoll registration for the poller, fstat, two reads, close); a
// plan reads 10,000 files, so here it is openat relative to the project folder, reads into a
// reused buffer, and close. One fileReader per goroutine.
type fileReader struct {
	dirfd int
	buf   []byte
}

func newFileReader(dir string) (*fileReader, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &fileReader{dirfd: fd, buf: make([]byte, 32<<10)}, nil
}

// read returns the contents of rel, a slash-separated path inside the folder.
func (r *fileReader) read(rel string) (string, error) {
	fd, err := syscall.Openat(r.dirfd, filepath.FromSlash(rel), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Openat(r.dirfd, filepath.FromSlash(rel), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return "", &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer syscall.Close(fd)
	n := 0
	for {
		if n == len(r.buf) {
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		m, err := syscall.Read(fd, r.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "read", Path: rel, Err: err}
		}
		if m == 0 {
			return string(r.buf[:n]), nil
		}
		n += m
	}
}

func (r *fileReader) close() { syscall.Close(r.dirfd) }
