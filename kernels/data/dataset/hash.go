package dataset

import (
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// hashFile writes the root-relative path, the size and the content of a file into h.
func hashFile(h hash.Hash, root, path string) error {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		rel = path
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "%s\n%d\n", filepath.ToSlash(rel), st.Size())
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
