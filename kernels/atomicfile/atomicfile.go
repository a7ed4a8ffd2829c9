// Package atomicfile writes files so that readers see either the old or the whole new
// content, never a half-written file: data goes to a temporary file in the same folder,
// is synced, and is renamed over the target.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Write writes data to path atomically, creating parent folders; the file gets mode 0644.
// The path "-" writes to standard output instead. An existing target that is not a
// regular file (a folder, a device such as /dev/null, a pipe) is refused: renaming
// over it would replace it.
func Write(path string, data []byte) error {
	if path == "-" {
		_, err := os.Stdout.Write(data)
		return err
	}
	var s Set
	if err := s.Stage(path, data); err != nil {
		return err
	}
	return s.Commit()
}

// Set collects files that belong together (an image and its JSON, a data
// set) so that they appear together or not at all: Stage writes each to a
// temporary file beside its target, Commit renames them all into place, and
// Abort (or a failed Stage) removes every temporary file. Stage may be called
// from several goroutines.
type Set struct {
	mu      sync.Mutex
	pending [][2]string // temporary path, target
}

// Stage writes data to a temporary file beside path.
func (s *Set) Stage(path string, data []byte) error {
	if path == "" || path == "-" {
		return fmt.Errorf("writing: %q is not a file path", path)
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		what := "not a regular file"
		if st.IsDir() {
			what = "a folder"
		}
		return fmt.Errorf("writing %s: it is %s; give a file path (or - for standard output where one file is written)", path, what)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	s.mu.Lock()
	s.pending = append(s.pending, [2]string{tmp, path})
	s.mu.Unlock()
	return nil
}

// Commit renames every staged file into place.
func (s *Set) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.pending {
		if err := os.Rename(p[0], p[1]); err != nil {
			for _, q := range s.pending[i:] {
				os.Remove(q[0])
			}
			s.pending = nil
			return fmt.Errorf("writing %s: %w", p[1], err)
		}
	}
	s.pending = nil
	return nil
}

// Abort removes every staged temporary file.
func (s *Set) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pending {
		os.Remove(p[0])
	}
	s.pending = nil
}
