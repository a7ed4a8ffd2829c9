// Package atomicfile writes files so that readers see either the old or the whole new
// content, never a half-written file: data goes to a temporary file in the same folder,
// is synced, and is renamed over the target.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write writes data to path atomically, creating parent folders; the file gets mode 0644.
// The path "-" writes to standard output instead. An existing target that is not a
// regular file (a folder, a device such as /dev/null, a pipe) is refused: renaming
// over it would replace it.
func Write(path string, data []byte) (err error) {
	if path == "-" {
		_, err := os.Stdout.Write(data)
		return err
	}
	if path == "" {
		return fmt.Errorf("writing: empty output path")
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		what := "not a regular file"
		if st.IsDir() {
			what = "a folder"
		}
		return fmt.Errorf("writing %s: it is %s; give a file path (or - for standard output)", path, what)
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
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
